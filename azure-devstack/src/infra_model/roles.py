"""The role definitions infra/ assigns, as Azure publishes them: what each one permits.

Built-in Azure RBAC roles are the same in every tenant; their permissions are copied here from
"Azure built-in roles" (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles),
its pages for Storage (.../built-in-roles/storage), Security (.../built-in-roles/security) and
Monitor (.../built-in-roles/monitor). The Cosmos DB built-in data-plane roles come from "Azure
Cosmos DB for NoSQL data plane security reference"
(https://learn.microsoft.com/azure/cosmos-db/reference-data-plane-security, formerly under
.../cosmos-db/nosql/). Custom roles are not listed here: they are `roleDefinitions` (Azure RBAC) or
`sqlRoleDefinitions` (Cosmos DB) in the Bicep, and the deployment model reads them from there.

Only roles infra/ uses are listed, plus the two Readers that the enforcement tests narrow grants to.
An assignment of any other role is an error of the model, not a silent "allow nothing", so adding a
role to the Bicep means adding its definition here.
"""

from __future__ import annotations

from dataclasses import dataclass

_BLOB = "Microsoft.Storage/storageAccounts/blobServices"
_QUEUE = "Microsoft.Storage/storageAccounts/queueServices"
_TABLE = "Microsoft.Storage/storageAccounts/tableServices"
_SECRETS = "Microsoft.KeyVault/vaults/secrets"
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"


@dataclass(frozen=True)
class RoleDefinition:
    """A role's permissions. Control-plane `actions` matter to data-plane calls too: Blob Storage
    authorises container operations (create, get properties) against them."""

    id: str  # the GUID of a built-in role; the full resource id of a custom one
    name: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


BUILT_IN_ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        id="b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        name="Storage Blob Data Owner",
        actions=(f"{_BLOB}/containers/*", f"{_BLOB}/generateUserDelegationKey/action"),
        data_actions=(f"{_BLOB}/containers/blobs/*",),
    ),
    RoleDefinition(
        id="ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        name="Storage Blob Data Contributor",
        actions=(
            f"{_BLOB}/containers/delete",
            f"{_BLOB}/containers/read",
            f"{_BLOB}/containers/write",
            f"{_BLOB}/generateUserDelegationKey/action",
        ),
        data_actions=(
            f"{_BLOB}/containers/blobs/delete",
            f"{_BLOB}/containers/blobs/read",
            f"{_BLOB}/containers/blobs/write",
            f"{_BLOB}/containers/blobs/move/action",
            f"{_BLOB}/containers/blobs/add/action",
        ),
    ),
    RoleDefinition(
        id="2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        name="Storage Blob Data Reader",
        actions=(f"{_BLOB}/containers/read", f"{_BLOB}/generateUserDelegationKey/action"),
        data_actions=(f"{_BLOB}/containers/blobs/read",),
    ),
    RoleDefinition(
        id="974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        name="Storage Queue Data Contributor",
        actions=(f"{_QUEUE}/queues/delete", f"{_QUEUE}/queues/read", f"{_QUEUE}/queues/write"),
        data_actions=(
            f"{_QUEUE}/queues/messages/delete",
            f"{_QUEUE}/queues/messages/read",
            f"{_QUEUE}/queues/messages/write",
            f"{_QUEUE}/queues/messages/process/action",
        ),
    ),
    RoleDefinition(
        id="0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
        name="Storage Table Data Contributor",
        actions=(f"{_TABLE}/tables/read", f"{_TABLE}/tables/write", f"{_TABLE}/tables/delete"),
        data_actions=(
            f"{_TABLE}/tables/entities/read",
            f"{_TABLE}/tables/entities/write",
            f"{_TABLE}/tables/entities/delete",
            f"{_TABLE}/tables/entities/add/action",
            f"{_TABLE}/tables/entities/update/action",
        ),
    ),
    RoleDefinition(
        id="4633458b-17de-408a-b874-0445c86b69e6",
        name="Key Vault Secrets User",
        data_actions=(f"{_SECRETS}/getSecret/action", f"{_SECRETS}/readMetadata/action"),
    ),
    RoleDefinition(
        id="b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        name="Key Vault Secrets Officer",
        actions=(
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ),
        data_actions=(f"{_SECRETS}/*",),
    ),
    RoleDefinition(
        id="3913510d-42f4-4e42-8a64-420c390055eb",
        name="Monitoring Metrics Publisher",
        actions=(
            "Microsoft.Insights/Register/Action",
            "Microsoft.Support/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        ),
        data_actions=("Microsoft.Insights/Metrics/Write", "Microsoft.Insights/Telemetry/Write"),
    ),
    # Monitor page: read and query every table of a workspace, never its shared keys. What a log
    # search alert rule's identity needs on the workspace it queries.
    RoleDefinition(
        id="73c42c96-874c-492b-b04d-ab87d138a893",
        name="Log Analytics Reader",
        actions=(
            "*/read",
            "Microsoft.OperationalInsights/workspaces/analytics/query/action",
            "Microsoft.OperationalInsights/workspaces/search/action",
            "Microsoft.Support/*",
        ),
        not_actions=("Microsoft.OperationalInsights/workspaces/sharedKeys/read",),
    ),
)

# Cosmos DB's built-in data-plane roles: sqlRoleDefinitions every account has, under these names.
COSMOS_BUILT_IN_ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        id="00000000-0000-0000-0000-000000000001",
        name="Cosmos DB Built-in Data Reader",
        data_actions=(
            f"{_COSMOS}/readMetadata",
            f"{_COSMOS}/sqlDatabases/containers/executeQuery",
            f"{_COSMOS}/sqlDatabases/containers/readChangeFeed",
            f"{_COSMOS}/sqlDatabases/containers/items/read",
        ),
    ),
    RoleDefinition(
        id="00000000-0000-0000-0000-000000000002",
        name="Cosmos DB Built-in Data Contributor",
        data_actions=(
            f"{_COSMOS}/readMetadata",
            f"{_COSMOS}/sqlDatabases/containers/*",
            f"{_COSMOS}/sqlDatabases/containers/items/*",
        ),
    ),
)


def built_in_role(role_id: str) -> RoleDefinition:
    """An Azure RBAC built-in role by its GUID (the last segment of a roleDefinitionId)."""
    for role in BUILT_IN_ROLES:
        if role.id == role_id.lower():
            return role
    raise KeyError(f"role definition {role_id} is not in infra_model.roles: add its published permissions there")


def cosmos_built_in_role(role_id: str) -> RoleDefinition | None:
    return next((role for role in COSMOS_BUILT_IN_ROLES if role.id == role_id), None)
