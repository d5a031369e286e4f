"""The data actions the app's code performs, and on what: what its identity must be granted.

This is a fact about the code, so it lives with the code: a change that makes the app upsert instead
of create, or read a second container, changes this list. infra/ decides which roles grant these
actions; the infra checks prove it grants every one of them and, for the custom Cosmos DB role,
nothing more. Action names are Azure's ("Azure permissions" reference pages for
Microsoft.KeyVault, Microsoft.Storage and Microsoft.DocumentDB).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_SECRETS = "Microsoft.KeyVault/vaults/secrets"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"


class Target(StrEnum):
    """What a need applies to, named by the settings that locate it."""

    VAULT = "vault"  # AZURE_KEY_VAULT_ENDPOINT (each webhook-<source> secret in it)
    EVENTS_CONTAINER = "events-container"  # EVENTS_CONTAINER in AZURE_STORAGE_BLOB_ENDPOINT
    DIGESTS_CONTAINER = "digests-container"  # DIGESTS_CONTAINER in AZURE_STORAGE_BLOB_ENDPOINT
    INDEX_CONTAINER = "index-container"  # COSMOS_CONTAINER in COSMOS_DATABASE of AZURE_COSMOS_ENDPOINT


@dataclass(frozen=True)
class Need:
    dependency: str  # the name diagnostics and 503 problems use: keyvault, blob, cosmos
    target: Target
    action: str
    why: str


LIST_SECRET_VERSIONS = Need(
    "keyvault", Target.VAULT, f"{_SECRETS}/readMetadata/action", "list a signing secret's versions"
)
READ_SECRET = Need("keyvault", Target.VAULT, f"{_SECRETS}/getSecret/action", "read a signing secret's value")
ARCHIVE_PAYLOAD = Need("blob", Target.EVENTS_CONTAINER, f"{_BLOBS}/write", "archive a payload (create-only)")
READ_PAYLOAD = Need("blob", Target.EVENTS_CONTAINER, f"{_BLOBS}/read", "read an archived payload back")
WRITE_DIGEST = Need("blob", Target.DIGESTS_CONTAINER, f"{_BLOBS}/write", "write a daily digest")
READ_DIGEST = Need("blob", Target.DIGESTS_CONTAINER, f"{_BLOBS}/read", "see whether a digest exists")
READ_INDEX_METADATA = Need("cosmos", Target.INDEX_CONTAINER, f"{_COSMOS}/readMetadata", "resolve the index container")
INDEX_EVENT = Need(
    "cosmos", Target.INDEX_CONTAINER, f"{_COSMOS}/sqlDatabases/containers/items/create", "index an event"
)
READ_EVENT = Need("cosmos", Target.INDEX_CONTAINER, f"{_COSMOS}/sqlDatabases/containers/items/read", "read an event")
QUERY_EVENTS = Need("cosmos", Target.INDEX_CONTAINER, f"{_COSMOS}/sqlDatabases/containers/executeQuery", "list events")

NEEDS: tuple[Need, ...] = (
    LIST_SECRET_VERSIONS,
    READ_SECRET,
    ARCHIVE_PAYLOAD,
    READ_PAYLOAD,
    WRITE_DIGEST,
    READ_DIGEST,
    READ_INDEX_METADATA,
    INDEX_EVENT,
    READ_EVENT,
    QUERY_EVENTS,
)
