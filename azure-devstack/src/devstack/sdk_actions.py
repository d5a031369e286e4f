"""Which Azure RBAC action(s) each SDK method needs: the table `python -m devstack check` checks code against.

An app's code calls the Azure SDKs; each call sends one or more REST requests, and the service
authorises each request as an RBAC action at a scope. This module maps the public methods of
azure-keyvault-secrets (`SecretClient`), azure-storage-blob (`BlobServiceClient`, `ContainerClient`,
`BlobClient`, `BlobLeaseClient`) and azure-cosmos (`CosmosClient`, `DatabaseProxy`, `ContainerProxy`,
and `ScriptsProxy` for stored procedures) to those actions, keyed by public class name and method:
the sync classes and their `.aio` twins have the same public names and send the same requests.

A method needs a tuple of `Requirement`s, all of which must be met; a requirement is a set of
alternative `Permission`s, any one of which meets it (Put Blob: `blobs/write`, or `blobs/add/action`
for a blob that does not exist yet). Some arguments change what a call sends (`upload_blob(...,
overwrite=True)` may replace a blob, so `blobs/add/action` is no longer enough): a `Variant` adds the
requirements of a literal argument value, and of an argument the code computes (a value it cannot
read is taken to be the one that needs more). Methods Azure never allows an Entra token to call
(Cosmos DB's control plane) carry the reason in `refused`, which no declaration can change.

Methods that send no request (`get_blob_client`, `get_container_client`, `get_database_client`,
`close`, `from_connection_string`, ...) are not in the table; neither is `send_request`, which sends
whatever request it is given. Constructors are not either: the Cosmos client reads the account's
metadata when it starts, which every Cosmos method's `readMetadata` requirement covers already.

Where the local services already authorise each REST operation (the Blob gateway's table of
Microsoft's "Permissions for Blob service operations", the Key Vault fake's data action per secrets
operation), the requirements come from their tables, so the check and the local stack cannot drift
apart. The sources of each service are named at the top of its section below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from devstack.blob_gateway import operations as blob_rest
from devstack.keyvault import rbac as vault_rbac
from devstack.keyvault import routes as vault_routes

KEYVAULT = "keyvault"
BLOB = "blob"
COSMOS = "cosmos"

# The public classes, the service they call, and the package they live in (a receiver's type is
# matched by class name within that package, `azure.cosmos.aio._container.ContainerProxy` included).
CLASSES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "SecretClient": (KEYVAULT, "azure.keyvault.secrets"),
        "BlobServiceClient": (BLOB, "azure.storage.blob"),
        "ContainerClient": (BLOB, "azure.storage.blob"),
        "BlobClient": (BLOB, "azure.storage.blob"),
        "BlobLeaseClient": (BLOB, "azure.storage.blob"),
        "CosmosClient": (COSMOS, "azure.cosmos"),
        "DatabaseProxy": (COSMOS, "azure.cosmos"),
        "ContainerProxy": (COSMOS, "azure.cosmos"),
        "ScriptsProxy": (COSMOS, "azure.cosmos"),
    }
)


@dataclass(frozen=True)
class Permission:
    action: str
    # False: a control-plane action (a role's `actions`, not its `dataActions`) that the service
    # nevertheless checks on a data-plane request, as Blob Storage does for container operations.
    data_action: bool = True
    # Enough only to create what does not exist yet (`blobs/add/action` for a new blob).
    new_only: bool = False

    def describe(self) -> str:
        kind = "" if self.data_action else " (a control-plane action)"
        return f"{self.action}{kind}{' (for a new blob only)' if self.new_only else ''}"


@dataclass(frozen=True)
class Requirement:
    """Met by any one of its permissions."""

    any_of: frozenset[Permission]

    @classmethod
    def of(cls, *permissions: Permission) -> Requirement:
        return cls(frozenset(permissions))

    @property
    def alternatives(self) -> list[Permission]:
        """The permissions, the one enough in every case first."""
        return sorted(self.any_of, key=lambda p: (p.new_only, not p.data_action, p.action))

    def describe(self) -> str:
        return " or ".join(p.describe() for p in self.alternatives)


class _NotLiteral:
    """An argument whose value the code computes: it could be anything."""

    _instance: _NotLiteral | None = None

    def __new__(cls) -> _NotLiteral:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_LITERAL"


NOT_LITERAL: Final = _NotLiteral()


@dataclass(frozen=True)
class Arguments:
    """A call's arguments as far as they are literals: True/False/None, numbers, strings, enum members
    as "Class.MEMBER", tuples of those (lists too); `NOT_LITERAL` for anything else."""

    positional: tuple[object, ...] = ()
    keywords: Mapping[str, object] = field(default_factory=dict)
    spread: bool = False  # *args or **kwargs: any argument not written out may be passed too

    def get(self, keyword: str, position: int | None) -> object | None:
        """The argument's literal value, NOT_LITERAL, or None when it is certainly not passed.

        (A literal None is returned as None too: to the SDKs an explicit None means "the default".)
        """
        if keyword in self.keywords:
            return self.keywords[keyword]
        if position is not None and position < len(self.positional):
            return self.positional[position]
        return NOT_LITERAL if self.spread else None


@dataclass(frozen=True)
class Variant:
    """More requirements when an argument has one of `values`, or a value the code computes."""

    keyword: str
    values: tuple[object, ...]
    requirements: tuple[Requirement, ...]
    label: str  # what the call then is: "overwrite=True"
    position: int | None = None  # where the argument goes when passed positionally (self not counted)

    def applies(self, arguments: Arguments) -> bool:
        value = arguments.get(self.keyword, self.position)
        return value is NOT_LITERAL or value in self.values


@dataclass(frozen=True)
class Needs:
    """What one call needs, its arguments considered."""

    operation: str  # the REST operation(s) it sends, as Microsoft's tables name them
    requirements: tuple[Requirement, ...]
    refused: str | None = None  # never allowed to an Entra token, and why: no declaration helps
    undetermined: str | None = None  # the actions depend on something the code does not spell out


@dataclass(frozen=True)
class SdkMethod:
    service: str
    cls: str
    method: str
    operation: str
    requirements: tuple[Requirement, ...] = ()
    refused: str | None = None
    variants: tuple[Variant, ...] = ()
    # execute_item_batch: the permission of each kind of operation a batch may hold; the batch needs
    # those of the operations it holds, which the code must spell out as literals.
    batch: Mapping[str, Permission] | None = None

    @property
    def name(self) -> str:
        return f"{self.cls}.{self.method}"

    def needs(self, arguments: Arguments | None = None) -> Needs:
        arguments = arguments or Arguments()
        if self.refused is not None:
            return Needs(self.operation, (), refused=self.refused)
        requirements = list(self.requirements)
        labels = []
        for variant in self.variants:
            if variant.applies(arguments):
                requirements += variant.requirements
                labels.append(variant.label)
        operation = f"{self.operation} ({', '.join(labels)})" if labels else self.operation
        if self.batch is not None:
            kinds = _batch_kinds(arguments.get("batch_operations", 0))
            if kinds is None or not kinds <= self.batch.keys():
                return Needs(
                    operation,
                    tuple(_unique(requirements)),
                    undetermined="its operations are not a literal list of ('create' | 'upsert' | 'replace' | "
                    "'read' | 'delete' | 'patch', ...) tuples, so which item actions it needs cannot be told",
                )
            requirements += [Requirement.of(self.batch[kind]) for kind in sorted(kinds)]
        return Needs(operation, tuple(_unique(requirements)))


def _batch_kinds(value: object) -> set[str] | None:
    if not isinstance(value, tuple):
        return None
    kinds = set()
    for operation in value:
        if not isinstance(operation, tuple) or not operation or not isinstance(operation[0], str):
            return None
        kinds.add(operation[0].lower())
    return kinds


def _unique(requirements: Iterable[Requirement]) -> list[Requirement]:
    return list(dict.fromkeys(requirements))


def lookup(cls: str, method: str) -> SdkMethod | None:
    return SDK_METHODS.get((cls, method))


def methods_of(service: str) -> list[SdkMethod]:
    return [m for m in SDK_METHODS.values() if m.service == service]


def permissions_of(service: str) -> set[Permission]:
    """Every permission the table names for a service (new-only or not): what "narrowest role" counts."""
    found: set[Permission] = set()
    for method in methods_of(service):
        requirements = [*method.requirements, *(r for v in method.variants for r in v.requirements)]
        found |= {Permission(p.action, p.data_action) for r in requirements for p in r.any_of}
        found |= {Permission(p.action, p.data_action) for p in (method.batch or {}).values()}
    return found


_TABLE: list[SdkMethod] = []


def _add(
    service: str,
    classes: str,
    methods: str,
    operation: str,
    *requirements: Requirement,
    refused: str | None = None,
    variants: tuple[Variant, ...] = (),
    batch: Mapping[str, Permission] | None = None,
) -> None:
    """One row per class and method: `classes` and `methods` are space-separated lists."""
    for cls in classes.split():
        for method in methods.split():
            _TABLE.append(SdkMethod(service, cls, method, operation, requirements, refused, variants, batch))


# ==== Key Vault secrets ==============================================================================
# Source: "Azure permissions for Security", Microsoft.KeyVault DataActions
# (https://learn.microsoft.com/azure/role-based-access-control/permissions/security#microsoftkeyvault):
# secrets/getSecret/action "Gets the value of a secret", readMetadata/action "List or view the
# properties of a secret, but not its value", setSecret/action, update/action, delete, backup/action,
# restore/action, recover/action, purge/action; and the Key Vault RBAC guide
# (https://learn.microsoft.com/azure/key-vault/general/rbac-guide), whose built-in roles group them.
# Which secrets operation needs which is the Key Vault fake's table (devstack/keyvault/rbac.py), the
# operations being the REST API's (Security.KeyVault.Secrets). No data action names deleted secrets:
# reading them is taken to need readMetadata (as the fake does; not confirmed by a recorded 403).
# The delete and recover pollers read the secret while they wait and take a 403 as "done"
# (azure/keyvault/secrets/_shared/_polling.py), so those reads need nothing more.


def _secret_operation(route: str) -> Requirement:
    return Requirement.of(Permission(vault_rbac.REQUIREMENTS[route].action))


_KEYVAULT_METHODS = {
    "get_secret": ("Get Secret", vault_routes.GET_SECRET),
    "set_secret": ("Set Secret", vault_routes.SET_SECRET),
    "update_secret_properties": ("Update Secret", vault_routes.UPDATE_SECRET),
    "list_properties_of_secrets": ("Get Secrets", vault_routes.GET_SECRETS),
    "list_properties_of_secret_versions": ("Get Secret Versions", vault_routes.GET_SECRET_VERSIONS),
    "begin_delete_secret": ("Delete Secret", vault_routes.DELETE_SECRET),  # sync
    "delete_secret": ("Delete Secret", vault_routes.DELETE_SECRET),  # aio
    "get_deleted_secret": ("Get Deleted Secret", vault_routes.GET_DELETED_SECRET),
    "list_deleted_secrets": ("Get Deleted Secrets", vault_routes.GET_DELETED_SECRETS),
    "begin_recover_deleted_secret": ("Recover Deleted Secret", vault_routes.RECOVER_DELETED_SECRET),  # sync
    "recover_deleted_secret": ("Recover Deleted Secret", vault_routes.RECOVER_DELETED_SECRET),  # aio
    "purge_deleted_secret": ("Purge Deleted Secret", vault_routes.PURGE_DELETED_SECRET),
    "backup_secret": ("Backup Secret", vault_routes.BACKUP_SECRET),
    "restore_secret_backup": ("Restore Secret", vault_routes.RESTORE_SECRET),
}
for _method, (_operation, _route) in _KEYVAULT_METHODS.items():
    _add(KEYVAULT, "SecretClient", _method, _operation, _secret_operation(_route))


# ==== Blob Storage ===================================================================================
# Source: "Authorize with Microsoft Entra ID", section "Permissions for calling data operations" /
# "Permissions for Blob service operations"
# (https://learn.microsoft.com/rest/api/storageservices/authorize-with-azure-active-directory): REST
# operation -> permission, as the Blob gateway enforces it (devstack/blob_gateway/operations.py reads
# it row by row). "X or Y": either is enough; Put Blob's "To create new blob: .../add/action" is enough
# only for a blob that does not exist yet (upload_blob's default `overwrite=False` sends If-None-Match:
# *, so it never replaces one). Container operations (create, delete, properties, metadata, lease,
# restore) and Blob Batch's parent request are control-plane *actions* (`containers/write|read|delete`);
# List Blobs is the data action `containers/blobs/read`. Which REST operation(s) each SDK method sends
# is read from azure-storage-blob's sources (`_generated` operations it calls).
# Not modelled: a copy's source read (`blobs/read` "for source blob in the same storage account"; a
# URL's account is not known statically), and that an upload larger than `max_single_put_size`
# (64 MiB by default) goes as Put Block + Put Block List, which need `blobs/write` whatever
# `overwrite` says.

_BLOB_RULES: Mapping[str, blob_rest.Rule] = MappingProxyType(
    {
        rule.name: rule
        for table in (blob_rest.ACCOUNT_RULES, blob_rest.CONTAINER_RULES, blob_rest.BLOB_RULES)
        for rule in table.values()
    }
    | {blob_rest.ACCOUNT_INFORMATION.name: blob_rest.ACCOUNT_INFORMATION}
)


def _blob_permission(permission: blob_rest.Permission) -> Permission:
    return Permission(permission.action, permission.data_action, permission.new_blob_only)


def _rest(name: str) -> Requirement:
    """The requirement of a REST operation, as the gateway's table has it."""
    return Requirement(frozenset(_blob_permission(p) for p in _BLOB_RULES[name].any_of))


