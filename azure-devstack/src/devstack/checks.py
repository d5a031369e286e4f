"""Checks that run before anything does: the app's code against the data actions it declares.

`check_code(project)`: every SDK call in the app's code (devstack/code_scan.py) needs the actions
devstack/sdk_actions.py maps its method to; each one that no resource of that service in the app's
declaration (`access` in `[tool.devstack]`) declares is a finding. A finding is one line: the call,
the action, where to declare it, and the role that would grant it (devstack/role_advice.py's answer,
read from infra/ as the deployment model evaluates it):

    app/store.py:88 ContainerProxy.delete_item (Delete Document) needs
    Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/delete: declare it in
    app/access.toml (cosmos resource 'index'); to grant it, add it to the custom role 'App: index'
    (infra/modules/access.bicep)

(on one line). A call Azure never allows an Entra token to make (Cosmos DB's control plane) is a
finding whatever the declaration says. Calls on receivers mypy cannot type are not checked; the
scan lists them (`Scan.unresolved`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from infra_model.authorization import permits
from infra_model.roles import RoleDefinition

from devstack.code_scan import Scan, SdkCall, count_by_service, scan
from devstack.declaration import Declaration, Resource
from devstack.project import Project
from devstack.role_advice import RoleAdvisor
from devstack.sdk_actions import Requirement


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
    roles = _advisor(project)
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
            grant = _advice(roles(), call.method.service, requirement, resources)
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


def _advisor(project: Project) -> Callable[[], RoleAdvisor | str]:
    """infra/ evaluated once, and only when a finding needs it; why not, when it cannot be."""

    @cache
    def evaluated() -> RoleAdvisor | str:
        try:
            return RoleAdvisor.for_project(project)
        except (KeyError, ValueError) as error:  # EvaluationError, ModelError, ProjectError are ValueErrors
            return f"which role grants it is unknown: infra/ could not be evaluated ({error})"

    return evaluated


def _advice(advisor: RoleAdvisor | str, service: str, requirement: Requirement, resources: Sequence[Resource]) -> str:
    if isinstance(advisor, str):
        return advisor
    return advisor.advise(requirement, advisor.scopes(resources), service).text


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
