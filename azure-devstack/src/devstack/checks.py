"""Checks that run before anything does: the app's code against the data actions it declares.

`check_code(project)`: every SDK call in the app's code (devstack/code_scan.py) needs the actions
devstack/sdk_actions.py maps its method to; each one that no resource of that service in the app's
declaration (`access` in `[tool.devstack]`) declares is a finding. A finding is one line: the call,
the action, where to declare it, and the role that would grant it, read from infra/ as the
deployment model evaluates it:

    app/store.py:88 ContainerProxy.delete_item (Delete Document) needs
    Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/delete: declare it in
    app/access.toml (cosmos resource 'index'); to grant it, add it to the custom role 'App: index'
    (infra/modules/access.bicep)

(on one line). A call Azure never allows an Entra token to make (Cosmos DB's control plane) is a
finding whatever the declaration says. Calls on receivers mypy cannot type are not checked; the
scan lists them (`Scan.unresolved`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from infra_model import access
from infra_model.access import COSMOS_ROLE_DEFINITION
from infra_model.authorization import Assignment, Authorizer, permits
from infra_model.deployment import Context, Deployment, Principal, load
from infra_model.parameters import azd_parameters
from infra_model.resources import AppResources, app_resources
from infra_model.roles import BUILT_IN_ROLES, COSMOS_BUILT_IN_ROLES, RoleDefinition

from devstack import grants, sdk_actions
from devstack.code_scan import Scan, SdkCall, count_by_service, scan
from devstack.declaration import Declaration, Resource
from devstack.project import Project, ProjectError
from devstack.sdk_actions import Permission, Requirement

# One deployment to reason about: any names do, the answer names roles and files only.
_ENVIRONMENT = {"AZURE_ENV_NAME": "check", "AZURE_LOCATION": "check", "AZURE_PRINCIPAL_ID": "developer"}
_APP = Principal("app-principal", "app-client", "tenant")
# Where to look when no role infra_model/roles.py knows has the action ("Azure built-in roles").
_ROLE_FAMILIES = {
    sdk_actions.KEYVAULT: "the 'Key Vault Secrets ...' built-in roles "
    "(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security)",
    sdk_actions.BLOB: "the 'Storage Blob Data ...' built-in roles "
    "(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage)",
    sdk_actions.COSMOS: "Cosmos DB's built-in data roles, or a custom sqlRoleDefinition "
    "(https://learn.microsoft.com/azure/cosmos-db/reference-data-plane-security)",
}


@dataclass(frozen=True)
class Finding:
    location: str  # "app/store.py:88"
    call: str  # "ContainerProxy.delete_item"
    actions: tuple[str, ...]  # the action(s) not declared (alternatives); () when no declaration can help
    message: str  # everything after "<location> <call>"

    def line(self) -> str:
        return f"{self.location} {self.call} {self.message}"

    def __str__(self) -> str:
        return self.line()


def check_code(project: Project, *, cache_dir: Path | None = None) -> list[Finding]:
    """Every SDK call in the app's code whose action(s) the app's declaration does not declare."""
    return check_calls(project, scan(project, cache_dir=cache_dir).calls)


def check_calls(project: Project, calls: Iterable[SdkCall]) -> list[Finding]:
    declaration = Declaration.load(project.access_file)
    roles = _RoleAdvisor(project)
    access_file = _relative(project.access_file, project.root)
    findings: list[Finding] = []
    for call in calls:
        needs = call.needs
        head = f"({needs.operation})"
        if needs.refused is not None:
            findings.append(Finding(call.location, call.method.name, (), f"{head}: {needs.refused}"))
            continue
        if needs.undetermined is not None:
            findings.append(Finding(call.location, call.method.name, (), f"{head}: {needs.undetermined}"))
        resources = declaration.of_service(call.method.service)
        for requirement in needs.requirements:
            if _declared(requirement, resources):
                continue
            actions = tuple(p.action for p in requirement.alternatives)
            where = _where(access_file, call.method.service, resources)
            grant = roles.advice(call.method.service, requirement, resources)
            message = f"{head} needs {requirement.describe()}: {where}; {grant}"
            findings.append(Finding(call.location, call.method.name, actions, message))
    return list(dict.fromkeys(findings))


def _declared(requirement: Requirement, resources: Sequence[Resource]) -> bool:
    """Some resource of the service declares one of the requirement's permissions (`*` as RBAC reads it)."""
    declared = tuple(a.action for r in resources for a in r.actions)
    role = RoleDefinition(id="declared", name="declared", actions=declared, data_actions=declared)
    return any(permits(role, p.action, data_action=p.data_action) for p in requirement.any_of)