BLOB_WRITE = _blob_permission(blob_rest.WRITE)
BLOB_READ = _blob_permission(blob_rest.READ)
BLOB_ADD = _blob_permission(blob_rest.ADD)
BLOB_CREATE = _blob_permission(blob_rest.ADD_NEW_BLOB)
CONTAINER_WRITE = _blob_permission(blob_rest.CONTAINER_WRITE)
# Put Blob, Put Blob from URL, the copies: "For create or replace: write; to create new blob: add/action".
_PUT_BLOB = Requirement.of(BLOB_WRITE, BLOB_CREATE)
_OVERWRITE = Variant("overwrite", (True,), (Requirement.of(BLOB_WRITE),), "overwrite=True")
# upload_blob(blob_type=...): a page blob is Put Blob and Put Page (blobs/write); an append blob, Put
# Blob and Append Block (write or add/action). BlobType is a str enum: "PageBlob", BlobType.PAGEBLOB.


def _blob_type_variants(position: int) -> tuple[Variant, ...]:
    """`blob_type` is ContainerClient.upload_blob's third parameter and BlobClient.upload_blob's second."""
    page = Variant("blob_type", ("PageBlob", "BlobType.PAGEBLOB"), (_rest("Put Page"),), "a page blob", position)
    append = ("AppendBlob", "BlobType.APPENDBLOB")
    return page, Variant("blob_type", append, (_rest("Append Block"),), "an append blob", position)


