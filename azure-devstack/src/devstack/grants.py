"""Which of infra/'s role assignments lets the app perform each data action it declares, and what to
do where none does.

`python -m devstack grants --write` records the answer in the app's grants file (`grants` in
`[tool.devstack]`), which the app deploys and reads at run time: its diagnostics and its refusal
warnings name the role that grants a refused action, or the fix when none does (infra/ itself is not
deployed). `python3 dev.py up` regenerates it; `--check` fails when the committed file is stale.

The answer holds roles and the level of scope they are granted at, never a resource name or an id,
so it is the same for every environment name and both identity kinds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.declaration import Declaration, DeclaredAction, Resource
from devstack.project import Project, ProjectError
from infra_model import access
from infra_model.authorization import Assignment, Authorizer, permits
from infra_model.deployment import Context, Deployment, Principal, load
from infra_model.parameters import azd_parameters
from infra_model.resources import AppResources, app_resources
from infra_model.roles import BUILT_IN_ROLES, COSMOS_BUILT_IN_ROLES, RoleDefinition

# Any values do: the file holds no names. These make one deployment to reason about.
_ENVIRONMENT = {"AZURE_ENV_NAME": "grants", "AZURE_LOCATION": "grants", "AZURE_PRINCIPAL_ID": "developer"}
_APP = Principal("app-principal", "app-client", "tenant")
ABOUT = "Generated from {access} and infra/ by `python -m devstack grants --write`; do not edit."


@dataclass(frozen=True)
class ActionGrant:
    resource: Resource
    declared: DeclaredAction
    scopes: tuple[str, ...]  # where the app's requests for it fall, as the service computes them
    assignment: Assignment | None  # the assignment that allows it at every scope, if one does
    fix: str  # what to change in infra/ when none does ("" when granted)

    @property
    def scope_level(self) -> str:
        return scope_level(self.assignment.scope) if self.assignment else ""


def evaluate(
    project: Project, infra_dir: Path | None = None, environment: Mapping[str, str] | None = None
) -> tuple[Deployment, AppResources]:
    """infra/ deployed once, for reasoning: `environment` is azd environment values over neutral ones."""
    infra = infra_dir or project.infra_dir
    context = Context("00000000-0000-0000-0000-000000000000", "tenant", lambda _id, _kind: _APP)
    parameters = azd_parameters(infra, {**_ENVIRONMENT, **(environment or {})})
    parameters.setdefault("environmentName", "grants")
    parameters.setdefault("location", "grants")
    parameters.setdefault("principalId", "developer")
    deployment = load(infra, parameters, context)
    return deployment, app_resources(deployment)


def resolve(
    project: Project, infra_dir: Path | None = None, environment: Mapping[str, str] | None = None
) -> list[ActionGrant]:
    deployment, resources = evaluate(project, infra_dir, environment)
    authorizer = access.authorizer(deployment)
    declaration = Declaration.load(project.access_file)
    found = []
    for resource, declared in declaration.actions():
        scopes = tuple(resource_scopes(resource, resources))
        decisions = [authorizer.decide(_APP.principal_id, declared.action, scope) for scope in scopes]
        granted = decisions[0].assignment if decisions and all(d.allowed for d in decisions) else None
        fix = "" if granted else role_fix(declared.action, scopes, authorizer, project)
        found.append(ActionGrant(resource, declared, scopes, granted, fix))
    return found


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


def role_fix(action: str, scopes: tuple[str, ...], authorizer: Authorizer, project: Project) -> str:
    """One sentence: the role to extend or to grant so that the app may perform `action` at `scopes`."""
    held = [a for a in authorizer.assignments if a.principal_id == _APP.principal_id and _covers_all(a, scopes)]
    provider = "/".join(action.split("/")[:2])  # Microsoft.DocumentDB/databaseAccounts
    custom = next(
        (a for a in held if "/" in a.role.id and any(d.startswith(provider) for d in a.role.data_actions)), None
    )
    if custom is not None:  # a custom role of the app's: extending it keeps least privilege
        return f"add {action} to the custom role '{custom.role.name}' ({custom.source.split(':')[0]} in infra/)"
    role = narrowest_role(action)
    level = scope_level(scopes[0]) if scopes else "resource"
    where = held[0].source.split(":")[0] if held else "infra/"
    if role is None:
        return f"no built-in role known here grants {action}: define a role that does and assign it in {where}"
    return f"assign '{role.name}' to the app's identity at the {level} in {where}"


def narrowest_role(action: str) -> RoleDefinition | None:
    """The built-in role with the fewest permissions that includes `action` (data-plane)."""
    candidates = [r for r in (*BUILT_IN_ROLES, *COSMOS_BUILT_IN_ROLES) if permits(r, action)]
    return min(candidates, key=lambda r: (len(r.data_actions) + len(r.actions), r.name), default=None)


def scope_level(scope: str) -> str:
    """container, secret, database, vault or account: the deepest kind of segment in a scope."""
    segments = scope.rstrip("/").split("/")
    kinds = {"containers": "container", "colls": "container", "secrets": "secret", "dbs": "database"}
    if len(segments) >= 2 and segments[-2] in kinds:
        return kinds[segments[-2]]
    kind = segments[-2] if len(segments) >= 2 else ""
    return {"vaults": "vault", "storageAccounts": "account", "databaseAccounts": "account"}.get(kind, "resource")


def manifest(project: Project, infra_dir: Path | None = None) -> dict[str, Any]:
    resolved = resolve(project, infra_dir)
    resources: dict[str, dict[str, Any]] = {}
    for grant in resolved:
        entry = resources.setdefault(
            grant.resource.name, {"name": grant.resource.name, "service": grant.resource.service, "actions": []}
        )
        entry["actions"].append(
            {
                "action": grant.declared.action,
                "why": grant.declared.why,
                "role": grant.assignment.role.name if grant.assignment else None,
                # A built-in role's GUID; None for a custom role, whose id differs per account.
                "roleId": grant.assignment.role.id if grant.assignment and "/" not in grant.assignment.role.id else None,
                "scopeLevel": grant.scope_level or None,
                "fix": grant.fix or None,
            }
        )
    about = ABOUT.format(access=project.access_file.relative_to(project.root))
    return {"about": about, "resources": list(resources.values())}


def render(project: Project, infra_dir: Path | None = None) -> str:
    return json.dumps(manifest(project, infra_dir), indent=2) + "\n"


def is_current(project: Project) -> bool:
    return project.grants_file.exists() and project.grants_file.read_text() == render(project)


def write(project: Project) -> bool:
    """Writes the grants file if it changed; True when it did."""
    text = render(project)
    if project.grants_file.exists() and project.grants_file.read_text() == text:
        return False
    project.grants_file.write_text(text)
    return True


def ungranted(project: Project, environment: Mapping[str, str] | None = None) -> list[str]:
    """One line per declared action infra/ does not grant the app, with the fix."""
    return [
        f"{g.resource.name}: infra/ grants the app's identity no role for {g.declared.action} "
        f"({g.declared.why}): {g.fix}"
        for g in resolve(project, environment=environment)
        if g.assignment is None
    ]


def _covers_all(assignment: Assignment, scopes: tuple[str, ...]) -> bool:
    return all(assignment.covers(scope) for scope in scopes)


def _setting(settings: Mapping[str, Any], name: str, resource: Resource) -> str:
    value = settings.get(name)
    if value is None or not str(value):
        raise ProjectError(
            f"resource {resource.name!r} is located by the app setting {name}, which infra/ does not set on the function app"
        )
    return str(value)


def _expect_host(endpoint: str, host: str, resource: Resource) -> None:
    if (urlsplit(endpoint).hostname or "").lower() != host.lower():
        raise ProjectError(
            f"resource {resource.name!r}: the app setting {resource.endpoint_setting} points at {endpoint}, "
            f"which is not the {resource.service} resource infra/ deploys ({host})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack grants", description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the app's grants file")
    parser.add_argument("--check", action="store_true", help="exit 1 when the grants file is stale")
    args = parser.parse_args(argv)
    project = Project.find()
    relative = project.grants_file.relative_to(project.root)
    if args.check:
        if is_current(project):
            print(f"{relative} is current")
            return 0
        print(f"{relative} is stale: run `python -m devstack grants --write`", file=sys.stderr)
        return 1
    if args.write:
        print(f"{relative} {'written' if write(project) else 'unchanged'}")
        for line in ungranted(project):
            print(f"warning: {line}")
        return 0
    sys.stdout.write(render(project))
    return 0
