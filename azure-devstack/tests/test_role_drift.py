"""`python -m devstack roles` against the local model: the az CLI's JSON is built from the minimal app's
deployment (devstack.role_drift.cli_json), with another subscription and uniqueString token than the
tool's own model, as a real deployment has, and the tool must line them up, then name what is missing,
extra or changed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from devstack import role_drift
from devstack.role_drift import RBAC_FILE, Deployed, cli_json
from infra_model.deployment import Context, Deployment, Principal, load
from infra_model.parameters import azd_parameters
from infra_model.resources import app_resources

MINIMAL_APP = Path(__file__).resolve().parent / "minimal_app"
INFRA = MINIMAL_APP / "infra"
ENVIRONMENT = {"AZURE_ENV_NAME": "drift", "AZURE_LOCATION": "westeurope"}
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TOKEN = "q7x2abcdefghk"  # what Azure's uniqueString() gave this "deployment"
CONTRIBUTOR_PATH = "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/"


def principal(resource_id: str, kind: str) -> Principal:
    return Principal(str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower())), "client", "tenant")


def deployed_model(**parameters: Any) -> tuple[Deployment, str]:
    values = azd_parameters(INFRA, ENVIRONMENT)
    values.update(environmentName="drift", location="westeurope", **parameters)
    deployment = load(INFRA, values, Context(SUBSCRIPTION, "tenant", principal, unique_string=lambda *_: TOKEN))
    identity = app_resources(deployment).identity
    return deployment, principal(identity.resource_id, identity.kind).principal_id


def write(folder: Path, deployed: Deployed) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / RBAC_FILE).write_text(json.dumps(deployed.rbac))
    (folder / role_drift.COSMOS_ASSIGNMENTS_FILE).write_text(json.dumps(deployed.cosmos_assignments))
    (folder / role_drift.COSMOS_DEFINITIONS_FILE).write_text(json.dumps(deployed.cosmos_definitions))
    return folder


def run(folder: Path, assignee: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    env = [f"--env={k}={v}" for k, v in ENVIRONMENT.items()]
    code = role_drift.main(["--project", str(MINIMAL_APP), "--assignee", assignee, "--from", str(folder), *env])
    return code, capsys.readouterr().out


def test_a_deployment_as_infra_declares_it_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment, app = deployed_model()
    code, out = run(write(tmp_path / "az", cli_json(deployment, app)), app, capsys)
    assert code == 0, out
    assert "Every role infra/ grants is deployed, and nothing more." in out
    assert "missing" not in out
    # Both kinds are compared, in the deployment's real names (token and subscription learnt).
    assert f"/subscriptions/{SUBSCRIPTION}/" in out
    assert f"vault{TOKEN}" in out
    assert "Notes app: read and write pages" in out


def test_a_role_removed_in_the_portal_is_missing_with_the_command_that_restores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, app = deployed_model()
    deployed = cli_json(deployment, app)
    removed = [a for a in deployed.rbac if a["roleDefinitionName"] == "Key Vault Secrets User"]
    assert removed, deployed.rbac
    kept = Deployed(
        [a for a in deployed.rbac if a not in removed], deployed.cosmos_assignments, deployed.cosmos_definitions
    )
    code, out = run(write(tmp_path / "az", kept), app, capsys)
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.strip().startswith("missing")]
    assert "Key Vault Secrets User" in line
    assert "readGreeting" in line  # where infra/ declares it
    assert f"az role assignment create --assignee-object-id {app} --assignee-principal-type ServicePrincipal" in line
    assert f'--role "Key Vault Secrets User" --scope {removed[0]["scope"]}' in line


def test_an_extra_role_is_named_with_the_command_that_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, app = deployed_model()
    deployed = cli_json(deployment, app)
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-notes-drift"
    extra = {
        "id": f"{group}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
        "principalId": app,
        "roleDefinitionName": "Contributor",
        "roleDefinitionId": f"{CONTRIBUTOR_PATH}b24988ac-6180-42a0-ab88-20f7382dd24c",
        "scope": group,
    }
    code, out = run(
        write(
            tmp_path / "az", Deployed([*deployed.rbac, extra], deployed.cosmos_assignments, deployed.cosmos_definitions)
        ),
        app,
        capsys,
    )
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.strip().startswith("extra")]
    assert f"Contributor at {group}" in line
    assert f"az role assignment delete --ids {extra['id']}" in line


def test_a_custom_cosmos_role_changed_in_azure_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment, app = deployed_model()
    deployed = cli_json(deployment, app)
    widened = [
        {
            **d,
            "permissions": [
                {
                    "dataActions": ["Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/*"],
                    "notDataActions": [],
                }
            ],
        }
        if d["typePropertiesType"] == "CustomRole"
        else d
        for d in deployed.cosmos_definitions
    ]
    code, out = run(write(tmp_path / "az", Deployed(deployed.rbac, deployed.cosmos_assignments, widened)), app, capsys)
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.strip().startswith("changed")]
    assert "Notes app: read and write pages" in line
    assert "items/*" in line


def test_nothing_deployed_is_all_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _deployment, app = deployed_model()
    code, out = run(write(tmp_path / "az", Deployed([], [], [])), app, capsys)
    assert code == 1
    assert sum(line.strip().startswith("missing") for line in out.splitlines()) >= 3


def test_a_mistake_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / RBAC_FILE).write_text("{}")
    env = [f"--env={k}={v}" for k, v in ENVIRONMENT.items()]
    code = role_drift.main(["--project", str(MINIMAL_APP), "--assignee", "someone", "--from", str(tmp_path), *env])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("devstack roles: ")
    assert "not a JSON list" in err


def test_without_az_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("devstack.role_drift.shutil.which", lambda _name: None)
    code = role_drift.main(
        ["--project", str(MINIMAL_APP), "--assignee", "someone", "--env=AZURE_ENV_NAME=x", "--env=AZURE_LOCATION=y"]
    )
    assert code == 2
    assert "the Azure CLI (az) is not installed" in capsys.readouterr().err
