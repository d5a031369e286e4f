"""The webhook feature's diagnostics: a probe per declared data action (webhooks/access.toml), and `secrets`.

Each probe performs its action with the same clients as real requests. A probe on a signing secret
lists each source's versions and reads the newest usable one: a secret not set yet is an empty list
(or a 404), which Key Vault answers only to a caller it authorised, so the role works whether or not
the secret exists, and `secrets` says which it is, per source, with the `az keyvault secret set`
command when it is not usable: right after `azd up` none exist, and deliveries are answered 503
`source-not-configured` until they do.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets.aio import SecretClient

from frame.access import Location
from frame.clients import get_clients
from frame.diagnostics import Checkup, Probe
from frame.settings import Settings, get_settings
from webhooks import store
from webhooks.secret_cache import created, usable
from webhooks.settings import WebhookSettings, get_webhook_settings
from webhooks.signing import secret_name
from webhooks.store import Containers

# The declared resources (webhooks/access.toml) and the data actions the probes perform on them.
SIGNING_SECRETS, ARCHIVE, DIGESTS, INDEX = "signing-secrets", "archive", "digests", "index"
_SECRETS = "Microsoft.KeyVault/vaults/secrets"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"
LIST_SECRET_VERSIONS = f"{_SECRETS}/readMetadata/action"
READ_SECRET = f"{_SECRETS}/getSecret/action"
WRITE_BLOB = f"{_BLOBS}/write"
CREATE_BLOB = f"{_BLOBS}/add/action"
READ_BLOB = f"{_BLOBS}/read"
READ_METADATA = f"{_COSMOS}/readMetadata"
CREATE_ITEM = f"{_COSMOS}/sqlDatabases/containers/items/create"
READ_ITEM = f"{_COSMOS}/sqlDatabases/containers/items/read"
QUERY_ITEMS = f"{_COSMOS}/sqlDatabases/containers/executeQuery"


def checkup() -> Checkup:
    """What diagnostics runs for this feature (registered in function_app.py)."""
    return build_checkup(get_settings(), get_webhook_settings(), get_clients().secrets, store.get_containers())


@dataclass(frozen=True)
class SecretState:
    versions: int
    usable: str | None  # the newest version Key Vault will serve, if any


def build_checkup(
    frame_settings: Settings, settings: WebhookSettings, secrets: SecretClient, containers: Containers
) -> Checkup:
    found: dict[str, SecretState] = {}

    async def list_versions() -> None:
        for source in settings.sources:
            listed = []
            with contextlib.suppress(ResourceNotFoundError):
                listed = [p async for p in secrets.list_properties_of_secret_versions(secret_name(source))]
            served = sorted((p for p in listed if usable(p)), key=created, reverse=True)
            found[source] = SecretState(len(listed), served[0].version if served else None)

    async def read_secrets() -> None:
        for source in settings.sources:
            state = found.get(source)
            if state is not None and state.usable is not None:
                await secrets.get_secret(secret_name(source), state.usable)
            elif state is None or state.versions == 0:
                with contextlib.suppress(ResourceNotFoundError):  # authorised, and nothing there yet
                    await secrets.get_secret(secret_name(source))
            # Versions that are all disabled or expired: nothing to read, and no role question to ask.

    probes: dict[tuple[str, str], Probe] = {
        (SIGNING_SECRETS, LIST_SECRET_VERSIONS): list_versions,
        (SIGNING_SECRETS, READ_SECRET): read_secrets,
        (ARCHIVE, CREATE_BLOB): _bind(store.probe_create_blob, containers.events),
        (ARCHIVE, READ_BLOB): _bind(store.probe_read_blob, containers.events),
        (DIGESTS, WRITE_BLOB): _bind(store.probe_write_blob, containers.digests),
        (DIGESTS, READ_BLOB): _bind(store.probe_read_blob, containers.digests),
        (INDEX, READ_METADATA): _bind(store.probe_read_index_metadata, containers.index),
        (INDEX, CREATE_ITEM): _bind(store.probe_create_item, containers.index),
        (INDEX, READ_ITEM): _bind(store.probe_read_item, containers.index),
        (INDEX, QUERY_ITEMS): _bind(store.probe_query, containers.index),
    }
    locations = {
        SIGNING_SECRETS: Location(secret=secret_name(settings.sources[0])),
        ARCHIVE: Location(container=settings.events_container),
        DIGESTS: Location(container=settings.digests_container),
        INDEX: Location(database=settings.cosmos_database, container=settings.cosmos_container),
    }
    return Checkup(
        probes=probes,
        locations=locations,
        report=lambda: {"secrets": secrets_report(frame_settings, settings, found)},
    )


def secrets_report(
    frame_settings: Settings, settings: WebhookSettings, found: dict[str, SecretState]
) -> list[dict[str, Any]]:
    """Per source: whether its signing secret can be used, and if not, the command that sets it."""
    report = []
    for source in settings.sources:
        state = found.get(source)
        if state is None:  # Key Vault refused or failed before this source was listed
            report.append({"source": source, "secret": secret_name(source), "state": "unknown", "hint": None})
            continue
        ready = state.usable is not None
        hint = None if ready else secret_hint(source, frame_settings, has_versions=state.versions > 0)
        status = "ready" if ready else ("no-usable-version" if state.versions else "missing")
        report.append({"source": source, "secret": secret_name(source), "state": status, "hint": hint})
    return report


def secret_hint(source: str, settings: Settings, *, has_versions: bool) -> str:
    """How to give a source its signing secret: the state right after `azd up`, or every version retired."""
    why = (
        "every version of its signing secret is disabled or expired" if has_versions else "it has no signing secret yet"
    )
    vault = (urlsplit(settings.key_vault_endpoint).hostname or "").split(".")[0]
    return (
        f"Deliveries from {source} are answered 503 source-not-configured: {why}. "
        f"Set it to the secret the sender signs with: az keyvault secret set --vault-name "
        f"{vault} --name {secret_name(source)} --value <secret>"
    )


def _bind(probe: Callable[[Any], Awaitable[None]], argument: Any) -> Probe:
    return functools.partial(probe, argument)
