"""The data actions a Cosmos DB request needs, and at which scope: what Cosmos DB's data-plane RBAC checks
for a Microsoft Entra token. `infra_model.authorization.Authorizer` then decides each one from infra/'s
`sqlRoleAssignments`.

Sources:
- the actions: "Azure Cosmos DB for NoSQL data plane actions reference"
  (learn.microsoft.com/azure/cosmos-db/nosql/security/reference-data-plane-actions), with its
  "Required metadata" for the metadata reads and their scopes;
- what is control plane (refused to a token with 403/5300): "Configure role-based access control with
  Microsoft Entra ID", permission model: creating, replacing or deleting databases and containers,
  throughput, and stored procedures, triggers and user-defined functions other than executing a stored
  procedure. Anything not known to be data plane is refused the same way;
- a read of the items feed without a query is a ReadFeed, authorised as a change feed read, A-IM
  header or not (azure-cosmos-dotnet-v3#2927);
- patch has no action of its own in that list; it changes an existing item and never creates one, as
  a replace does, so it needs `items/replace` (not confirmed against the service);
- the account's own properties, which every SDK reads first, work for a database- or
  container-scoped assignment (azure-cosmos-dotnet-v3#3638): that read needs `readMetadata` anywhere in
  the account;
- a transactional batch needs the action of each operation in it (REST "Transactional batch" names
  their `operationType`); operations of an unknown type need nothing here, and the engine refuses the
  whole batch (400) without applying any.
The scopes a Cosmos DB role assignment can have are the account, a database (`<account>/dbs/<db>`) and a
container (`<account>/dbs/<db>/colls/<c>`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from devstack.cosmos_gateway.resource import Operation, Target

ACCOUNT_ACTIONS = "Microsoft.DocumentDB/databaseAccounts"
CONTAINER_ACTIONS = f"{ACCOUNT_ACTIONS}/sqlDatabases/containers"
READ_METADATA = f"{ACCOUNT_ACTIONS}/readMetadata"
EXECUTE_QUERY = f"{CONTAINER_ACTIONS}/executeQuery"
READ_CHANGE_FEED = f"{CONTAINER_ACTIONS}/readChangeFeed"
EXECUTE_STORED_PROCEDURE = f"{CONTAINER_ACTIONS}/executeStoredProcedure"
MANAGE_CONFLICTS = f"{CONTAINER_ACTIONS}/manageConflicts"


def item_action(verb: str) -> str:
    return f"{CONTAINER_ACTIONS}/items/{verb}"


PATCH_ACTION = item_action("replace")
_ITEM_REQUESTS = {
    Operation.CREATE: item_action("create"),
    Operation.UPSERT: item_action("upsert"),
    Operation.REPLACE: item_action("replace"),
    Operation.DELETE: item_action("delete"),
    Operation.PATCH: PATCH_ACTION,
    Operation.QUERY: EXECUTE_QUERY,
}
BATCH_OPERATIONS = {
    "Create": item_action("create"),
    "Upsert": item_action("upsert"),
    "Replace": item_action("replace"),
    "Read": item_action("read"),
    "Delete": item_action("delete"),
    "Patch": PATCH_ACTION,
}


class Level(Enum):
    ACCOUNT = "account"
    DATABASE = "database"
    CONTAINER = "container"


@dataclass(frozen=True)
class Check:
    action: str
    scope: str
    any_scope_below: bool = False  # an assignment anywhere below `scope` also grants it


class ControlPlane(Exception):
    """A request no token may make on the data plane (403/5300)."""


def required_checks(target: Target, account_id: str, batch_body: bytes | None = None) -> list[Check]:
    """The checks `target` needs; raises ControlPlane when a token may not make it at all. A batch's checks
    come from its body (`batch_body`)."""
    needs = _needs(target, batch_body)
    if needs is None:
        raise ControlPlane(target.path)
    checks = []
    for action, level, anywhere in needs:
        scope = _scope(account_id, target, level)
        if scope is None:
            raise ControlPlane(target.path)
        checks.append(Check(action, scope, anywhere))
    return checks


def batch_actions(body: bytes | None) -> list[str]:
    try:
        operations = json.loads(body or b"")
    except ValueError:
        return []
    types = [o.get("operationType") for o in operations if isinstance(o, dict)] if isinstance(operations, list) else []
    return list(dict.fromkeys(BATCH_OPERATIONS[t] for t in types if isinstance(t, str) and t in BATCH_OPERATIONS))


_Need = tuple[str, Level, bool]


def _needs(target: Target, batch_body: bytes | None) -> Sequence[_Need] | None:
    kind, operation = target.resource_type, target.operation
    if kind == "docs":
        return _item_needs(target, batch_body)
    if kind == "sprocs":
        executes = operation is Operation.CREATE and not target.is_feed
        return [(EXECUTE_STORED_PROCEDURE, Level.CONTAINER, False)] if executes else None
    if kind == "conflicts":
        known = operation in (Operation.READ, Operation.QUERY, Operation.DELETE)
        return [(MANAGE_CONFLICTS, Level.CONTAINER, False)] if known else None
    if operation in (Operation.READ, Operation.QUERY):
        return _metadata_needs(target)
    return None


def _item_needs(target: Target, batch_body: bytes | None) -> Sequence[_Need] | None:
    operation = target.operation
    if operation is Operation.READ:
        action = READ_CHANGE_FEED if target.is_feed else item_action("read")
        return [(action, Level.CONTAINER, False)]
    if operation is Operation.BATCH:
        return [(action, Level.CONTAINER, False) for action in batch_actions(batch_body)]
    requested = _ITEM_REQUESTS.get(operation)
    return None if requested is None else [(requested, Level.CONTAINER, False)]


def _metadata_needs(target: Target) -> Sequence[_Need] | None:
    """Databases are listed at the account, a database read and its containers listed at the database, a
    container read and its partition key ranges at the container."""
    feed = target.is_feed
    match target.resource_type:
        case "":
            return [(READ_METADATA, Level.ACCOUNT, True)]
        case "dbs":
            return [(READ_METADATA, Level.ACCOUNT if feed else Level.DATABASE, False)]
        case "colls":
            return [(READ_METADATA, Level.DATABASE if feed else Level.CONTAINER, False)]
        case "pkranges":
            return [(READ_METADATA, Level.CONTAINER, False)]
        case _:
            return None


def _scope(account_id: str, target: Target, level: Level) -> str | None:
    if level is Level.ACCOUNT:
        return account_id
    if level is Level.DATABASE:
        return None if target.database is None else f"{account_id}/dbs/{target.database}"
    return None if target.container is None else f"{account_id}/dbs/{target.database}/colls/{target.container}"