_add(BLOB, "BlobServiceClient", "list_containers", "List Containers", _rest("List Containers"))
_add(
    BLOB,
    "BlobServiceClient",
    "get_service_properties",
    "Get Blob Service Properties",
    _rest("Get Blob Service Properties"),
)
_add(
    BLOB,
    "BlobServiceClient",
    "set_service_properties",
    "Set Blob Service Properties",
    _rest("Set Blob Service Properties"),
)
_add(BLOB, "BlobServiceClient", "get_service_stats", "Get Blob Service Stats", _rest("Get Blob Service Stats"))
_add(BLOB, "BlobServiceClient", "get_user_delegation_key", "Get User Delegation Key", _rest("Get User Delegation Key"))
_add(BLOB, "BlobServiceClient", "find_blobs_by_tags", "Find Blobs by Tags", _rest("Find Blobs by Tags"))
_add(BLOB, "BlobServiceClient", "undelete_container", "Restore Container", _rest("Restore Container"))
_add(
    BLOB,
    "BlobServiceClient ContainerClient BlobClient",
    "get_account_information",
    "Get Account Information",
    _rest("Get Account Information"),
)
_add(BLOB, "BlobServiceClient ContainerClient", "create_container", "Create Container", _rest("Create Container"))
_add(BLOB, "BlobServiceClient ContainerClient", "delete_container", "Delete Container", _rest("Delete Container"))

