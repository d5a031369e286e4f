"""The archive and the digests (Blob) and the index (Cosmos DB): the only code that knows their shapes.

A delivery is written blob first, index record second, both create-only, with nothing read first: a
new delivery costs exactly its two writes, and the service's "already exists" answers do the dedup.
- the index never points at a missing blob;
- a failure (or the request deadline) between the two leaves an orphan blob that the sender's retry
  adopts (same id, same SHA-256), so retries converge to exactly one blob and one record;
- a redelivery, or concurrent identical deliveries, meet "already exists" on both writes and answer
  with the stored record; nothing is written twice;
- the same id with a different body is a conflict, never an overwrite.
Blobs outlive their index records (the lifecycle rule deletes after more than retentionDays, the TTL
at exactly retentionDays), so an id whose record has expired is simply stored again.

The daily digests are one JSON blob per UTC day in their own container (`DigestArchive`), and
diagnostics performs each data action on a blob and an item that no source can name (`probe_*`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

from azure.core.async_paging import AsyncPageIterator
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobClient, ContainerClient

from frame.clients import get_clients
from frame.dependencies import BLOB, COSMOS, calling
from frame.problems import DELIVERY_CONFLICT, Problem, bad_request, not_found
from webhooks.settings import get_webhook_settings


def utc_timestamp(moment: datetime.datetime) -> str:
    """One fixed-width ISO-8601 UTC format, so string order is time order in Cosmos queries.

    Not strftime: on Linux its `%Y` writes the year 999 as "999", which sorts after "2026".
    """
    utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Delivery:
    source: str
    event_id: str
    event_type: str
    body: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class EventRecord:
    id: str
    source: str
    type: str
    receivedAt: str
    size: int
    sha256: str
    contentType: str
    blob: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> EventRecord:
        return cls(**{name: item[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Saved:
    record: EventRecord
    created: bool


@dataclass(frozen=True)
class EventFilter:
    source: str
    event_type: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Page:
    records: list[EventRecord]
    continuation: str | None


# Storage's answer to a Put Blob of an existing blob by a caller that may create blobs but not write
# them (the app's role on the archive): 403 with this code, "This request is not authorized to perform
# blob overwrites." (as reported in Azure/azure-cli#19203 and MicrosoftDocs/azure-docs#50936).
OVERWRITE_REFUSED = "UnauthorizedBlobOverwrite"


def conflict(event_id: str) -> Problem:
    return DELIVERY_CONFLICT(f"id {event_id}")


class EventStore:
    def __init__(self, blobs: ContainerClient, index: ContainerProxy) -> None:
        self._blobs = blobs
        self._index = index

    async def save(self, delivery: Delivery) -> Saved:
        received_at = await self._archive(delivery, utc_timestamp(datetime.datetime.now(datetime.UTC)))
        record = EventRecord(
            id=delivery.event_id,
            source=delivery.source,
            type=delivery.event_type,
            receivedAt=received_at,
            size=len(delivery.body),
            sha256=delivery.sha256,
            contentType=delivery.content_type,
            blob=blob_name(delivery.source, delivery.event_id),
        )
        with calling(COSMOS):
            try:
                await self._index.create_item(record.to_json())
            except ResourceExistsError:
                # A redelivery, or a concurrent twin that won the race: answer with what is stored.
                stored = await self._find(delivery.source, delivery.event_id)
                if stored is None:  # created and gone again (TTL); the retry will settle it
                    raise
                return Saved(_same_payload(stored, delivery), created=False)
        return Saved(record, created=True)

    async def get(self, source: str, event_id: str) -> EventRecord:
        record = await self._find(source, event_id)
        if record is None:
            raise not_found(f"no event {event_id!r} for source {source!r}")
        return record

    async def payload(self, record: EventRecord) -> bytes:
        with calling(BLOB):
            try:
                download = await self._blobs.get_blob_client(record.blob).download_blob()
            except ResourceNotFoundError:
                raise not_found(f"the payload of event {record.id!r} is no longer archived") from None
            return await download.readall()

    async def query(self, where: EventFilter, *, limit: int, continuation: str | None) -> Page:
        sql, parameters = _query_for(where, "SELECT * FROM c")
        sql += " ORDER BY c.receivedAt DESC"
        with calling(COSMOS):
            pages = cast(
                "AsyncPageIterator[dict[str, Any]]",
                self._index.query_items(
                    sql, parameters=parameters, partition_key=where.source, max_item_count=limit
                ).by_page(continuation),
            )
            try:
                async for page in pages:
                    records = [EventRecord.from_item(item) async for item in page]
                    return Page(records, pages.continuation_token)
            except CosmosHttpResponseError as error:
                if error.status_code == 400:
                    raise bad_request("the continuation token is not valid for this query") from None
                raise
        return Page([], None)

    async def count_types(self, where: EventFilter) -> Counter[str]:
        sql, parameters = _query_for(where, "SELECT VALUE c.type FROM c")
        counts: Counter[str] = Counter()
        with calling(COSMOS):
            async for event_type in self._index.query_items(sql, parameters=parameters, partition_key=where.source):
                counts[str(event_type)] += 1
        return counts

    async def _find(self, source: str, event_id: str) -> EventRecord | None:
        with calling(COSMOS):
            try:
                item = await self._index.read_item(event_id, partition_key=source)
            except ResourceNotFoundError:
                return None
        return EventRecord.from_item(item)

    async def _archive(self, delivery: Delivery, received_at: str) -> str:
        """Store the raw bytes create-only; returns when they were first received."""
        blob = self._blobs.get_blob_client(blob_name(delivery.source, delivery.event_id))
        with calling(BLOB):
            try:
                await blob.upload_blob(
                    delivery.body,
                    overwrite=False,
                    content_settings=ContentSettings(content_type=delivery.content_type),
                    metadata={"sha256": delivery.sha256, "receivedat": received_at},
                )
            except ResourceExistsError:
                # An earlier attempt archived it but did not index it, or a concurrent twin did.
                return await self._adopt(blob, delivery, received_at)
            except HttpResponseError as error:
                if getattr(error, "error_code", None) != OVERWRITE_REFUSED:  # set by azure-storage-blob
                    raise
                # The same, answered by the app's create-only role instead: it may add blobs, not replace one.
                return await self._adopt(blob, delivery, received_at)
        return received_at

    async def _adopt(self, blob: BlobClient, delivery: Delivery, received_at: str) -> str:
        """The receive time of the blob already archived under this id, if it holds the same body."""
        properties = await blob.get_blob_properties()
        if properties.metadata.get("sha256") != delivery.sha256:
            raise conflict(delivery.event_id) from None
        return str(properties.metadata.get("receivedat", received_at))


def blob_name(source: str, event_id: str) -> str:
    return f"{source}/{event_id}"


def _same_payload(record: EventRecord, delivery: Delivery) -> EventRecord:
    if record.sha256 != delivery.sha256:
        raise conflict(delivery.event_id)
    return record


def _query_for(where: EventFilter, select: str) -> tuple[str, list[dict[str, Any]]]:
    clauses = ["c.source = @source"]
    parameters: list[dict[str, Any]] = [{"name": "@source", "value": where.source}]
    for clause, name, value in (
        ("c.type = @type", "@type", where.event_type),
        ("c.receivedAt >= @since", "@since", where.since),
        ("c.receivedAt < @until", "@until", where.until),
    ):
        if value is not None:
            clauses.append(clause)
            parameters.append({"name": name, "value": value})
    return f"{select} WHERE {' AND '.join(clauses)}", parameters


# --- the daily digests ---------------------------------------------------------------------------


class DigestArchive:
    """One JSON document per UTC day, `<yyyy-mm-dd>.json`; rewriting a day replaces it."""

    def __init__(self, blobs: ContainerClient) -> None:
        self._blobs = blobs

    async def exists(self, day: datetime.date) -> bool:
        with calling(BLOB):
            try:
                await self._blobs.get_blob_client(digest_name(day)).get_blob_properties()
            except ResourceNotFoundError:
                return False
        return True

    async def write(self, day: datetime.date, document: Mapping[str, Any]) -> None:
        with calling(BLOB):
            await self._blobs.upload_blob(
                digest_name(day),
                json.dumps(document, sort_keys=True, indent=2).encode(),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/json"),
            )


def digest_name(day: datetime.date) -> str:
    return f"{day.isoformat()}.json"


# --- diagnostics: each data action once, on shapes no source uses -------------------------------------
# Sources match [a-z0-9][a-z0-9-]*, so this partition and blob prefix never show up in a source's data.
PROBE_PARTITION = "_diagnostics"
PROBE_BLOB = f"{PROBE_PARTITION}/probe"
PROBE_ITEM = {"id": PROBE_PARTITION, "source": PROBE_PARTITION, "ttl": 3600}


async def probe_write_blob(blobs: ContainerClient) -> None:
    await blobs.upload_blob(PROBE_BLOB, b"", overwrite=True)


async def probe_create_blob(blobs: ContainerClient) -> None:
    """A new empty blob each time: creating is the only write a create-only role allows, and a blob that
    exists would answer without exercising it. The lifecycle rule removes them with the payloads."""
    name = f"{PROBE_PARTITION}/probe-{utc_timestamp(datetime.datetime.now(datetime.UTC))}-{secrets.token_hex(4)}"
    await blobs.upload_blob(name, b"", overwrite=False)


async def probe_read_blob(blobs: ContainerClient) -> None:
    with contextlib.suppress(ResourceNotFoundError):  # authorised (Storage refuses before it looks); none yet
        await blobs.get_blob_client(PROBE_BLOB).get_blob_properties()


async def probe_read_index_metadata(index: ContainerProxy) -> None:
    await index.read()


async def probe_read_item(index: ContainerProxy) -> None:
    with contextlib.suppress(ResourceNotFoundError):  # authorised; the probe may not exist yet
        await index.read_item(PROBE_PARTITION, partition_key=PROBE_PARTITION)


async def probe_create_item(index: ContainerProxy) -> None:
    with contextlib.suppress(ResourceExistsError):  # authorised; an earlier run created it
        await index.create_item(dict(PROBE_ITEM))


async def probe_query(index: ContainerProxy) -> None:
    rows = index.query_items("SELECT VALUE COUNT(1) FROM c", partition_key=PROBE_PARTITION)
    async for _ in rows:
        break


# --- the feature's containers, as views of the frame's process-wide clients ---------------------------


@dataclass(frozen=True)
class Containers:
    events: ContainerClient  # EVENTS_CONTAINER: the archive
    digests: ContainerClient  # DIGESTS_CONTAINER
    index: ContainerProxy  # COSMOS_CONTAINER in COSMOS_DATABASE


@functools.cache
def get_containers() -> Containers:
    clients, settings = get_clients(), get_webhook_settings()
    database = clients.cosmos.get_database_client(settings.cosmos_database)
    return Containers(
        events=clients.blob_service.get_container_client(settings.events_container),
        digests=clients.blob_service.get_container_client(settings.digests_container),
        index=database.get_container_client(settings.cosmos_container),
    )


@functools.cache
def get_event_store() -> EventStore:
    containers = get_containers()
    return EventStore(containers.events, containers.index)


@functools.cache
def get_digest_archive() -> DigestArchive:
    return DigestArchive(get_containers().digests)
