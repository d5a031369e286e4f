"""What a request costs (`x-ms-request-charge`) and the session token it carries (`x-ms-session-token`).

The charge is a plausible figure, not Azure's formula (which depends on indexing, properties and
consistency, and is not published). It follows the figures Microsoft does publish:
- "Optimize request cost in Azure Cosmos DB": a point read of a 1 KB item costs 1 RU, of a 100 KB item
  10 RU; here linear between them (and beyond), never under 1;
- writes cost several times a read ("Request units in Azure Cosmos DB": insert, upsert, delete "consume
  a variable number of RUs"; Microsoft's training module "Measure point operation cost" shows 7.05 RU
  for creating a small item): here 5 times the read figure of the body written + 0.5, so a 1 KB insert is
  5.5 RU; a delete is charged as a 1 KB write;
- a query costs more than a point read of what it returns: 2.5 RU + the read figure of the page;
- metadata reads (account, databases, containers, partition key ranges) 1 RU; refusals by the front
  end (401, 403, 413, 429, the limits' 400s) 0, as the service charges nothing for them; other errors
  from the engine (404, 409, 412) 1 RU.

Session tokens follow the SDKs' format `<partition key range id>:<version>#<global LSN>` (azure-cosmos
`_vector_session_token.py`), with one partition key range, "0", per container: every successful write
in a container advances its LSN, every answer in a container names the current one.
"""

from __future__ import annotations

import json
from collections import Counter

from devstack.cosmos_gateway.permissions import batch_actions, item_action
from devstack.cosmos_gateway.resource import Operation, Target

KB = 1024
QUERY_BASE_RU = 2.5
WRITE_FACTOR = 5.0
WRITE_BASE_RU = 0.5
ERROR_RU = 1.0
WRITES = frozenset({Operation.CREATE, Operation.UPSERT, Operation.REPLACE, Operation.PATCH, Operation.DELETE})
_READ = item_action("read")


def read_units(size_bytes: int) -> float:
    """1 RU for 1 KB, 10 RU for 100 KB."""
    kilobytes = max(size_bytes, 1) / KB
    return max(1.0, 1.0 + 9.0 * (kilobytes - 1.0) / 99.0)


def write_units(size_bytes: int) -> float:
    return WRITE_FACTOR * read_units(size_bytes) + WRITE_BASE_RU


def request_charge(target: Target, status: int, request_bytes: bytes | None, response_size: int | None) -> float:
    """The RU charge of a request the engine answered with `status`."""
    if status >= 400:
        return ERROR_RU
    if target.resource_type != "docs":
        return 1.0
    operation = target.operation
    if operation is Operation.BATCH:
        return _batch_units(request_bytes)
    if operation is Operation.DELETE:
        return write_units(KB)
    if operation in WRITES:
        return write_units(len(request_bytes or b""))
    page = response_size or 0
    return QUERY_BASE_RU + read_units(page) if operation is Operation.QUERY or target.is_feed else read_units(page)


def formatted(charge: float) -> str:
    return f"{charge:.2f}"


def _batch_units(body: bytes | None) -> float:
    try:
        operations = json.loads(body or b"")
    except ValueError:
        return ERROR_RU
    if not isinstance(operations, list):
        return ERROR_RU
    total = 0.0
    for operation in operations:
        single = json.dumps(operation).encode() if isinstance(operation, dict) else b""
        reads = batch_actions(single) == [_READ]
        total += read_units(KB) if reads else write_units(len(single))
    return total


class SessionTokens:
    """The LSN of each container, advanced by its writes."""

    def __init__(self) -> None:
        self._lsn: Counter[tuple[str, str]] = Counter()

    def after(self, target: Target, status: int) -> str | None:
        """The session token to answer `target` with, once the engine answered `status`; None outside a container."""
        if target.container is None or not target.in_container:
            return None
        key = (target.database or "", target.container)
        if status < 300 and target.resource_type == "docs" and (target.operation in WRITES or _is_write_batch(target)):
            self._lsn[key] += 1
        return f"0:-1#{self._lsn[key]}"

    def forget(self, database: str, container: str | None = None) -> None:
        for key in [k for k in self._lsn if k[0] == database and (container is None or k[1] == container)]:
            del self._lsn[key]


def _is_write_batch(target: Target) -> bool:
    return target.operation is Operation.BATCH