_add(
    BLOB,
    "ContainerClient",
    "get_container_properties exists",
    "Get Container Properties",
    _rest("Get Container Properties"),
)
_add(BLOB, "ContainerClient", "set_container_metadata", "Set Container Metadata", _rest("Set Container Metadata"))
_add(BLOB, "ContainerClient", "get_container_access_policy", "Get Container ACL", _rest("Get Container ACL"))
_add(BLOB, "ContainerClient", "set_container_access_policy", "Set Container ACL", _rest("Set Container ACL"))
_add(BLOB, "ContainerClient", "acquire_lease", "Lease Container", _rest("Lease Container"))
_add(BLOB, "ContainerClient", "list_blobs list_blob_names walk_blobs", "List Blobs", _rest("List Blobs"))
_add(
    BLOB,
    "ContainerClient",
    "find_blobs_by_tags",
    "Find Blobs by Tags in Container",
    _rest("Find Blobs by Tags in Container"),
)
# Blob Batch: "Parent request: containers/write. Sub-requests: see permissions for that request type."
_add(BLOB, "ContainerClient", "delete_blobs", "Blob Batch of Delete Blob", _rest("Blob Batch"), _rest("Delete Blob"))
_add(
    BLOB,
    "ContainerClient",
    "set_standard_blob_tier_blobs set_premium_page_blob_tier_blobs",
    "Blob Batch of Set Blob Tier",
    _rest("Blob Batch"),
    _rest("Set Blob Tier"),
)

