"""A grants file of the tests' own, so refusal lines and hints are pinned word for word."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frame import access
from frame.settings import Settings

SECRETS_USER = ("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6")
CONTRIBUTOR = ("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
SECRETS = "Microsoft.KeyVault/vaults/secrets"
BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
COSMOS_ROLE = "Inbox app: index and query events"
READER_FIX = "assign 'Storage Blob Data Reader' to the app's identity at the container in infra/modules/access.bicep"


def granted(action: str, why: str, role: str, role_id: str | None, level: str) -> dict[str, Any]:
    return {"action": action, "why": why, "role": role, "roleId": role_id, "scopeLevel": level, "fix": None}


def ungranted(action: str, why: str, fix: str) -> dict[str, Any]:
    return {"action": action, "why": why, "role": None, "roleId": None, "scopeLevel": None, "fix": fix}


GRANTS: dict[str, Any] = {
    "about": "written by tests/unit/conftest.py",
    "resources": [
        {
            "name": "signing-secrets",
            "service": "keyvault",
            "actions": [
                granted(f"{SECRETS}/readMetadata/action", "list versions", *SECRETS_USER, "vault"),
                granted(f"{SECRETS}/getSecret/action", "read a secret", *SECRETS_USER, "vault"),
            ],
        },
        {
            "name": "archive",
            "service": "blob",
            "actions": [
                granted(f"{BLOBS}/write", "archive a payload", *CONTRIBUTOR, "container"),
                granted(f"{BLOBS}/read", "read a payload", *CONTRIBUTOR, "container"),
            ],
        },
        {
            "name": "exports",
            "service": "blob",
            "actions": [ungranted(f"{BLOBS}/read", "read an export", READER_FIX)],
        },
        {
            "name": "index",
            "service": "cosmos",
            "actions": [
                granted(f"{COSMOS}/readMetadata", "resolve the container", COSMOS_ROLE, None, "container"),
                granted(f"{COSMOS}/sqlDatabases/containers/executeQuery", "list", COSMOS_ROLE, None, "container"),
                ungranted(f"{COSMOS}/sqlDatabases/containers/items/delete", "forget an event", "extend the role"),
            ],
        },
    ],
    "operations": {
        "BlobClient.upload_blob": [f"{BLOBS}/write"],
        "BlobClient.download_blob": [f"{BLOBS}/read"],
    },
}

SETTINGS = Settings.from_environment(
    {
        "AZURE_KEY_VAULT_ENDPOINT": "https://kv-inbox.vault.azure.net/",
        "AZURE_STORAGE_BLOB_ENDPOINT": "https://stdatainbox.blob.core.windows.net/",
        "AZURE_COSMOS_ENDPOINT": "https://cosmos-inbox.documents.azure.com:443/",
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }
)


def use_grants_document(document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "grants.json"
    path.write_text(json.dumps(document))
    monkeypatch.setattr(access, "_grants_file", path)
    access.grants.cache_clear()
    return path


@pytest.fixture
def grants_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield use_grants_document(GRANTS, tmp_path, monkeypatch)
    access.grants.cache_clear()  # the next reader reads the path monkeypatch restores
