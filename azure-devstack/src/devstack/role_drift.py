"""`python -m devstack roles`: the app identity's role assignments as deployed, beside what infra/ declares.

When a service refuses the app in Azure, the first question is whether the role is still there. This
lists every role assignment the app's identity holds (Azure RBAC's, `az role assignment list --assignee
<id> --all`, and the Cosmos DB account's own, `az cosmosdb sql role assignment list`, with `az cosmosdb
sql role definition list` to name them), compares them with the assignments infra/ makes for the
identity the site runs as, and says, one line each, which are there, which are missing (with the `az`
command that restores one, though `azd provision` restores them all) and which are extra.

It runs the `az` CLI, so it acts as the developer signed in to it; it never sees, prints or stores a
token. `--from DIR` reads the three commands' JSON from files instead (`role-assignments.json`,
`cosmos-role-assignments.json`, `cosmos-role-definitions.json`), which is how it is tested against the
local stack's model, and how a support engineer can run it on what a user sent.

infra/ is evaluated offline (infra_model), with the azd environment's values (`.azure/<env>/.env`, or
`--env NAME=VALUE`). The model cannot compute Azure's uniqueString(), so its names carry a placeholder
token; the real token is learned by matching the deployed scopes against the declared ones, and the
subscription from the deployed scopes. A template whose names carry several different tokens matches
only the first one found; anything not matched is reported as missing and extra, never as present.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra_model import access
from infra_model.access import COSMOS_ROLE_ASSIGNMENT, COSMOS_ROLE_DEFINITION, ROLE_ASSIGNMENT
from infra_model.authorization import Assignment
from infra_model.deployment import Context, Deployment, EvaluationError, Principal, load
from infra_model.parameters import azd_parameters
from infra_model.resources import COSMOS_ACCOUNT, ModelError, app_resources
from infra_model.roles import COSMOS_BUILT_IN_ROLES, cosmos_built_in_role

from devstack.project import Project, ProjectError

PROGRAM = "devstack roles"
# What the model's uniqueString() returns here: 13 characters, like Azure's, and easy to find in a name.
PLACEHOLDER_TOKEN = "zzzzzzzzzzzzz"  # noqa: S105 (a resource-name token, no credential)
PLACEHOLDER_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000ff"
RBAC_FILE = "role-assignments.json"
COSMOS_ASSIGNMENTS_FILE = "cosmos-role-assignments.json"
COSMOS_DEFINITIONS_FILE = "cosmos-role-definitions.json"
ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_UNIQUE_STRING = "[a-z0-9]{13}"  # what uniqueString() yields, lower-cased or not

Runner = Callable[[Sequence[str]], Any]  # runs one `az ... -o json` and returns its parsed output


class RolesError(RuntimeError):
    """A problem the user can fix (a missing az, a sign-in, an argument); the message says how."""


@dataclass(frozen=True)
class Held:
    """One role assignment: Azure RBAC's ("rbac") or Cosmos DB's data-plane one ("cosmos")."""

    kind: str
    role: str  # the role's name ("Key Vault Secrets User", a custom Cosmos DB role's roleName)
    scope: str
    where: str = ""  # infra/'s file and symbol, or the deployed assignment's id
    role_id: str = ""  # the role definition's id, as the service names it
    data_actions: tuple[str, ...] = ()  # a custom Cosmos DB role's, to tell a changed definition

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.role.lower(), self.scope.rstrip("/").lower())


@dataclass(frozen=True)
class Drift:
    present: list[tuple[Held, Held]] = field(default_factory=list)  # (declared, deployed)
    missing: list[Held] = field(default_factory=list)
    extra: list[Held] = field(default_factory=list)
    changed: list[tuple[Held, Held]] = field(default_factory=list)  # a custom role whose actions differ

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)


@dataclass(frozen=True)
class Declared:
    """What infra/ grants the identity the site runs as, in the model's names."""

    assignments: list[Held]
    resource_group: str
    cosmos_account: str  # "" when infra/ deploys no Cosmos DB account


# ---- what infra/ declares ------------------------------------------------------------------------------


def declared(infra_dir: Path, environment: Mapping[str, str], subscription_id: str, token: str) -> Declared:
    """infra/ evaluated with the azd environment, the deployed subscription and (when known) the real
    uniqueString token: the app identity's assignments."""
    parameters: dict[str, Any] = azd_parameters(infra_dir, environment)
    for name, variable in (("environmentName", "AZURE_ENV_NAME"), ("location", "AZURE_LOCATION")):
        if name not in parameters and variable in environment:
            parameters[name] = environment[variable]
    parameters.setdefault("principalId", environment.get("AZURE_PRINCIPAL_ID", ""))
    context = Context(subscription_id, "tenant", _model_principal, unique_string=lambda *_values: token)
    deployment = load(infra_dir, parameters, context)
    identity = app_resources(deployment).identity
    app = _model_principal(identity.resource_id, identity.kind).principal_id
    held = [_declared_held(a) for a in access.assignments(deployment) if a.principal_id == app]
    cosmos = deployment.of_type(COSMOS_ACCOUNT)
    resource_group = app_resources(deployment).site.id.split("/")[4]
    return Declared(held, resource_group, cosmos[0].short_name if cosmos else "")