_add(BLOB, "ContainerClient", "upload_blob", "Put Blob", _PUT_BLOB, variants=(_OVERWRITE, *_blob_type_variants(2)))
_add(BLOB, "BlobClient", "upload_blob", "Put Blob", _PUT_BLOB, variants=(_OVERWRITE, *_blob_type_variants(1)))
_add(BLOB, "ContainerClient BlobClient", "download_blob", "Get Blob", _rest("Get Blob"))
_add(BLOB, "ContainerClient BlobClient", "delete_blob", "Delete Blob", _rest("Delete Blob"))

_add(BLOB, "BlobClient", "get_blob_properties exists", "Get Blob Properties", _rest("Get Blob Properties"))
_add(
    BLOB,
    "BlobClient",
    "set_http_headers resize_blob set_sequence_number",
    "Set Blob Properties",
    _rest("Set Blob Properties"),
)
_add(BLOB, "BlobClient", "set_blob_metadata", "Set Blob Metadata", _rest("Set Blob Metadata"))
_add(BLOB, "BlobClient", "get_blob_tags", "Get Blob Tags", _rest("Get Blob Tags"))
_add(BLOB, "BlobClient", "set_blob_tags", "Set Blob Tags", _rest("Set Blob Tags"))
_add(BLOB, "BlobClient", "acquire_lease", "Lease Blob", _rest("Lease Blob"))
_add(BLOB, "BlobClient", "create_snapshot", "Snapshot Blob", _rest("Snapshot Blob"))
_add(BLOB, "BlobClient", "upload_blob_from_url", "Put Blob from URL", _PUT_BLOB, variants=(_OVERWRITE,))
# start_copy_from_url: Copy Blob; Copy Blob from URL with requires_sync=True; Incremental Copy Blob with
# incremental_copy=True. All three write the destination with write, or add/action for a new blob.
_add(BLOB, "BlobClient", "start_copy_from_url", "Copy Blob", _PUT_BLOB)
_add(BLOB, "BlobClient", "abort_copy", "Abort Copy Blob", _rest("Abort Copy Blob"))
_add(BLOB, "BlobClient", "undelete_blob", "Undelete Blob", _rest("Undelete Blob"))
_add(BLOB, "BlobClient", "set_standard_blob_tier set_premium_page_blob_tier", "Set Blob Tier", _rest("Set Blob Tier"))
_add(BLOB, "BlobClient", "set_immutability_policy", "Set Immutability Policy", _rest("Set Immutability Policy"))
_add(
    BLOB, "BlobClient", "delete_immutability_policy", "Delete Immutability Policy", _rest("Delete Immutability Policy")
)
_add(BLOB, "BlobClient", "set_legal_hold", "Set Blob Legal Hold", _rest("Set Blob Legal Hold"))
_add(BLOB, "BlobClient", "stage_block", "Put Block", _rest("Put Block"))
_add(BLOB, "BlobClient", "stage_block_from_url", "Put Block from URL", _rest("Put Block"))
_add(BLOB, "BlobClient", "commit_block_list", "Put Block List", _rest("Put Block List"))
_add(BLOB, "BlobClient", "get_block_list", "Get Block List", _rest("Get Block List"))
_add(BLOB, "BlobClient", "query_blob", "Query Blob Contents", _rest("Query Blob Contents"))
_add(BLOB, "BlobClient", "create_page_blob create_append_blob", "Put Blob", _PUT_BLOB)
_add(BLOB, "BlobClient", "upload_page clear_page", "Put Page", _rest("Put Page"))
_add(BLOB, "BlobClient", "upload_pages_from_url", "Put Page from URL", _rest("Put Page"))
_add(
    BLOB,
    "BlobClient",
    "get_page_ranges list_page_ranges get_page_range_diff_for_managed_disk",
    "Get Page Ranges",
    _rest("Get Page Ranges"),
)
_add(BLOB, "BlobClient", "append_block", "Append Block", _rest("Append Block"))
_add(BLOB, "BlobClient", "append_block_from_url", "Append Block from URL", _rest("Append Block"))
# Append Blob Seal (PUT ?comp=seal) has no row in Microsoft's table: taken to be a write of the blob's
# properties, like Set Blob Properties (not confirmed).
_add(BLOB, "BlobClient", "seal_append_blob", "Append Blob Seal", Requirement.of(BLOB_WRITE))
# A lease client leases the blob or the container it was made from; which one is not in its type:
# Lease Blob (blobs/write) or Lease Container (containers/write).
_add(
    BLOB,
    "BlobLeaseClient",
    "acquire renew release change break_lease",
    "Lease Blob or Lease Container",
    Requirement(_rest("Lease Blob").any_of | _rest("Lease Container").any_of),
)


