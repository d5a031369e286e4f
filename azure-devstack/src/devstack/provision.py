"""What Bicep creates in Azure, created here before the app starts: blob containers with the data account's
key (random per start, never leaving the stack process), Cosmos DB databases and containers in the data
engine itself, as the resource provider does behind Azure Resource Manager.

The app never creates containers or databases (with Entra auth, Cosmos DB refuses control-plane calls on
the data plane, and the local front end does the same), so the stack has to, like infra does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import aiohttp
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob.aio import BlobServiceClient
from infra_model.resources import CosmosContainer


async def blob_containers(endpoint: str, *, account: str, key: str, names: Iterable[str], ca: Path) -> None:
    credential = {"account_name": account, "account_key": key}
    async with BlobServiceClient(endpoint, credential=credential, connection_verify=str(ca)) as service:
        for name in names:
            with contextlib.suppress(ResourceExistsError):
                await service.create_container(name)


async def cosmos_container(engine: str, *, container: CosmosContainer) -> None:
    """The database and the container, in the engine at `engine` (http://127.0.0.1:<port>), which checks no
    credentials: the REST "Create a database" and "Create a collection" bodies; 409 means it exists."""
    (path,) = container.partition_key_paths  # the app's containers use one partition key path
    key = {"paths": [path], "kind": "Hash", "version": 2}
    definition: dict[str, object] = {"id": container.name, "partitionKey": key}
    if container.default_ttl_seconds is not None:
        definition["defaultTtl"] = container.default_ttl_seconds
    async with aiohttp.ClientSession(base_url=engine, trust_env=False) as http:
        for url, body in (("/dbs", {"id": container.database}), (f"/dbs/{container.database}/colls", definition)):
            async with http.post(url, json=body) as answer:
                if answer.status not in (201, 409):
                    raise RuntimeError(f"the Cosmos engine refused {url}: {answer.status} {await answer.text()}")
