"""What Bicep creates in Azure, created here with the services' own keys before the app starts.

The app never creates containers or databases (with Entra auth, Cosmos refuses control-plane calls on
the data plane, and the local Cosmos server does the same), so the stack has to, like infra does.
The keys are random per start and never leave the stack process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from azure.storage.blob.aio import BlobServiceClient
from infra_model.resources import CosmosContainer


async def blob_containers(endpoint: str, *, account: str, key: str, names: Iterable[str], ca: Path) -> None:
    credential = {"account_name": account, "account_key": key}
    async with BlobServiceClient(endpoint, credential=credential, connection_verify=str(ca)) as service:
        for name in names:
            with contextlib.suppress(ResourceExistsError):
                await service.create_container(name)


async def cosmos_container(endpoint: str, *, key: str, container: CosmosContainer, ca: Path) -> None:
    (path,) = container.partition_key_paths  # the app's containers use one partition key path
    async with CosmosClient(endpoint, credential=key, connection_verify=str(ca)) as client:
        db = await client.create_database_if_not_exists(container.database)
        await db.create_container_if_not_exists(
            container.name, partition_key=PartitionKey(path=path), default_ttl=container.default_ttl_seconds
        )