# ==== Cosmos DB for NoSQL ============================================================================
# Source: "Azure Cosmos DB for NoSQL data plane security reference" / "data plane actions reference"
# (https://learn.microsoft.com/azure/cosmos-db/reference-data-plane-security) and "Configure
# role-based access control with Microsoft Entra ID" (.../cosmos-db/how-to-setup-rbac), permission
# model: readMetadata, items/create|read|replace|upsert|delete, executeQuery, readChangeFeed,
# executeStoredProcedure, manageConflicts. The SDK reads the account's and the container's metadata
# (regions, partition key, partition key ranges) before and during data calls: "This action should
# be allowed in every situation where your Azure Cosmos DB account is accessed through one of the
# Azure Cosmos DB SDKs", so every Cosmos method needs readMetadata too.
# "This permission model ... does not cover any kind of management operations: Create/Replace/Delete
# Database, Create/Replace/Delete Container, Read/Replace Container Throughput, Create/Replace/Delete/
# Read Stored Procedures, Triggers, User Defined Functions": the service refuses them to Entra tokens
# (403, substatus 5300) whatever role is assigned, so they are `refused`. Read Database and Read
# Container are metadata requests (readMetadata).
# Queries: the reference's note says SDK queries need executeQuery *and* readChangeFeed. The SDK team's
# explanation (Azure/azure-cosmos-dotnet-v3#2927) is that a query with text is executeQuery and that
# reading a container's items without a query (ReadFeed: read_all_items, or query_items with no query)
# is authorised as readChangeFeed; the local Cosmos DB front end does the same (devstack/cosmos_gateway/permissions.py).
# query_items is mapped to executeQuery, read_all_items to readChangeFeed.
# Not in the reference, taken as the local server takes them (not confirmed against the service):
# patch_item as items/replace (it changes an existing item, as a replace does); users and permissions
# as refused (they serve resource tokens, and no data action names them).

