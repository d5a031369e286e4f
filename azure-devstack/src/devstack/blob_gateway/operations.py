"""Which Blob REST operation a request is, and the RBAC permission Azure requires for it, at which scope.

The permissions are the table "Permissions for Blob service operations" in "Authorize with Microsoft
Entra ID" (https://learn.microsoft.com/rest/api/storageservices/authorize-with-azure-active-directory,
2025-03-27). Where the table lists two actions joined by "or", either one is enough; "To create new
blob: .../add/action" means add/action allows a write only when no blob of that name exists yet.

The operation is known by method + `restype` + `comp` (+ `x-ms-copy-source` for the copy family), as
each operation's REST page defines its URI. Scopes: an RBAC assignment applies at the storage account,
or at one container (`<account id>/blobServices/default/containers/<name>`); a blob has no scope of its
own. "List Containers ... scoped to the storage account or above" is the one scope the table names;
the other account-level operations are taken to be at the account too.

A request that matches no row is refused here (`invalid_query_parameter` / `unsupported_http_verb`):
forwarding it would let it through unauthorised.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from devstack.blob_gateway.errors import StorageError, invalid_query_parameter, invalid_uri, unsupported_http_verb

_SERVICE = "Microsoft.Storage/storageAccounts/blobServices"
_CONTAINERS = f"{_SERVICE}/containers"
_BLOBS = f"{_CONTAINERS}/blobs"
# "/<name>" without restype=container is the blob <name> in $root ("Working with the root container").
ROOT_CONTAINER = "$root"
# Names that carry no account, so the account is the first path segment (as Azurite reads them too).
_NO_ACCOUNT_HOSTS = frozenset({"localhost", "host.docker.internal"})


@dataclass(frozen=True)
class Permission:
    action: str
    data_action: bool  # False: a control-plane action (a role's `actions`), as container operations use
    new_blob_only: bool = False  # enough only when the blob does not exist yet


def _data(action: str) -> Permission:
    return Permission(action, data_action=True)


def _control(action: str) -> Permission:
    return Permission(action, data_action=False)


READ = _data(f"{_BLOBS}/read")
WRITE = _data(f"{_BLOBS}/write")
ADD = _data(f"{_BLOBS}/add/action")
ADD_NEW_BLOB = Permission(ADD.action, data_action=True, new_blob_only=True)
DELETE = _data(f"{_BLOBS}/delete")
TAGS_READ = _data(f"{_BLOBS}/tags/read")
TAGS_WRITE = _data(f"{_BLOBS}/tags/write")
FILTER = _data(f"{_BLOBS}/filter/action")
IMMUTABILITY = _data(f"{_BLOBS}/immutableStorage/runAsSuperUser/action")
CONTAINER_READ = _control(f"{_CONTAINERS}/read")
CONTAINER_WRITE = _control(f"{_CONTAINERS}/write")
CONTAINER_DELETE = _control(f"{_CONTAINERS}/delete")
GET_ACL = _control(f"{_CONTAINERS}/getAcl/action")
SET_ACL = _control(f"{_CONTAINERS}/setAcl/action")
SERVICE_READ = _control(f"{_SERVICE}/read")
SERVICE_WRITE = _control(f"{_SERVICE}/write")
GET_INFO = _control(f"{_SERVICE}/getInfo/action")
DELEGATION_KEY = _control(f"{_SERVICE}/generateUserDelegationKey/action")

_WRITE_OR_ADD = (WRITE, ADD)
_WRITE_OR_CREATE = (WRITE, ADD_NEW_BLOB)


class Level(Enum):
    ACCOUNT = "account"
    CONTAINER = "container"


@dataclass(frozen=True)
class Rule:
    name: str  # the operation, as its REST page is titled
    any_of: tuple[Permission, ...]
    level: Level = Level.CONTAINER


@dataclass(frozen=True)
class Requirement:
    scope: str
    any_of: tuple[Permission, ...]


@dataclass(frozen=True)
class Operation:
    name: str
    requirements: tuple[Requirement, ...]  # every one must be met, each by one of its permissions
    anonymous: bool = False  # CORS preflight: the table says "Anonymous"


@dataclass(frozen=True)
class Target:
    container: str = ""
    blob: str = ""


def _rules(rows: Mapping[tuple[str, str], Rule]) -> Mapping[tuple[str, str], Rule]:
    return MappingProxyType(dict(rows))


# (method, comp) -> rule, for requests on the account: "/".
ACCOUNT_RULES = _rules(
    {
        ("GET", "list"): Rule("List Containers", (CONTAINER_READ,), Level.ACCOUNT),
        ("PUT", "properties"): Rule("Set Blob Service Properties", (SERVICE_WRITE,), Level.ACCOUNT),
        ("GET", "properties"): Rule("Get Blob Service Properties", (SERVICE_READ,), Level.ACCOUNT),
        ("GET", "stats"): Rule("Get Blob Service Stats", (SERVICE_READ,), Level.ACCOUNT),
        ("POST", "userdelegationkey"): Rule("Get User Delegation Key", (DELEGATION_KEY,), Level.ACCOUNT),
        ("GET", "blobs"): Rule("Find Blobs by Tags", (FILTER,), Level.ACCOUNT),
        # Sub-requests are not parsed: only the parent request is authorised (see the README row).
        ("POST", "batch"): Rule("Blob Batch", (CONTAINER_WRITE,), Level.ACCOUNT),
    }
)
# (method, comp) -> rule, for "/<container>?restype=container[&comp=...]".
CONTAINER_RULES = _rules(
    {
        ("PUT", ""): Rule("Create Container", (CONTAINER_WRITE,)),
        ("GET", ""): Rule("Get Container Properties", (CONTAINER_READ,)),
        ("HEAD", ""): Rule("Get Container Properties", (CONTAINER_READ,)),
        ("GET", "metadata"): Rule("Get Container Metadata", (CONTAINER_READ,)),
        ("HEAD", "metadata"): Rule("Get Container Metadata", (CONTAINER_READ,)),
        ("PUT", "metadata"): Rule("Set Container Metadata", (CONTAINER_WRITE,)),
        ("GET", "acl"): Rule("Get Container ACL", (GET_ACL,)),
        ("HEAD", "acl"): Rule("Get Container ACL", (GET_ACL,)),
        ("PUT", "acl"): Rule("Set Container ACL", (SET_ACL,)),
        ("PUT", "lease"): Rule("Lease Container", (CONTAINER_WRITE,)),
        ("DELETE", ""): Rule("Delete Container", (CONTAINER_DELETE,)),
        ("PUT", "undelete"): Rule("Restore Container", (CONTAINER_WRITE,)),
        ("GET", "list"): Rule("List Blobs", (READ,)),
        ("GET", "blobs"): Rule("Find Blobs by Tags in Container", (FILTER,)),
        ("POST", "batch"): Rule("Blob Batch", (CONTAINER_WRITE,)),
    }
)
# (method, comp) -> rule, for "/<container>/<blob>[?comp=...]". PUT without comp is the copy family below.
BLOB_RULES = _rules(
    {
        ("GET", ""): Rule("Get Blob", (READ,)),
        ("HEAD", ""): Rule("Get Blob Properties", (READ,)),
        ("GET", "metadata"): Rule("Get Blob Metadata", (READ,)),
        ("HEAD", "metadata"): Rule("Get Blob Metadata", (READ,)),
        ("PUT", "metadata"): Rule("Set Blob Metadata", (WRITE,)),
        ("PUT", "properties"): Rule("Set Blob Properties", (WRITE,)),
        ("GET", "tags"): Rule("Get Blob Tags", (TAGS_READ,)),
        ("PUT", "tags"): Rule("Set Blob Tags", (TAGS_WRITE,)),
        ("PUT", "lease"): Rule("Lease Blob", (WRITE,)),
        ("PUT", "snapshot"): Rule("Snapshot Blob", _WRITE_OR_ADD),
        ("PUT", "copy"): Rule("Abort Copy Blob", (WRITE,)),
        ("DELETE", ""): Rule("Delete Blob", (DELETE,)),
        ("PUT", "undelete"): Rule("Undelete Blob", (CONTAINER_WRITE,)),
        ("PUT", "tier"): Rule("Set Blob Tier", (WRITE,)),
        ("PUT", "immutabilitypolicies"): Rule("Set Immutability Policy", (IMMUTABILITY,)),
        ("DELETE", "immutabilitypolicies"): Rule("Delete Immutability Policy", (IMMUTABILITY,)),
        ("PUT", "legalhold"): Rule("Set Blob Legal Hold", (CONTAINER_WRITE,)),
        ("PUT", "block"): Rule("Put Block", (WRITE,)),  # also Put Block from URL: the same row
        ("PUT", "blocklist"): Rule("Put Block List", (WRITE,)),
        ("GET", "blocklist"): Rule("Get Block List", (READ,)),
        ("POST", "query"): Rule("Query Blob Contents", (READ,)),
        ("PUT", "page"): Rule("Put Page", (WRITE,)),  # also Put Page from URL
        ("GET", "pagelist"): Rule("Get Page Ranges", (READ,)),
        ("PUT", "appendblock"): Rule("Append Block", _WRITE_OR_ADD),  # also Append Block from URL
        ("PUT", "expiry"): Rule("Set Blob Expiry", (WRITE,)),
    }
)
ACCOUNT_INFORMATION = Rule("Get Account Information", (GET_INFO,), Level.ACCOUNT)  # any URI level


def parse_target(host: str, raw_path: str, account_name: str) -> Target:
    """The container and blob a request names, by production-style host or by path (`/<account>/...`)."""
    account, segments = _split_account(host, [unquote(segment) for segment in raw_path.split("/")[1:]])
    if account != account_name:
        raise invalid_uri()
    container = segments[0] if segments else ""
    # Azure reads "\" in a blob name as "/", as Azurite does too.
    return Target(container=container, blob="/".join(segments[1:]).replace("\\", "/"))


def _split_account(host: str, segments: list[str]) -> tuple[str, list[str]]:
    """`<account>.blob.core.windows.net` names the account in its first label; an IP or localhost in the path."""
    if _is_production_style(host):
        return host.split(".", 1)[0].lower(), segments
    return (segments[0], segments[1:]) if segments else ("", [])


def _is_production_style(host: str) -> bool:
    name = (urlsplit(f"//{host}").hostname or "").lower()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name not in _NO_ACCOUNT_HOSTS and "." in name
    return False


def resolve(
    method: str,
    target: Target,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    account_id: str,
    account_name: str,
) -> Operation:
    """The operation a request is and what it requires; raises a StorageError for one not served."""
    if method == "OPTIONS":
        return Operation("Preflight Blob Request", (), anonymous=True)
    restype, comp = query.get("restype", "").lower(), query.get("comp", "").lower()
    scopes = _Scopes(account_id, target.container)
    if restype == "account" and comp == "properties":
        return scopes.operation(ACCOUNT_INFORMATION)
    if not target.container:
        return scopes.operation(_lookup(ACCOUNT_RULES, method, comp))
    if not target.blob and restype == "container":
        return scopes.operation(_lookup(CONTAINER_RULES, method, comp))
    if not target.blob:  # "/<name>": the blob <name> in the root container, whose scope is $root's
        scopes = _Scopes(account_id, ROOT_CONTAINER)
    if method == "PUT" and comp in ("", "incrementalcopy"):
        return _write_family(scopes, comp, headers, account_id=account_id, account_name=account_name)
    return scopes.operation(_lookup(BLOB_RULES, method, comp))


@dataclass(frozen=True)
class _Scopes:
    account_id: str
    container: str

    def of(self, level: Level) -> str:
        return self.account_id if level is Level.ACCOUNT else container_scope(self.account_id, self.container)

    def operation(self, rule: Rule) -> Operation:
        return Operation(rule.name, (Requirement(self.of(rule.level), rule.any_of),))


def container_scope(account_id: str, container: str) -> str:
    return f"{account_id}/blobServices/default/containers/{container}"


def _lookup(rules: Mapping[tuple[str, str], Rule], method: str, comp: str) -> Rule:
    rule = rules.get((method, comp))
    if rule is not None:
        return rule
    if any(known_comp == comp for _, known_comp in rules):
        raise unsupported_http_verb(method)
    raise invalid_query_parameter("comp", comp)


def _write_family(
    scopes: _Scopes, comp: str, headers: Mapping[str, str], *, account_id: str, account_name: str
) -> Operation:
    """Put Blob, Put Blob from URL, Copy Blob, Copy Blob from URL and Incremental Copy Blob.

    All write the destination with blobs/write, or create it with blobs/add/action; the copies also read
    a source in the same account with blobs/read (the table's "For source blob in the same storage
    account"). A source elsewhere is authorised by its own URL (SAS or anonymous) and not checked here.
    """
    source = headers.get("x-ms-copy-source", "")
    destination = Requirement(scopes.of(Level.CONTAINER), _WRITE_OR_CREATE)
    if not source:
        return Operation("Put Blob", (destination,))
    if comp == "incrementalcopy":
        name = "Incremental Copy Blob"
    elif headers.get("x-ms-requires-sync", "").lower() == "true":
        name = "Copy Blob from URL"
    elif "x-ms-blob-type" in headers:
        return Operation("Put Blob from URL", (destination,))  # the table names no source permission
    else:
        name = "Copy Blob"
    source_container = _same_account_container(source, account_name)
    if source_container is None:
        return Operation(name, (destination,))
    return Operation(name, (destination, Requirement(container_scope(account_id, source_container), (READ,))))


def _same_account_container(source_url: str, account_name: str) -> str | None:
    parts = urlsplit(source_url)
    try:
        target = parse_target(parts.netloc, parts.path, account_name)
    except StorageError:  # another account: authorised by the source URL itself
        return None
    return target.container or None
