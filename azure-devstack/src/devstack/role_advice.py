"""Which role would grant the app's identity an action, and where to change infra/: the one answer
that the grants file's fixes, `up`'s warnings, `python -m devstack check`'s findings and the refusals
on the `up` terminal all give, in the same words.

infra/ is evaluated once per tool run (`RoleAdvisor.for_project`), as a deployment with neutral names:
the answer names roles and files, never a resource, so it is the same for every environment. Asked
about a permission, or the alternative permissions of an `sdk_actions.Requirement`, at the scopes the
app's requests fall in, it answers the first of:

- infra/ already grants it at every scope:
  "infra/ already grants it to the app's identity (role 'Storage Blob Data Contributor', infra/app.bicep:writeNotes)";
- the app's identity holds a custom role of the same provider at every scope (extending it keeps least
  privilege): "to grant it, add it to the custom role 'Notes app: read and write pages' (infra/app.bicep)",
  naming the file that defines the role;
- the narrowest built-in role that has it, measured by how many of the service's permissions (those the
  SDK table, devstack/sdk_actions.py, names) it allows: "to grant it, assign the app's identity the
  built-in role 'Key Vault Secrets Officer' (the narrowest that has it) in infra/" ("Cosmos DB built-in
  data role" for Cosmos DB's own);
- else where to look: "no role in infra_model/roles.py has it: look among the 'Key Vault Secrets ...'
  built-in roles (<link>)".

An action given as a bare string is a data action unless the SDK table only ever names it as a
control-plane one (Blob container operations such as `containers/read`, which Azure checks against a
role's `actions`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra_model import access
from infra_model.access import COSMOS_ROLE_DEFINITION
from infra_model.authorization import Assignment, permits
from infra_model.deployment import Context, Deployment, Principal, load
from infra_model.parameters import azd_parameters
from infra_model.resources import AppResources, app_resources
from infra_model.roles import BUILT_IN_ROLES, COSMOS_BUILT_IN_ROLES, RoleDefinition

from devstack import sdk_actions
from devstack.declaration import Resource
from devstack.project import Project, ProjectError
from devstack.sdk_actions import Permission, Requirement

# Any values do: the answers hold no names. These make one deployment to reason about.
_ENVIRONMENT = {"AZURE_ENV_NAME": "grants", "AZURE_LOCATION": "grants", "AZURE_PRINCIPAL_ID": "developer"}
# The app's identity in that deployment, whichever kind infra/ gives the function app.
APP = Principal("app-principal", "app-client", "tenant")
# Where to look when no role infra_model/roles.py knows has the action ("Azure built-in roles").
_ROLE_FAMILIES = {
    sdk_actions.KEYVAULT: "the 'Key Vault Secrets ...' built-in roles "
    "(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security)",
    sdk_actions.BLOB: "the 'Storage Blob Data ...' built-in roles "
    "(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage)",
    sdk_actions.COSMOS: "Cosmos DB's built-in data roles, or a custom sqlRoleDefinition "
    "(https://learn.microsoft.com/azure/cosmos-db/reference-data-plane-security)",
}
_ANY_FAMILY = "Azure's built-in roles (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles)"


@dataclass(frozen=True)
class Advice:
    text: str  # one clause, in the words every tool prints
    granted: Assignment | None = None  # the assignment that already grants it at every scope, if one does


def evaluate(
    project: Project, infra_dir: Path | None = None, environment: Mapping[str, str] | None = None
) -> tuple[Deployment, AppResources]:
    """infra/ deployed once, for reasoning: `environment` is azd environment values over neutral ones."""
    infra = infra_dir or project.infra_dir
    context = Context("00000000-0000-0000-0000-000000000000", "tenant", lambda _id, _kind: APP)
    parameters = azd_parameters(infra, {**_ENVIRONMENT, **(environment or {})})
    parameters.setdefault("environmentName", _ENVIRONMENT["AZURE_ENV_NAME"])
    parameters.setdefault("location", _ENVIRONMENT["AZURE_LOCATION"])
    parameters.setdefault("principalId", _ENVIRONMENT["AZURE_PRINCIPAL_ID"])
    deployment = load(infra, parameters, context)
    return deployment, app_resources(deployment)


class RoleAdvisor:
    """infra/ evaluated once, and what it would take for the app's identity to perform an action."""

    def __init__(self, project: Project, deployment: Deployment, resources: AppResources) -> None:
        self.project = project  # its infra_dir is the folder evaluated
        self.deployment = deployment
        self.resources = resources
        self.authorizer = access.authorizer(deployment)
        self._held = [a for a in self.authorizer.assignments if a.principal_id.lower() == APP.principal_id.lower()]

    @classmethod
    def for_project(
        cls, project: Project, infra_dir: Path | None = None, environment: Mapping[str, str] | None = None
    ) -> RoleAdvisor:
        """`infra_dir` (the project's infra/ when None) evaluated with `environment` over neutral values;
        raises the model's error (a ValueError or KeyError) when it cannot be."""
        evaluated = replace(project, infra_dir=infra_dir) if infra_dir else project
        deployment, resources = evaluate(evaluated, environment=environment)
        return cls(evaluated, deployment, resources)

    def scopes(self, resources: Sequence[Resource]) -> list[str]:
        """The scopes of the app's requests on `resources`, skipping any infra/ cannot locate (grants
        and preflight report those)."""
        scopes: list[str] = []
        for resource in resources:
            try:
                scopes += resource_scopes(resource, self.resources)
            except ProjectError:
                continue
        return scopes

    def advise(self, wanted: str | Permission | Requirement, scopes: Sequence[str], service: str) -> Advice:
        """What grants `wanted` (an action, a permission, or any one of a requirement's) at every one of
        `scopes`, or what would; `service` is the SDK table's (keyvault, blob, cosmos)."""
        alternatives = _requirement(wanted).alternatives
        if scopes:
            for permission in alternatives:
                decisions = [
                    self.authorizer.decide(APP.principal_id, permission.action, s, data_action=permission.data_action)
                    for s in scopes
                ]
                granted = decisions[0].assignment
                if granted is not None and all(d.allowed for d in decisions):
                    where = self._infra_path(granted.source)
                    return Advice(
                        f"infra/ already grants it to the app's identity (role '{granted.role.name}', {where})", granted
                    )
            custom = next(
                (
                    a
                    for a in self._held
                    if _is_custom(a.role) and all(a.covers(s) for s in scopes) and _same_provider(a.role, alternatives)
                ),
                None,
            )
            if custom is not None:
                definition = self._definition_file(custom)
                return Advice(f"to grant it, add it to the custom role '{custom.role.name}' ({definition})")
        role = narrowest_role(service, alternatives)
        if role is None:
            return Advice(
                f"no role in infra_model/roles.py has it: look among {_ROLE_FAMILIES.get(service, _ANY_FAMILY)}"
            )
        kind = "Cosmos DB built-in data role" if role in COSMOS_BUILT_IN_ROLES else "built-in role"
        return Advice(
            f"to grant it, assign the app's identity the {kind} '{role.name}' (the narrowest that has it) in infra/"
        )

    def _infra_path(self, source: str) -> str:
        """A source relative to infra/ (modules/access.bicep:appIndexAccess), relative to the project."""
        return f"{_relative(self.project.infra_dir, self.project.root)}/{source}"

    def _definition_file(self, assignment: Assignment) -> str:
        """The file that defines a custom role (its sqlRoleDefinition), else the assignment's."""
        for resource in self.deployment.of_type(COSMOS_ROLE_DEFINITION):
            if resource.id.lower() == assignment.role.id.lower():
                return self._infra_path(resource.file)
        return self._infra_path(assignment.source.split(":")[0])


