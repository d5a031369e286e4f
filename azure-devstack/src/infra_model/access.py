"""The role assignments of an evaluated deployment, as the services' RBAC sees them.

Two kinds exist in infra/: Azure RBAC `roleAssignments` (storage, Key Vault, Application Insights),
whose role is a built-in role definition or a custom `roleDefinitions` resource declared in the Bicep,
and whose scope is the resource they are deployed at; and Cosmos DB `sqlRoleAssignments`, whose role is
one of the account's `sqlRoleDefinitions` (built in, or declared in the Bicep) and whose scope is a
data-plane path below the account.

A custom role is found by its GUID, the last segment of the assignment's roleDefinitionId, whichever
scope the id is written at (Azure gives a role definition deployed in a resource group the
subscription-level id `/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>`).
"""

from __future__ import annotations

from infra_model.authorization import Assignment, Authorizer
from infra_model.deployment import DeployedResource, Deployment
from infra_model.roles import RoleDefinition, built_in_role, cosmos_built_in_role

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITION = "Microsoft.Authorization/roleDefinitions"
COSMOS_ROLE_ASSIGNMENT = "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
COSMOS_ROLE_DEFINITION = "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions"


def authorizer(deployment: Deployment) -> Authorizer:
    return Authorizer(assignments(deployment))


def assignments(deployment: Deployment) -> list[Assignment]:
    found = [_rbac(deployment, r) for r in deployment.of_type(ROLE_ASSIGNMENT)]
    found += [_cosmos(deployment, r) for r in deployment.of_type(COSMOS_ROLE_ASSIGNMENT)]
    return found


def _rbac(deployment: Deployment, resource: DeployedResource) -> Assignment:
    role_id = str(resource.properties["roleDefinitionId"]).rsplit("/", 1)[-1]
    role = _custom_rbac_role(deployment, role_id) or built_in_role(role_id)
    return Assignment(str(resource.properties["principalId"]), role, resource.scope, resource.source, resource.id)


def _custom_rbac_role(deployment: Deployment, role_id: str) -> RoleDefinition | None:
    for resource in deployment.of_type(ROLE_DEFINITION):
        if resource.short_name.lower() == role_id.lower():
            return _definition(resource.id, str(resource.properties.get("roleName", resource.short_name)), resource)
    return None


def _definition(role_id: str, name: str, resource: DeployedResource) -> RoleDefinition:
    permissions = resource.properties.get("permissions", [])
    return RoleDefinition(
        id=role_id,
        name=name,
        actions=tuple(a for p in permissions for a in p.get("actions", [])),
        not_actions=tuple(a for p in permissions for a in p.get("notActions", [])),
        data_actions=tuple(a for p in permissions for a in p.get("dataActions", [])),
        not_data_actions=tuple(a for p in permissions for a in p.get("notDataActions", [])),
    )


def _cosmos(deployment: Deployment, resource: DeployedResource) -> Assignment:
    definition_id = str(resource.properties["roleDefinitionId"])
    role = cosmos_built_in_role(definition_id.rsplit("/", 1)[-1]) or _custom_cosmos_role(deployment, definition_id)
    scope = str(resource.properties["scope"])
    return Assignment(str(resource.properties["principalId"]), role, scope, resource.source, resource.id)


def _custom_cosmos_role(deployment: Deployment, definition_id: str) -> RoleDefinition:
    for resource in deployment.of_type(COSMOS_ROLE_DEFINITION):
        if resource.id.lower() == definition_id.lower():
            return _definition(resource.id, str(resource.properties.get("roleName", resource.short_name)), resource)
    raise KeyError(f"{definition_id} is neither a built-in Cosmos DB role nor a sqlRoleDefinition in infra/")