def _model_principal(resource_id: str, kind: str) -> Principal:
    return Principal(f"model-{kind}:{resource_id.lower()}", "client", "tenant")


def _declared_held(assignment: Assignment) -> Held:
    cosmos = "/sqlroleassignments/" in assignment.id.lower()  # a Cosmos DB data-plane assignment
    return Held(
        kind="cosmos" if cosmos else "rbac",
        role=assignment.role.name,
        scope=assignment.scope,
        where=assignment.source,
        role_id=assignment.role.id,
        data_actions=assignment.role.data_actions if cosmos else (),
    )


# ---- what is deployed ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """The JSON the three az commands print."""

    rbac: list[dict[str, Any]]
    cosmos_assignments: list[dict[str, Any]]
    cosmos_definitions: list[dict[str, Any]]

    @classmethod
    def from_folder(cls, folder: Path) -> Deployed:
        def read(name: str) -> list[dict[str, Any]]:
            path = folder / name
            if not path.is_file():
                return []
            value = json.loads(path.read_text())
            if not isinstance(value, list):
                raise RolesError(f"{path} is not a JSON list, as `az ... -o json` prints it")
            return value

        return cls(read(RBAC_FILE), read(COSMOS_ASSIGNMENTS_FILE), read(COSMOS_DEFINITIONS_FILE))

    def held(self, assignee: str) -> list[Held]:
        names = {str(d.get("id", "")).lower(): d for d in self.cosmos_definitions}
        found = [
            Held(
                "rbac",
                str(a.get("roleDefinitionName", "")),
                str(a.get("scope", "")),
                str(a.get("id", "")),
                str(a.get("roleDefinitionId", "")).rsplit("/", 1)[-1],
            )
            for a in self.rbac
            if str(a.get("principalId", "")).lower() == assignee.lower()
        ]
        for a in self.cosmos_assignments:
            if str(a.get("principalId", "")).lower() != assignee.lower():
                continue
            definition_id = str(a.get("roleDefinitionId", ""))
            definition = names.get(definition_id.lower(), {})
            actions = tuple(x for p in definition.get("permissions", []) for x in p.get("dataActions", []))
            built_in = cosmos_built_in_role(definition_id.rsplit("/", 1)[-1])
            role = str(definition.get("roleName") or (built_in.name if built_in else definition_id))
            found.append(Held("cosmos", role, str(a.get("scope", "")), str(a.get("id", "")), definition_id, actions))
        return found