def narrowest_role(service: str, alternatives: Sequence[Permission]) -> RoleDefinition | None:
    """The built-in role that has one of the permissions and the fewest of the others the SDK table names.

    Counting entries would make "Storage Blob Data Owner" (one `blobs/*`) narrower than Contributor;
    counting what a role allows of the service's actions does not.
    """
    service_permissions = sdk_actions.permissions_of(service)
    # Only roles written for the service: a generic `*/read` (Log Analytics Reader, Reader) matches a
    # Blob container's control-plane read, but no one grants data access through such a role.
    providers = {"/".join(p.action.split("/")[:2]).lower() for p in alternatives}
    candidates = [
        role
        for role in (*BUILT_IN_ROLES, *COSMOS_BUILT_IN_ROLES)
        if any(permits(role, p.action, data_action=p.data_action) for p in alternatives)
        and any(a.lower().startswith(tuple(providers)) for a in (*role.actions, *role.data_actions))
    ]

    def breadth(role: RoleDefinition) -> tuple[int, int, str]:
        allowed = sum(permits(role, p.action, data_action=p.data_action) for p in service_permissions)
        return allowed, len(role.actions) + len(role.data_actions), role.name

    return min(candidates, key=breadth, default=None)


def permission(action: str) -> Permission:
    """An action as the services authorise it: control-plane when the SDK table names it only as one
    (Blob container operations), a data action otherwise."""
    return Permission(action, data_action=action.lower() not in _control_plane_actions())


