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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_model.authorization import Assignment

from devstack import sdk_actions
from devstack.declaration import Declaration, DeclaredAction, Resource
from devstack.project import Project
from devstack.role_advice import RoleAdvisor, resource_scopes

ABOUT = "Generated from {access} and infra/ by `python -m devstack grants --write`; do not edit."


@dataclass(frozen=True)
class ActionGrant:
    resource: Resource
    declared: DeclaredAction
    scopes: tuple[str, ...]  # where the app's requests for it fall, as the service computes them
    assignment: Assignment | None  # the assignment that allows it at every scope, if one does
    fix: str  # what to change in infra/ when none does ("" when granted), in devstack/role_advice.py's words

    @property
    def scope_level(self) -> str:
        return scope_level(self.assignment.scope) if self.assignment else ""


def resolve(
    project: Project, infra_dir: Path | None = None, environment: Mapping[str, str] | None = None
) -> list[ActionGrant]:
    return resolve_with(RoleAdvisor.for_project(project, infra_dir, environment))


def resolve_with(advisor: RoleAdvisor) -> list[ActionGrant]:
    """Each declared action of `advisor.project`, against the infra/ the advisor evaluated."""
    found = []
    for resource, declared in Declaration.load(advisor.project.access_file).actions():
        scopes = tuple(resource_scopes(resource, advisor.resources))
        advice = advisor.advise(declared.action, scopes, resource.service)
        found.append(ActionGrant(resource, declared, scopes, advice.granted, "" if advice.granted else advice.text))
    return found


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
                "roleId": grant.assignment.role.id
                if grant.assignment and "/" not in grant.assignment.role.id
                else None,
                "scopeLevel": grant.scope_level or None,
                "fix": grant.fix or None,
            }
        )
    about = ABOUT.format(access=project.access_file.relative_to(project.root))
    services = sorted({g.resource.service for g in resolved} - SERVICES_NAMING_THE_ACTION)
    return {"about": about, "resources": list(resources.values()), "operations": operations(services)}


# Key Vault's 403 ForbiddenByRbac names the action ("Action: '...'") and Cosmos DB's 403/5301 names it
# too ("... perform action [...]"); Storage's AuthorizationPermissionMismatch does not ("Authorize access
# to blobs ... Troubleshoot": it says only that the permission is missing). For those services the app
# reads the action from the SDK method the refused call went through, in this map.
SERVICES_NAMING_THE_ACTION = frozenset({"keyvault", "cosmos"})


def operations(services: list[str]) -> dict[str, list[str]]:
    """`Class.method` -> the actions it needs with its default arguments, for every SDK method of
    these services that a token may call (devstack.sdk_actions). A method that replaces a blob only
    when asked to (`upload_blob(overwrite=True)`) needs no more than creating one by default
    (`blobs/add/action`, which a create-only role holds); any other, the first permission listed."""
    table: dict[str, list[str]] = {}
    for service in services:
        for method in sdk_actions.methods_of(service):
            needs = method.needs()
            if needs.refused is None and needs.requirements:
                creates = any(v.keyword == OVERWRITE for v in method.variants)
                table[method.name] = [_least(r.alternatives, creates=creates).action for r in needs.requirements]
    return dict(sorted(table.items()))


# The argument of the SDK's upload methods that makes them replace an existing blob (default False).
OVERWRITE = "overwrite"


def _least(alternatives: list[sdk_actions.Permission], *, creates: bool) -> sdk_actions.Permission:
    return next((p for p in alternatives if p.new_only), alternatives[0]) if creates else alternatives[0]


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
