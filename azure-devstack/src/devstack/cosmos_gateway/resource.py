"""What a Cosmos DB REST request addresses: its resource type, resource link and kind of operation.

Both the master-key signature ("Access control in the Azure Cosmos DB SQL API", REST) and the RBAC
rules are defined in these terms. A path alternates type and id, `/dbs/{db}/colls/{coll}/docs/{doc}`:
an odd number of segments addresses a feed (type = the last segment, link = its parent), an even
number one resource (type = the second to last, link = the whole path). The root is the account:
type "" and link "". Ids in the link are percent-decoded: the SDKs sign the plain names and send
them encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote


class Operation(Enum):
    QUERY = "query"
    UPSERT = "upsert"
    BATCH = "batch"
    READ = "read"
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    PATCH = "patch"
    OTHER = "other"


_BY_METHOD = {
    "GET": Operation.READ,
    "HEAD": Operation.READ,
    "POST": Operation.CREATE,
    "PUT": Operation.REPLACE,
    "DELETE": Operation.DELETE,
    "PATCH": Operation.PATCH,
}
# Operations that write an item (or, for a batch, may).
ITEM_WRITES = frozenset({Operation.CREATE, Operation.UPSERT, Operation.REPLACE, Operation.PATCH, Operation.BATCH})


class BadPath(ValueError):
    """The path is not valid percent-encoding."""


@dataclass(frozen=True)
class Target:
    method: str
    path: str  # as received, without the query
    segments: tuple[str, ...]  # decoded
    resource_type: str
    resource_link: str
    operation: Operation

    @property
    def is_feed(self) -> bool:
        return len(self.segments) % 2 == 1

    @property
    def database(self) -> str | None:
        return self.segments[1] if len(self.segments) >= 2 and self.segments[0] == "dbs" else None

    @property
    def container(self) -> str | None:
        if self.database is None or len(self.segments) < 4 or self.segments[2] != "colls":
            return None
        return self.segments[3]

    @property
    def in_container(self) -> bool:
        """Addresses something inside a container (its items, partition key ranges, scripts, ...)."""
        return self.container is not None and len(self.segments) >= 5

    @property
    def item_id(self) -> str | None:
        return self.segments[5] if self.resource_type == "docs" and not self.is_feed else None

    @property
    def label(self) -> str:
        """A stable name for statistics and fault rules; the account itself has no resource type."""
        return self.resource_type or "account"


def describe(method: str, raw_path: str, headers: Mapping[str, str]) -> Target:
    """The request's target; raises BadPath for a malformed percent-encoding."""
    try:
        segments = tuple(unquote(s, errors="strict") for s in raw_path.split("/") if s)
    except UnicodeDecodeError as exc:
        raise BadPath(raw_path) from exc
    if not segments:
        resource_type, link = "", ""
    elif len(segments) % 2 == 1:
        resource_type, link = segments[-1], "/".join(segments[:-1])
    else:
        resource_type, link = segments[-2], "/".join(segments)
    return Target(method, raw_path, segments, resource_type, link, _operation(method, headers))


def _operation(method: str, headers: Mapping[str, str]) -> Operation:
    """The same precedence as the engine's router, so the front end and the engine agree."""
    if method == "POST" and (
        _true(headers, "x-ms-documentdb-isquery") or headers.get("content-type") == "application/query+json"
    ):
        return Operation.QUERY
    if _true(headers, "x-ms-documentdb-is-upsert"):
        return Operation.UPSERT
    if _true(headers, "x-ms-cosmos-is-batch-request"):
        return Operation.BATCH
    return _BY_METHOD.get(method, Operation.OTHER)


def _true(headers: Mapping[str, str], name: str) -> bool:
    return headers.get(name, "").lower() == "true"