@cache
def _control_plane_actions() -> frozenset[str]:
    services = (sdk_actions.KEYVAULT, sdk_actions.BLOB, sdk_actions.COSMOS)
    named = [p for service in services for p in sdk_actions.permissions_of(service)]
    data = {p.action.lower() for p in named if p.data_action}
    return frozenset(p.action.lower() for p in named if not p.data_action and p.action.lower() not in data)


def resource_scopes(resource: Resource, resources: AppResources) -> Iterator[str]:
    """The Azure scopes of the app's requests on a declared resource, located through its settings."""
    settings = resources.settings
    endpoint = _setting(settings, resource.endpoint_setting, resource)
    if resource.service == "keyvault":
        _expect_host(endpoint, resources.vault.host, resource)
        for name in resource.secrets(settings):
            yield f"{resources.vault.id}/secrets/{name}"
    elif resource.service == "blob":
        _expect_host(endpoint, resources.data_account.blob_host, resource)
        container = _setting(settings, resource.container_setting or "", resource)
        yield f"{resources.data_account.id}/blobServices/default/containers/{container}"
    else:
        _expect_host(endpoint, resources.cosmos.host, resource)
        database = _setting(settings, resource.database_setting or "", resource)
        container = _setting(settings, resource.container_setting or "", resource)
        yield f"{resources.cosmos.id}/dbs/{database}/colls/{container}"


def _requirement(wanted: str | Permission | Requirement) -> Requirement:
    if isinstance(wanted, Requirement):
        return wanted
    return Requirement.of(wanted if isinstance(wanted, Permission) else permission(wanted))


def _is_custom(role: RoleDefinition) -> bool:
    return "/" in role.id  # a custom Cosmos DB role's id is its resource id; built-in ids are GUIDs


def _same_provider(role: RoleDefinition, alternatives: Sequence[Permission]) -> bool:
    """The role already has some permission of the provider (Microsoft.DocumentDB/databaseAccounts)
    of one of the alternatives, of the same plane."""

    def provider(action: str) -> str:
        return "/".join(action.split("/")[:2]).lower()

    wanted = {(provider(p.action), p.data_action) for p in alternatives}
    held = {(provider(a), True) for a in role.data_actions} | {(provider(a), False) for a in role.actions}
    return bool(wanted & held)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _setting(settings: Mapping[str, Any], name: str, resource: Resource) -> str:
    value = settings.get(name)
    if value is None or not str(value):
        raise ProjectError(
            f"resource {resource.name!r} is located by the app setting {name}, "
            "which infra/ does not set on the function app"
        )
    return str(value)


def _expect_host(endpoint: str, host: str, resource: Resource) -> None:
    if (urlsplit(endpoint).hostname or "").lower() != host.lower():
        raise ProjectError(
            f"resource {resource.name!r}: the app setting {resource.endpoint_setting} points at {endpoint}, "
            f"which is not the {resource.service} resource infra/ deploys ({host})"
        )
