"""The floor: the backend calls one ingest (and one list) makes, with nothing else around them.

Per delivery: the blob upload, create-only, with the same content type and metadata the app writes,
then Cosmos `create_item` of the same record. Per list: the app's query, first page of 50. No
signature check, no secret, no validation, no logging: the best the backends allow, to hold the app
against. Everything is warm and shared, the way the SDK guidance asks: one credential (tokens cached
by each client's policy), one client per service, one aiohttp session with `trust_env` off (so no
per-request proxy or .netrc lookups) and the proxy given explicitly.

The record shape comes from the app's own store module, so the floor writes what the app writes.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos.aio import CosmosClient
from azure.identity.aio import ManagedIdentityCredential
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient

from bench.deliveries import BODY, CONTENT_TYPE, EVENT_TYPE, LIST_LIMIT, SOURCE
from webhooks.store import EventRecord, blob_name, utc_timestamp

LIST_QUERY = "SELECT * FROM c WHERE c.source = @source ORDER BY c.receivedAt DESC"


class Floor:
    def __init__(self, settings: Mapping[str, str]) -> None:
        """Build inside the event loop that will use it (aiohttp sessions belong to one loop)."""
        self._session = aiohttp.ClientSession(
            trust_env=False, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        )
        options: dict[str, Any] = {"proxies": {"https": settings["HTTPS_PROXY"]}}
        self._credential = ManagedIdentityCredential(client_id=settings["AZURE_CLIENT_ID"])
        self._blob_service = BlobServiceClient(
            settings["AZURE_STORAGE_BLOB_ENDPOINT"], self._credential, transport=self._transport(), **options
        )
        self._blobs = self._blob_service.get_container_client(settings["EVENTS_CONTAINER"])
        self._cosmos = CosmosClient(
            settings["AZURE_COSMOS_ENDPOINT"], self._credential, transport=self._transport(), **options
        )
        database = self._cosmos.get_database_client(settings["COSMOS_DATABASE"])
        self._index = database.get_container_client(settings["COSMOS_CONTAINER"])
        self._sha256 = hashlib.sha256(BODY).hexdigest()

    def _transport(self) -> AioHttpTransport:
        # session_owner=False: the clients share the session, and closing one must not close it.
        return AioHttpTransport(session=self._session, session_owner=False)

    async def ingest(self, event_id: str) -> None:
        received_at = utc_timestamp(datetime.datetime.now(datetime.UTC))
        name = blob_name(SOURCE, event_id)
        await self._blobs.upload_blob(
            name,
            BODY,
            overwrite=False,
            content_settings=ContentSettings(content_type=CONTENT_TYPE),
            metadata={"sha256": self._sha256, "receivedat": received_at},
        )
        record = EventRecord(
            id=event_id,
            source=SOURCE,
            type=EVENT_TYPE,
            receivedAt=received_at,
            size=len(BODY),
            sha256=self._sha256,
            contentType=CONTENT_TYPE,
            blob=name,
        )
        await self._index.create_item(record.to_json())

    async def list_events(self) -> None:
        pages = self._index.query_items(
            LIST_QUERY,
            parameters=[{"name": "@source", "value": SOURCE}],
            partition_key=SOURCE,
            max_item_count=LIST_LIMIT,
        ).by_page()
        async for page in pages:
            async for _ in page:
                pass
            return

    async def close(self) -> None:
        await self._blob_service.close()
        await self._cosmos.close()
        await self._credential.close()
        await self._session.close()
