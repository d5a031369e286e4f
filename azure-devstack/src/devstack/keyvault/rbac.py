"""What Key Vault's RBAC checks for each secrets operation, how it says no, and what it decided.

Key Vault authorises a data-plane request as one data action at one scope for the token's `oid`;
`infra_model.authorization.Authorizer` takes that decision from the assignments infra/ declares, so
this module only knows the Key Vault side of it.

Sources for the table below:
- the data actions: "Azure permissions for Security", Microsoft.KeyVault DataActions
  (https://learn.microsoft.com/azure/role-based-access-control/permissions/security#microsoftkeyvault),
  and "Actions and attributes for Azure Key Vault ABAC conditions", which names the data action of
  each secret operation (get secret, read secret metadata, set, update, delete, backup, restore,
  recover, purge);
- the scopes: role assignments apply at a vault or at one secret ("Provide access to Key Vault keys,
  certificates, and secrets with Azure role-based access control", best practices for individual
  secrets). A 403 for a named secret gives `<vault id>/secrets/<name>` as its Resource (e.g. the body
  quoted in GitHub issue piyushsachdeva/Terraform_AKS#2), one for `GET /secrets` the vault id (public
  write-ups of readMetadata refusals). Listing one secret's versions is checked at that secret, as
  every request naming a secret is; no recorded 403 shows it.

No data action exists for deleted secrets, so reading them is taken to be `readMetadata` (the access
policy permissions the REST spec names for them, secrets/get and secrets/list, map to
getSecret/readMetadata, and a deleted-secret bundle carries no value). Restore names its secret only
inside the backup blob, so it is checked at the vault. Neither is confirmed by a recorded 403.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, auto
from types import MappingProxyType
from typing import Any

from infra_model.authorization import Decision

from devstack.keyvault.errors import ServiceError
from devstack.keyvault.routes import (
    BACKUP_SECRET,
    DELETE_SECRET,
    GET_DELETED_SECRET,
    GET_DELETED_SECRETS,
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    PURGE_DELETED_SECRET,
    RECOVER_DELETED_SECRET,
    RESTORE_SECRET,
    SET_SECRET,
    UPDATE_SECRET,
)

_SECRETS = "Microsoft.KeyVault/vaults/secrets"
GET_SECRET_ACTION = f"{_SECRETS}/getSecret/action"
READ_METADATA_ACTION = f"{_SECRETS}/readMetadata/action"
SET_SECRET_ACTION = f"{_SECRETS}/setSecret/action"
UPDATE_ACTION = f"{_SECRETS}/update/action"  # attributes, tags, content type: not the value
_VAULT_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/([^/]+)", re.I)


class Level(Enum):
    """Where an operation is checked: at the vault, or at the one secret it names."""

    VAULT = auto()
    SECRET = auto()


@dataclass(frozen=True)
class Requirement:
    action: str
    level: Level

    def scope(self, vault_id: str, secret_name: str) -> str:
        return f"{vault_id}/secrets/{secret_name}" if self.level is Level.SECRET else vault_id


REQUIREMENTS: Mapping[str, Requirement] = MappingProxyType(
    {
        GET_SECRET: Requirement(GET_SECRET_ACTION, Level.SECRET),
        GET_SECRET_VERSIONS: Requirement(READ_METADATA_ACTION, Level.SECRET),  # one secret's versions
        GET_SECRETS: Requirement(READ_METADATA_ACTION, Level.VAULT),
        SET_SECRET: Requirement(SET_SECRET_ACTION, Level.SECRET),
        UPDATE_SECRET: Requirement(UPDATE_ACTION, Level.SECRET),
        DELETE_SECRET: Requirement(f"{_SECRETS}/delete", Level.SECRET),
        GET_DELETED_SECRET: Requirement(READ_METADATA_ACTION, Level.SECRET),
        GET_DELETED_SECRETS: Requirement(READ_METADATA_ACTION, Level.VAULT),
        RECOVER_DELETED_SECRET: Requirement(f"{_SECRETS}/recover/action", Level.SECRET),
        PURGE_DELETED_SECRET: Requirement(f"{_SECRETS}/purge/action", Level.SECRET),
        BACKUP_SECRET: Requirement(f"{_SECRETS}/backup/action", Level.SECRET),
        RESTORE_SECRET: Requirement(f"{_SECRETS}/restore/action", Level.VAULT),
    }
)


def vault_name(vault_id: str) -> str:
    """The vault's name from its ARM id; anything else (a vault URL, a resource group id) is refused."""
    match = _VAULT_ID.fullmatch(vault_id)
    if match is None:
        raise ValueError(
            "vault_id must be /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>, "
            f"got {vault_id!r}"
        )
    return match.group(1)


def rbac_refusal(
    claims: Mapping[str, Any], decision: Decision, vault: str, *, counted_as: str | None = None
) -> ServiceError:
    """Key Vault's 403 for a caller no assignment allows, in its own words and line breaks.

    Key Vault writes the Resource as a lower-cased ARM id (every public sample shows `resourcegroups`
    and `microsoft.keyvault`), and the location of the vault; the local vault has none.
    """
    message = (
        "Caller is not authorized to perform action on resource.\r\n"
        "If role assignments, deny assignments or role definitions were changed recently, please observe "
        "propagation time.\r\n"
        f"Caller: appid={claims.get('appid')};oid={claims.get('oid')};iss={claims.get('iss')}\r\n"
        f"Action: '{decision.action}'\r\n"
        f"Resource: '{decision.scope.lower()}'\r\n"
        "Assignment: (not found)\r\n"
        "DenyAssignmentId: null\r\n"
        "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
        f"Vault: {vault};location=local\r\n"
    )
    return ServiceError(403, "Forbidden", message, inner_code="ForbiddenByRbac", counted_as=counted_as)


class DecisionLog:
    """Every decision taken, counted: tests read it to see which assignment let a request through."""

    def __init__(self) -> None:
        self._counts: Counter[Decision] = Counter()

    def record(self, decision: Decision) -> None:
        self._counts[decision] += 1

    def as_json(self) -> list[dict[str, Any]]:
        return [{**decision.as_json(), "count": count} for decision, count in self._counts.items()]

    def clear(self) -> None:
        self._counts.clear()
