"""ANTI-PATTERN. DO NOT COPY. This is how the ingest looks when written the way tutorials teach.

It is here only so the benchmark can show what that costs. Every call makes a new
`DefaultAzureCredential`, a new `SecretClient` (and fetches the secret again), a new
`BlobServiceClient` and a new `CosmosClient`. Each new credential asks the token endpoint for a fresh
token per audience, each new client opens its own TLS connections (through the proxy, here), and
each `CosmosClient` reads the account's metadata before its first operation. (The Key Vault SDK
caches the vault's authentication challenge per process, so that one round trip is not repeated.)
All of it is synchronous, as in the tutorials, so a worker serving this blocks a thread per request.

The right way is in frame/ and webhooks/: one credential per process (frame/identity.py),
process-wide clients (frame/clients.py), and a secret cache (webhooks/secret_cache.py).

Settings come from the environment, as in the tutorials; the local stack's routing (proxy, CA,
identity endpoint) comes from the same environment, so this code would run unchanged in Azure, just
as slowly.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os

from azure.cosmos import CosmosClient
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import BlobServiceClient, ContentSettings


def ingest(source: str, event_id: str, *, event_type: str, body: bytes, content_type: str, signature: str) -> None:
    """Verify one delivery and store it, paying for every client from scratch (ANTI-PATTERN)."""
    credential = DefaultAzureCredential()
    with SecretClient(os.environ["AZURE_KEY_VAULT_ENDPOINT"], credential) as vault:
        secret = vault.get_secret(f"webhook-{source}").value or ""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise PermissionError("bad signature")

    received_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    digest = hashlib.sha256(body).hexdigest()
    blob = f"{source}/{event_id}"
    with BlobServiceClient(os.environ["AZURE_STORAGE_BLOB_ENDPOINT"], credential) as blobs:
        blobs.get_blob_client(os.environ["EVENTS_CONTAINER"], blob).upload_blob(
            body,
            overwrite=False,
            content_settings=ContentSettings(content_type=content_type),
            metadata={"sha256": digest, "receivedat": received_at},
        )
    with CosmosClient(os.environ["AZURE_COSMOS_ENDPOINT"], credential) as cosmos:
        container = cosmos.get_database_client(os.environ["COSMOS_DATABASE"]).get_container_client(
            os.environ["COSMOS_CONTAINER"]
        )
        container.create_item(
            {
                "id": event_id,
                "source": source,
                "type": event_type,
                "receivedAt": received_at,
                "size": len(body),
                "sha256": digest,
                "contentType": content_type,
                "blob": blob,
            }
        )
    credential.close()