def az_runner(az: str) -> Runner:
    def run(arguments: Sequence[str]) -> Any:
        done = subprocess.run([az, *arguments, "--output", "json"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RolesError(f"`az {' '.join(arguments[:3])} ...` failed: {last} (signed in? `az login`)")
        return json.loads(done.stdout or "[]")

    return run


def from_azure(run: Runner, assignee: str, resource_group: str, cosmos_account: str) -> Deployed:
    rbac = run(["role", "assignment", "list", "--assignee", assignee, "--all"])
    if not cosmos_account:
        return Deployed(rbac, [], [])
    where = ["--account-name", cosmos_account, "--resource-group", resource_group]
    assignments = run(["cosmosdb", "sql", "role", "assignment", "list", *where])
    definitions = run(["cosmosdb", "sql", "role", "definition", "list", *where])
    return Deployed(rbac, assignments, definitions)


# ---- comparing them ----------------------------------------------------------------------------------------


def learn(declared_scopes: Sequence[str], deployed_scopes: Sequence[str]) -> tuple[str | None, str | None]:
    """The subscription and the uniqueString token of the deployment, read off deployed scopes that
    match a declared one where the model has its placeholders."""
    subscriptions = [m.group(1) for s in deployed_scopes if (m := _SUBSCRIPTION.match(s))]
    subscription = subscriptions[0] if subscriptions else None
    for declared_scope in declared_scopes:
        if PLACEHOLDER_TOKEN not in declared_scope:
            continue
        pattern = re.escape(declared_scope).replace(re.escape(PLACEHOLDER_SUBSCRIPTION), "[^/]+")
        pattern = pattern.replace(PLACEHOLDER_TOKEN, f"({_UNIQUE_STRING})", 1).replace(PLACEHOLDER_TOKEN, r"\1")
        for deployed_scope in deployed_scopes:
            match = re.fullmatch(pattern, deployed_scope.rstrip("/"), re.IGNORECASE)
            if match:
                return subscription, match.group(1).lower()
    return subscription, None


def compare(declared_held: Sequence[Held], deployed_held: Sequence[Held]) -> Drift:
    deployed_by_key = {h.key: h for h in deployed_held}
    drift = Drift()
    for wanted in declared_held:
        found = deployed_by_key.pop(wanted.key, None)
        if found is None:
            drift.missing.append(wanted)
        elif wanted.data_actions and sorted(wanted.data_actions) != sorted(found.data_actions):
            drift.changed.append((wanted, found))
        else:
            drift.present.append((wanted, found))
    drift.extra.extend(deployed_by_key.values())
    return drift


def report(drift: Drift, assignee: str, resource_group: str, cosmos_account: str) -> list[str]:
    lines = [f"Role assignments of {assignee}, as deployed and as infra/ declares them:"]
    lines += [f"  ok       {want.role} at {want.scope}" for want, _ in drift.present]
    for want in drift.missing:
        fix = _restore(want, assignee, resource_group, cosmos_account)
        lines.append(f"  missing  {want.role} at {want.scope} ({want.where}); {fix}")
    for want, found in drift.changed:
        added = sorted(set(found.data_actions) - set(want.data_actions))
        lost = sorted(set(want.data_actions) - set(found.data_actions))
        lines.append(
            f"  changed  {want.role} at {want.scope}: deployed role grants {added or 'nothing more'}, lacks "
            f"{lost or 'nothing'} ({want.where}); `azd provision` redeploys it"
        )
    for found in drift.extra:
        lines.append(f"  extra    {found.role} at {found.scope}; {_remove(found, resource_group, cosmos_account)}")
    if drift.clean:
        lines.append("Every role infra/ grants is deployed, and nothing more.")
    else:
        lines.append(
            f"{len(drift.missing)} missing, {len(drift.extra)} extra, {len(drift.changed)} changed: "
            "`azd provision` restores what infra/ declares (it does not delete extras)."
        )
    return lines


def _restore(held: Held, assignee: str, resource_group: str, cosmos_account: str) -> str:
    if held.kind == "rbac":
        return (
            f"az role assignment create --assignee-object-id {assignee} --assignee-principal-type ServicePrincipal "
            f'--role "{held.role}" --scope {held.scope}'
        )
    return (
        f"az cosmosdb sql role assignment create --account-name {cosmos_account} --resource-group {resource_group} "
        f"--role-definition-id {held.role_id} --principal-id {assignee} --scope {held.scope}"
    )


def _remove(held: Held, resource_group: str, cosmos_account: str) -> str:
    if held.kind == "rbac":
        return f"az role assignment delete --ids {held.where}"
    assignment = held.where.rstrip("/").rsplit("/", 1)[-1]
    return (
        f"az cosmosdb sql role assignment delete --account-name {cosmos_account} --resource-group {resource_group} "
        f"--role-assignment-id {assignment}"
    )


# ---- the command ---------------------------------------------------------------------------------------------


def drift(
    infra_dir: Path, environment: Mapping[str, str], assignee: str, fetch: Callable[[str, str], Deployed]
) -> tuple[Drift, str, str]:
    """Evaluates infra/, fetches the deployed assignments (`fetch(resource_group, cosmos_account)`, in the
    real names) and compares them. Returns the drift and the resource group and Cosmos DB account used."""
    model = declared(infra_dir, environment, PLACEHOLDER_SUBSCRIPTION, PLACEHOLDER_TOKEN)
    first = fetch(model.resource_group, "")  # the RBAC list needs no names; it tells the real token
    subscription, token = learn([h.scope for h in model.assignments], [str(a.get("scope", "")) for a in first.rbac])
    real = declared(infra_dir, environment, subscription or PLACEHOLDER_SUBSCRIPTION, token or PLACEHOLDER_TOKEN)
    deployed = fetch(real.resource_group, real.cosmos_account) if real.cosmos_account else first
    return compare(real.assignments, deployed.held(assignee)), real.resource_group, real.cosmos_account


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        project = Project.find(args.project)
        environment = {**_azd_environment(project.root, args.env_file), **dict(_pair(e) for e in args.env)}
        if args.from_folder:
            saved = Deployed.from_folder(args.from_folder)
            fetch: Callable[[str, str], Deployed] = lambda _group, _account: saved  # noqa: E731
        else:
            az = shutil.which("az")
            if az is None:
                raise RolesError("the Azure CLI (az) is not installed; install it, `az login`, and retry")
            run = az_runner(az)
            fetch = lambda group, account: from_azure(run, args.assignee, group, account)  # noqa: E731
        result, group, account = drift(args.infra_dir or project.infra_dir, environment, args.assignee, fetch)
    except (RolesError, ProjectError, ModelError, EvaluationError, OSError, ValueError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    print("\n".join(report(result, args.assignee, group, account)))
    return 0 if result.clean else 1


def _azd_environment(root: Path, env_file: Path | None) -> dict[str, str]:
    """azd's environment: `env_file`, else the default environment's `.azure/<name>/.env`, else nothing."""
    path = env_file
    if path is None:
        config = root / ".azure" / "config.json"
        name = json.loads(config.read_text()).get("defaultEnvironment") if config.is_file() else None
        path = root / ".azure" / str(name) / ".env" if name else None
    if path is None or not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            values[name.strip()] = value.strip().strip('"')
    return values


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise RolesError(f"--env expects NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack roles", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--assignee", required=True, help="principal (object) id of the identity the app runs as")
    parser.add_argument("--project", type=Path, help="the app's folder (default: found from here up)")
    parser.add_argument("--infra-dir", type=Path, help="compare with this copy of the Bicep instead of infra/")
    parser.add_argument("--env-file", type=Path, help="azd environment file (default: .azure/<default env>/.env)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="an azd environment value")
    parser.add_argument(
        "--from",
        dest="from_folder",
        type=Path,
        metavar="DIR",
        help=f"read {RBAC_FILE}, {COSMOS_ASSIGNMENTS_FILE} and {COSMOS_DEFINITIONS_FILE} (az's JSON), not az",
    )
    return parser


# ---- what az would print, from a model (for tests, and to show the shapes) ---------------------------------


def cli_json(deployment: Deployment, assignee: str) -> Deployed:
    """The three commands' JSON for `assignee` in an evaluated deployment, shaped as the az CLI prints it."""
    subscription = deployment.context.subscription_id
    rbac = []
    for resource in deployment.of_type(ROLE_ASSIGNMENT):
        if str(resource.properties.get("principalId", "")).lower() != assignee.lower():
            continue
        role_guid = str(resource.properties["roleDefinitionId"]).rsplit("/", 1)[-1]
        role = next(a.role for a in access.assignments(deployment) if a.id == resource.id)
        rbac.append(
            {
                "id": resource.id,
                "name": resource.short_name,
                "principalId": assignee,
                "principalType": str(resource.properties.get("principalType", "ServicePrincipal")),
                "roleDefinitionId": f"/subscriptions/{subscription}/providers/{ROLE_DEFINITIONS}/{role_guid}",
                "roleDefinitionName": role.name,
                "scope": resource.scope,
                "resourceGroup": resource.id.split("/")[4],
                "type": ROLE_ASSIGNMENT,
            }
        )
    cosmos = [
        {
            "id": r.id,
            "name": r.short_name,
            "principalId": str(r.properties["principalId"]),
            "roleDefinitionId": str(r.properties["roleDefinitionId"]),
            "scope": str(r.properties["scope"]),
            "resourceGroup": r.id.split("/")[4],
            "type": COSMOS_ROLE_ASSIGNMENT,
        }
        for r in deployment.of_type(COSMOS_ROLE_ASSIGNMENT)
        if str(r.properties.get("principalId", "")).lower() == assignee.lower()
    ]
    definitions = [
        {
            "id": r.id,
            "name": r.short_name,
            "roleName": str(r.properties.get("roleName", "")),
            "type": COSMOS_ROLE_DEFINITION,
            "typePropertiesType": str(r.properties.get("type", "CustomRole")),
            "assignableScopes": list(r.properties.get("assignableScopes", [])),
            "permissions": [
                {"dataActions": list(p.get("dataActions", [])), "notDataActions": list(p.get("notDataActions", []))}
                for p in r.properties.get("permissions", [])
            ],
            "resourceGroup": r.id.split("/")[4],
        }
        for r in deployment.of_type(COSMOS_ROLE_DEFINITION)
    ]
    # Every account also has the built-in data roles, which the CLI lists beside the custom ones.
    for account in deployment.of_type(COSMOS_ACCOUNT):
        definitions += [
            {
                "id": f"{account.id}/sqlRoleDefinitions/{role.id}",
                "name": role.id,
                "roleName": role.name,
                "type": COSMOS_ROLE_DEFINITION,
                "typePropertiesType": "BuiltInRole",
                "assignableScopes": [account.id],
                "permissions": [{"dataActions": list(role.data_actions), "notDataActions": []}],
                "resourceGroup": account.id.split("/")[4],
            }
            for role in COSMOS_BUILT_IN_ROLES
        ]
    return Deployed(rbac, cosmos, definitions)