def _where(access_file: str, service: str, resources: Sequence[Resource]) -> str:
    if not resources:
        return f'declare it in {access_file}, which has no {service} resource yet ([[resource]] service = "{service}")'
    names = " or ".join(repr(r.name) for r in resources)
    return f"declare it in {access_file} ({service} resource {names})"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class _RoleAdvisor:
    """What would grant an action, read from infra/: evaluated once, and only when a finding needs it."""

    def __init__(self, project: Project) -> None:
        self.project = project

    @cached_property
    def _evaluated(self) -> tuple[Deployment, AppResources, Authorizer] | str:
        infra = self.project.infra_dir
        try:
            context = Context("00000000-0000-0000-0000-000000000000", "tenant", lambda _id, _kind: _APP)
            parameters = azd_parameters(infra, _ENVIRONMENT)
            parameters.setdefault("environmentName", _ENVIRONMENT["AZURE_ENV_NAME"])
            parameters.setdefault("location", _ENVIRONMENT["AZURE_LOCATION"])
            parameters.setdefault("principalId", _ENVIRONMENT["AZURE_PRINCIPAL_ID"])
            deployment = load(infra, parameters, context)
            return deployment, app_resources(deployment), access.authorizer(deployment)
        except (KeyError, ValueError) as error:  # EvaluationError, ModelError, ProjectError are ValueErrors
            return f"which role grants it is unknown: infra/ could not be evaluated ({error})"

    def advice(self, service: str, requirement: Requirement, resources: Sequence[Resource]) -> str:
        evaluated = self._evaluated
        if isinstance(evaluated, str):
            return evaluated
        deployment, app, authorizer = evaluated
        scopes = self._scopes(resources, app)
        held = [a for a in authorizer.assignments if a.principal_id == _APP.principal_id]
        for permission in requirement.alternatives:
            for scope in scopes:
                decision = authorizer.decide(
                    _APP.principal_id, permission.action, scope, data_action=permission.data_action
                )
                if decision.assignment is not None:
                    return (
                        f"infra/ already grants it to the app's identity (role '{decision.assignment.role.name}', "
                        f"{self._infra_path(decision.assignment.source)})"
                    )
        custom = next(
            (a for a in held if _is_custom(a) and _covers_any(a, scopes) and _same_provider(a, requirement)), None
        )
        if custom is not None:
            definition = self._definition_file(deployment, custom)
            return f"to grant it, add it to the custom role '{custom.role.name}' ({definition})"
        role = narrowest_role(service, requirement.alternatives)
        if role is None:
            return f"no role in infra_model/roles.py has it: look among {_ROLE_FAMILIES[service]}"
        kind = "Cosmos DB built-in data role" if role in COSMOS_BUILT_IN_ROLES else "built-in role"
        return f"to grant it, assign the app's identity the {kind} '{role.name}' (the narrowest that has it) in infra/"

    def _scopes(self, resources: Sequence[Resource], app: AppResources) -> list[str]:
        scopes: list[str] = []
        for resource in resources:
            try:
                scopes += grants.resource_scopes(resource, app)
            except ProjectError:
                continue  # a resource infra/ cannot locate: grants/preflight report that
        return scopes

    def _infra_path(self, source: str) -> str:
        """A source relative to infra/ (modules/access.bicep:appIndexAccess), relative to the project."""
        return f"{_relative(self.project.infra_dir, self.project.root)}/{source}"

    def _definition_file(self, deployment: Deployment, assignment: Assignment) -> str:
        for resource in deployment.of_type(COSMOS_ROLE_DEFINITION):
            if resource.id.lower() == assignment.role.id.lower():
                return f"{_relative(self.project.infra_dir, self.project.root)}/{resource.file}"
        return self._infra_path(assignment.source.split(":")[0])


def _is_custom(assignment: Assignment) -> bool:
    return "/" in assignment.role.id  # a custom Cosmos DB role's id is its resource id; built-in ids are GUIDs


def _covers_any(assignment: Assignment, scopes: Sequence[str]) -> bool:
    return any(assignment.covers(scope) for scope in scopes)


def _same_provider(assignment: Assignment, requirement: Requirement) -> bool:
    providers = {"/".join(p.action.split("/")[:2]).lower() for p in requirement.any_of}
    return any("/".join(a.split("/")[:2]).lower() in providers for a in assignment.role.data_actions)


def narrowest_role(service: str, alternatives: Sequence[Permission]) -> RoleDefinition | None:
    """The built-in role that has one of the permissions and the fewest of the others the SDK table names.

    Counting entries would make "Storage Blob Data Owner" (one `blobs/*`) narrower than Contributor;
    counting what a role allows of the service's actions does not.
    """
    service_permissions = sdk_actions.permissions_of(service)
    candidates = [
        role
        for role in (*BUILT_IN_ROLES, *COSMOS_BUILT_IN_ROLES)
        if any(permits(role, p.action, data_action=p.data_action) for p in alternatives)
    ]

    def breadth(role: RoleDefinition) -> tuple[int, int, str]:
        allowed = sum(permits(role, p.action, data_action=p.data_action) for p in service_permissions)
        return allowed, len(role.actions) + len(role.data_actions), role.name

    return min(candidates, key=breadth, default=None)


def summary(project: Project, scanned: Scan) -> str:
    """The line a clean check prints: how many calls, where they are declared, how long it took."""
    counts = count_by_service(scanned.calls)
    detail = ", ".join(f"{n} {service}" for service, n in counts.items() if n) or "none"
    return (
        f"{len(scanned.calls)} SDK calls, all declared in {_relative(project.access_file, project.root)} "
        f"({detail}; {len(scanned.files)} files scanned in {scanned.seconds:.1f} s)"
    )


def unresolved_note(scanned: Scan) -> str | None:
    """The calls not checked because mypy could not type their receiver, if any."""
    if not scanned.unresolved:
        return None
    return (
        f"not checked, the receiver's type is unknown (Any) to mypy: {', '.join(scanned.unresolved)}; "
        "annotate it with the SDK class to have the call checked"
    )
