"""Azure's RBAC decision, for the local services: may this principal perform this action at this scope?

The rules are Azure's (https://learn.microsoft.com/azure/role-based-access-control/overview, "How
Azure RBAC determines if a user has access to a resource"):
- an assignment applies to its scope and everything below it (a container's blobs, a vault's
  secrets, a Cosmos DB database's containers);
- a role permits an action when one of its `dataActions` (or `actions`, for a control-plane action)
  matches it and none of its `notDataActions` (`notActions`) does; `*` matches any run of
  characters, and matching ignores case;
- access is the union of every applicable assignment. Deny assignments and ABAC conditions are not
  modelled (infra/ declares none).

The local services (the Blob gateway, the Key Vault fake and the Cosmos DB front end) call
`Authorizer.decide`; `Authorizer.to_json` writes the assignments for tests and tools that read them.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_model.roles import RoleDefinition


@dataclass(frozen=True)
class Assignment:
    principal_id: str
    role: RoleDefinition
    scope: str  # an Azure resource id, or a Cosmos DB data-plane scope (<account id>/dbs/<db>[/colls/<c>])
    source: str  # where infra/ makes it: "modules/access.bicep:appEventsContributor"
    id: str = ""  # the assignment's own resource id, as deployed (its last segment is the GUID Azure logs)

    def covers(self, scope: str) -> bool:
        return scope_covers(self.scope, scope)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    action: str
    scope: str
    principal_id: str
    assignment: Assignment | None  # the first assignment that allowed it

    def as_json(self) -> dict[str, Any]:
        granted = self.assignment
        return {
            "allowed": self.allowed,
            "action": self.action,
            "scope": self.scope,
            "principalId": self.principal_id,
            "role": None if granted is None else granted.role.name,
            "source": None if granted is None else granted.source,
        }


class Authorizer:
    def __init__(self, assignments: Iterable[Assignment]) -> None:
        self.assignments = tuple(assignments)

    def decide(self, principal_id: str, action: str, scope: str, *, data_action: bool = True) -> Decision:
        principal = principal_id.lower()
        for assignment in self.assignments:
            if assignment.principal_id.lower() != principal or not assignment.covers(scope):
                continue
            if permits(assignment.role, action, data_action=data_action):
                return Decision(True, action, scope, principal_id, assignment)
        return Decision(False, action, scope, principal_id, None)

    def within(self, scope: str) -> Authorizer:
        """The same decider, knowing only the assignments at `scope` or below it: Cosmos DB's own RBAC knows
        only the account's `sqlRoleAssignments`, so an assignment elsewhere never grants its data actions."""
        narrowed = copy.copy(self)
        narrowed.assignments = tuple(a for a in self.assignments if scope_covers(scope, a.scope))
        return narrowed

    # ---- the assignments as JSON (env.json's accessFile, for tests and tools) --------------------

    def to_json(self) -> dict[str, Any]:
        return {"assignments": [_assignment_json(a) for a in self.assignments]}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Authorizer:
        return cls(_assignment_from_json(item) for item in document["assignments"])


def permits(role: RoleDefinition, action: str, *, data_action: bool = True) -> bool:
    allowed, denied = (role.data_actions, role.not_data_actions) if data_action else (role.actions, role.not_actions)
    return _matches_any(allowed, action) and not _matches_any(denied, action)


def scope_covers(assigned: str, requested: str) -> bool:
    """An assignment at `assigned` applies at `requested` when it is the same scope or an ancestor."""
    parent, child = assigned.rstrip("/").lower(), requested.rstrip("/").lower()
    return child == parent or child.startswith(parent + "/")


def _matches_any(patterns: Sequence[str], action: str) -> bool:
    return any(_pattern(p).fullmatch(action) for p in patterns)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)


def _assignment_json(assignment: Assignment) -> dict[str, Any]:
    role = assignment.role
    return {
        "principalId": assignment.principal_id,
        "scope": assignment.scope,
        "source": assignment.source,
        "id": assignment.id,
        "role": {
            "id": role.id,
            "name": role.name,
            "actions": list(role.actions),
            "notActions": list(role.not_actions),
            "dataActions": list(role.data_actions),
            "notDataActions": list(role.not_data_actions),
        },
    }


def _assignment_from_json(item: dict[str, Any]) -> Assignment:
    role = item["role"]
    definition = RoleDefinition(
        id=role["id"],
        name=role["name"],
        actions=tuple(role["actions"]),
        not_actions=tuple(role["notActions"]),
        data_actions=tuple(role["dataActions"]),
        not_data_actions=tuple(role["notDataActions"]),
    )
    return Assignment(item["principalId"], definition, item["scope"], item["source"], str(item.get("id", "")))
