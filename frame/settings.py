"""Configuration from app settings: the parsing helpers, and the frame's own settings.

A settings object is a frozen dataclass of `AppSettings` whose fields each name their app setting
(`setting(...)`), so the error for a missing or malformed value names it too, and the infra tests can
compare the Bicep app settings against the code instead of a copied list. The frame reads the
endpoints, the identity and the deadline here; a feature declares its own object the same way
(webhooks/settings.py).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
# The values azure-identity accepts for AZURE_TOKEN_CREDENTIALS: a credential family or one credential.
TOKEN_CREDENTIAL_CHOICES = frozenset(
    {
        "prod",
        "dev",
        "ManagedIdentityCredential",
        "WorkloadIdentityCredential",
        "EnvironmentCredential",
        "AzureCliCredential",
        "AzureDeveloperCliCredential",
        "AzurePowerShellCredential",
        "VisualStudioCodeCredential",
    }
)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and never echoes a secret."""


# --- parsing: (setting name, raw text) -> value, or SettingsError naming the setting ----------------


def https_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(f"{name} must be an https:// URL, got {raw!r}")
    return raw.rstrip("/")


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {value}")
    return value


def positive_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < math.inf:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def log_level(name: str, raw: str) -> int:
    level = logging.getLevelNamesMapping().get(raw.upper())
    if level is None:
        raise SettingsError(f"{name} must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {raw!r}")
    return level


def name_list(pattern: re.Pattern[str]) -> Callable[[str, str], tuple[str, ...]]:
    """Comma-separated names, each matching `pattern`, duplicates dropped, at least one."""

    def parse(name: str, raw: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
        if not names:
            raise SettingsError(f"{name} must list at least one name")
        for value in names:
            if not pattern.fullmatch(value):
                raise SettingsError(f"{name}: {value!r} is not a valid name (pattern {pattern.pattern})")
        return names

    return parse


def container_name(name: str, raw: str) -> str:
    if not CONTAINER_NAME.fullmatch(raw):
        raise SettingsError(f"{name}: {raw!r} is not a valid blob container name")
    return raw


def non_empty(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingsError(f"{name} must not be empty")
    return raw.strip()


def token_credentials(name: str, raw: str) -> str:
    if raw not in TOKEN_CREDENTIAL_CHOICES:
        raise SettingsError(f"{name} must be one of {sorted(TOKEN_CREDENTIAL_CHOICES)}, got {raw!r}")
    return raw


def setting(env: str, parse: Callable[[str, str], Any], default: str | None = None) -> Any:
    """A field read from the app setting `env`; without a default, every deployment must set it."""
    return dataclasses.field(metadata={"env": env, "parse": parse, "default": default})


class AppSettings:
    """The base of a frozen settings dataclass whose fields are `setting(...)`s."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]  # every subclass is a dataclass
            name, parse, default = field.metadata["env"], field.metadata["parse"], field.metadata["default"]
            raw = env.get(name, "").strip()
            if raw:
                values[field.name] = parse(name, raw)
            elif default is None:
                raise SettingsError(f"the app setting {name} is required but not set")
            else:
                values[field.name] = parse(name, default) if default else None
        return cls(**values)

    @classmethod
    def required_names(cls) -> frozenset[str]:
        """App settings that have no default: every deployment must provide them."""
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        return frozenset(f.metadata["env"] for f in fields if f.metadata["default"] is None)

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.metadata["env"] for f in dataclasses.fields(cls))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings(AppSettings):
    """The frame's settings: where the three services are, which identity, and the request deadline."""

    key_vault_endpoint: str = setting("AZURE_KEY_VAULT_ENDPOINT", https_url)
    blob_endpoint: str = setting("AZURE_STORAGE_BLOB_ENDPOINT", https_url)
    cosmos_endpoint: str = setting("AZURE_COSMOS_ENDPOINT", https_url)
    # Read by azure-identity itself; required here so a deployment without it fails on the first
    # request with a clear message instead of silently probing a chain of credentials.
    token_credentials: str = setting("AZURE_TOKEN_CREDENTIALS", token_credentials)
    # Absent means the system-assigned identity.
    client_id: str | None = setting("AZURE_CLIENT_ID", non_empty, default="")
    # Every HTTP function answers within this, whatever hangs: GitHub gives up on a webhook after 10 s.
    request_deadline_seconds: float = setting("REQUEST_DEADLINE_SECONDS", positive_seconds, default="8")
    # The Azure SDKs log every request and response at INFO (about 4 KB per delivery, all of it billed
    # by Application Insights); AZURE_LOG_LEVEL=INFO turns that back on while investigating.
    sdk_log_level: int = setting("AZURE_LOG_LEVEL", log_level, default="WARNING")


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, validated on first use (not at import, so indexing never fails on them)."""
    return Settings.from_environment()
