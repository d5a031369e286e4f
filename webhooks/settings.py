"""The webhook feature's settings: which sources it accepts, where it archives and indexes them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from frame.settings import (
    AppSettings,
    SettingsError,
    container_name,
    name_list,
    non_empty,
    positive_int,
    setting,
)

SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# azure-storage-blob uploads a body of up to `max_single_put_size` (64 MiB unless a client says
# otherwise) in one Put Blob, which the archive's create-only role may send; a larger one goes as Put
# Block + Put Block List, which need blobs/write, and would be refused. main.bicep's maxPayloadBytes
# stops at the same number.
MAX_SINGLE_PUT_BYTES = 64 * 1024 * 1024


def payload_limit(name: str, raw: str) -> int:
    value = positive_int(name, raw)
    if value > MAX_SINGLE_PUT_BYTES:
        raise SettingsError(
            f"{name} must be at most {MAX_SINGLE_PUT_BYTES} (one Put Blob, which the archive's create-only role "
            f"allows), got {value}"
        )
    return value


@dataclass(frozen=True)
class WebhookSettings(AppSettings):
    sources: tuple[str, ...] = setting("WEBHOOK_SOURCES", name_list(SOURCE_NAME))
    cosmos_database: str = setting("COSMOS_DATABASE", non_empty)
    cosmos_container: str = setting("COSMOS_CONTAINER", non_empty)
    events_container: str = setting("EVENTS_CONTAINER", container_name, default="events")
    digests_container: str = setting("DIGESTS_CONTAINER", container_name, default="digests")
    max_payload_bytes: int = setting("MAX_PAYLOAD_BYTES", payload_limit, default=str(1024 * 1024))
    secret_cache_seconds: int = setting("SECRET_CACHE_SECONDS", positive_int, default="300")


@functools.cache
def get_webhook_settings() -> WebhookSettings:
    """Validated on first use, like the frame's (frame/settings.py)."""
    return WebhookSettings.from_environment()