_COSMOS = "Microsoft.DocumentDB/databaseAccounts"
_CONTAINERS = f"{_COSMOS}/sqlDatabases/containers"
READ_METADATA = Permission(f"{_COSMOS}/readMetadata")
_METADATA = Requirement.of(READ_METADATA)
ITEMS_CREATE = Permission(f"{_CONTAINERS}/items/create")
ITEMS_READ = Permission(f"{_CONTAINERS}/items/read")
ITEMS_REPLACE = Permission(f"{_CONTAINERS}/items/replace")
ITEMS_UPSERT = Permission(f"{_CONTAINERS}/items/upsert")
ITEMS_DELETE = Permission(f"{_CONTAINERS}/items/delete")
EXECUTE_QUERY = Permission(f"{_CONTAINERS}/executeQuery")
READ_CHANGE_FEED = Permission(f"{_CONTAINERS}/readChangeFeed")
EXECUTE_STORED_PROCEDURE = Permission(f"{_CONTAINERS}/executeStoredProcedure")
MANAGE_CONFLICTS = Permission(f"{_CONTAINERS}/manageConflicts")
_BATCH = MappingProxyType(
    {
        "create": ITEMS_CREATE,
        "upsert": ITEMS_UPSERT,
        "replace": ITEMS_REPLACE,
        "read": ITEMS_READ,
        "delete": ITEMS_DELETE,
        "patch": ITEMS_REPLACE,
    }
)

_CREATE_IN_INFRA = "this is a control-plane operation: create it in infra/, not from the code"
_DELETE_IN_INFRA = "this is a control-plane operation: remove it from infra/, not from the code"
_CHANGE_IN_INFRA = "this is a control-plane operation: change it in infra/, not from the code"
_THROUGHPUT = "this is a control-plane operation (throughput): read or set it in infra/, not from the code"
_SCRIPTS = (
    "this is a control-plane operation (stored procedures, triggers, UDFs): deploy them with infra/, not from the code"
)
_USERS = (
    "users and permissions serve resource tokens: no data action allows them to an Entra token "
    "(manage them with the account key, not from this code)"
)


def _cosmos(classes: str, methods: str, operation: str, *actions: Permission, refused: str | None = None) -> None:
    """Cosmos rows: readMetadata and `actions`, each needed; or refused, needing nothing that helps."""
    requirements = () if refused else (_METADATA, *(Requirement.of(a) for a in actions))
    _add(COSMOS, classes, methods, operation, *requirements, refused=refused)


