"""Azure Cosmos DB's per-request and per-item limits, checked before the engine sees a request.

Each from its Microsoft page:
- "Azure Cosmos DB service quotas" (learn.microsoft.com/azure/cosmos-db/concepts-limits), per-item and
  per-request limits: an item, and any request (a transactional batch included), at most 2 MB; an `id`
  at most 1,023 bytes; a partition key value at most 2,048 bytes (101 bytes for a container without
  large partition keys, partition key version 1). Answered 413 and 400 ("HTTP Status Codes for Azure
  Cosmos DB": 413 "the document size in the request exceeded the allowable document size"). The 2 MB
  are the request body's bytes as sent: azure-cosmos's own test_encoding.py has an item whose
  ASCII-escaped body is over 2 MiB refused 413, and the same item sent as compact UTF-8, under 2 MiB,
  accepted.
- "Resource.Id" (.NET SDK reference, every resource's `Id`): the characters '/', '\\', '?' and '#' are
  restricted and cannot be used in an id.
- "Time to Live (TTL) in Azure Cosmos DB": an item's `ttl` applies only when its container has a
  `DefaultTimeToLive` (not null); it "must be a nonzero positive integer less than or equal to
  2147483647, or -1"; a `ttl` of null is not supported. azure-cosmos's test_ttl.py expects 400 for 0,
  null and -10 on a container with TTL on. Whether the service also refuses them on a container with
  TTL off is not stated: they are let through there (the page says the property does not apply).
The wording of these 400s is ours; the statuses are the service's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devstack.cosmos_gateway.errors import CosmosError, bad_request, too_large
from devstack.cosmos_gateway.resource import Operation, Target

MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_ID_BYTES = 1023
MAX_PARTITION_KEY_BYTES = 2048
MAX_PARTITION_KEY_BYTES_V1 = 101
MAX_TTL_SECONDS = 2_147_483_647
RESTRICTED_ID_CHARACTERS = frozenset("/\\?#")
PARTITION_KEY_HEADER = "x-ms-documentdb-partitionkey"
# Batch operations whose resourceBody is a whole item.
_ITEM_BODIES = frozenset({"Create", "Upsert", "Replace"})


@dataclass(frozen=True)
class ContainerRules:
    """What the limits need to know of a container: whether TTL is on, and how long a key value may be."""

    ttl_on: bool
    partition_key_bytes: int

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> ContainerRules:
        key = properties.get("partitionKey") or {}
        version = key.get("version", 2) if isinstance(key, dict) else 2
        return cls(
            ttl_on=properties.get("defaultTtl") is not None,
            partition_key_bytes=MAX_PARTITION_KEY_BYTES if version == 2 else MAX_PARTITION_KEY_BYTES_V1,
        )


def check_size(body: bytes) -> None:
    if len(body) > MAX_REQUEST_BYTES:
        raise too_large()


def check_item_request(target: Target, headers: Mapping[str, str], body: bytes, rules: ContainerRules) -> None:
    """Raises the CosmosError Azure answers for an item write (or batch) that breaks a limit."""
    check_size(body)
    _check_partition_key(headers, rules)
    if target.operation in (Operation.CREATE, Operation.UPSERT, Operation.REPLACE):
        item = _json(body)
        if isinstance(item, dict):
            check_item(item, rules)
    elif target.operation is Operation.BATCH:
        operations = _json(body)
        for operation in operations if isinstance(operations, list) else []:
            if isinstance(operation, dict) and operation.get("operationType") in _ITEM_BODIES:
                item = operation.get("resourceBody")
                if isinstance(item, dict):
                    check_item(item, rules)


def check_item(item: Mapping[str, Any], rules: ContainerRules) -> None:
    _check_id(item.get("id"))
    if rules.ttl_on and "ttl" in item:
        _check_ttl(item["ttl"])


def _check_id(value: object) -> None:
    if not isinstance(value, str):
        return  # the engine answers a missing or non-string id
    if len(value.encode()) > MAX_ID_BYTES:
        raise bad_request(f"The id is longer than {MAX_ID_BYTES} bytes, the most an item id may have.")
    restricted = sorted(RESTRICTED_ID_CHARACTERS.intersection(value))
    if restricted:
        raise bad_request(f"The id contains characters an id may not contain: {' '.join(restricted)}.")


def _check_ttl(value: object) -> None:
    valid = isinstance(value, int) and not isinstance(value, bool) and (value == -1 or 0 < value <= MAX_TTL_SECONDS)
    if not valid:
        shown = "null" if value is None else str(value)
        raise bad_request(
            f"The input ttl '{shown}' is invalid. Ensure to provide a nonzero positive integer less than or equal "
            f"to '{MAX_TTL_SECONDS}', or '-1' which means never expire."
        )


def _check_partition_key(headers: Mapping[str, str], rules: ContainerRules) -> None:
    raw = headers.get(PARTITION_KEY_HEADER)
    if raw is None:
        return
    try:
        values = json.loads(raw)
    except ValueError:
        raise CosmosError(400, "The partition key header is not a JSON array.") from None
    for value in values if isinstance(values, list) else []:
        if isinstance(value, str) and len(value.encode()) > rules.partition_key_bytes:
            raise bad_request(
                f"The partition key value is longer than {rules.partition_key_bytes} bytes, the most a value may have."
            )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # the engine answers a body that is not JSON