_cosmos("CosmosClient", "create_database create_database_if_not_exists", "Create Database", refused=_CREATE_IN_INFRA)
_cosmos("CosmosClient", "delete_database", "Delete Database", refused=_DELETE_IN_INFRA)
_cosmos("CosmosClient", "get_database_account", "Get Database Account")  # sync only
_cosmos("CosmosClient", "list_databases query_databases", "List Databases")
_cosmos("DatabaseProxy", "read", "Get Database")
_cosmos("DatabaseProxy", "list_containers query_containers", "List Collections")
_cosmos(
    "DatabaseProxy", "create_container create_container_if_not_exists", "Create Collection", refused=_CREATE_IN_INFRA
)
_cosmos("DatabaseProxy", "delete_container", "Delete Collection", refused=_DELETE_IN_INFRA)
_cosmos("DatabaseProxy", "replace_container", "Replace Collection", refused=_CHANGE_IN_INFRA)
_cosmos("DatabaseProxy ContainerProxy", "get_throughput read_offer replace_throughput", "Offers", refused=_THROUGHPUT)
_cosmos(
    "DatabaseProxy", "create_user upsert_user replace_user delete_user list_users query_users", "Users", refused=_USERS
)
_cosmos(
    "ContainerProxy",
    "read read_feed_ranges feed_range_from_partition_key get_latest_session_token",
    "Get Collection / Partition Key Ranges",
)
_cosmos("ContainerProxy", "create_item", "Create Document", ITEMS_CREATE)
_cosmos("ContainerProxy", "read_item", "Get Document", ITEMS_READ)
_cosmos("ContainerProxy", "replace_item", "Replace Document", ITEMS_REPLACE)
_cosmos("ContainerProxy", "upsert_item", "Upsert Document", ITEMS_UPSERT)
_cosmos("ContainerProxy", "delete_item", "Delete Document", ITEMS_DELETE)
_cosmos("ContainerProxy", "patch_item", "Patch Document", ITEMS_REPLACE)
_cosmos("ContainerProxy", "query_items", "Query Documents", EXECUTE_QUERY)
_cosmos("ContainerProxy", "read_all_items", "List Documents (ReadFeed)", READ_CHANGE_FEED)
_cosmos("ContainerProxy", "query_items_change_feed", "Change Feed", READ_CHANGE_FEED)
# read_items: one item per partition is a point read, several a query (aio/_read_items_helper_async.py).
_cosmos("ContainerProxy", "read_items", "Get Document / Query Documents", ITEMS_READ, EXECUTE_QUERY)
_cosmos("ContainerProxy", "list_conflicts query_conflicts get_conflict delete_conflict", "Conflicts", MANAGE_CONFLICTS)
_add(COSMOS, "ContainerProxy", "execute_item_batch", "Transactional Batch", _METADATA, batch=_BATCH)
_cosmos(
    "ContainerProxy",
    "delete_all_items_by_partition_key",
    "Delete All Items by Partition Key",
    refused="Cosmos DB's data-plane reference names no data action for it (POST .../operations/"
    "partitionkeydelete), so no role can allow it to an Entra token (not confirmed against the service)",
)
_cosmos(
    "ContainerProxy",
    "semantic_rerank",
    "Semantic Rerank",
    refused="it calls Cosmos DB's semantic reranking inference service (token scope https://dbinference.azure.com), "
    "not the account's data plane: its access is not modelled here",
)
_cosmos("ScriptsProxy", "execute_stored_procedure", "Execute Stored Procedure", EXECUTE_STORED_PROCEDURE)
_cosmos(
    "ScriptsProxy",
    " ".join(
        f"{verb}_{kind}"
        for verb in ("create", "replace", "delete", "get")
        for kind in ("stored_procedure", "trigger", "user_defined_function")
    )
    + " "
    + " ".join(
        f"{verb}_{kinds}"
        for verb in ("list", "query")
        for kinds in ("stored_procedures", "triggers", "user_defined_functions")
    ),
    "Stored Procedures / Triggers / UDFs",
    refused=_SCRIPTS,
)


SDK_METHODS: Mapping[tuple[str, str], SdkMethod] = MappingProxyType({(m.cls, m.method): m for m in _TABLE})
if len(SDK_METHODS) != len(_TABLE):  # pragma: no cover - a row written twice
    raise AssertionError("devstack.sdk_actions maps a method twice")


def counts() -> dict[str, int]:
    """Mapped (class, method) pairs per service."""
    return {service: len(methods_of(service)) for service in (KEYVAULT, BLOB, COSMOS)}
