"""infra/hooks/postprovision.py, run as azd runs it: a script with the Bicep outputs in its environment.

The environment is built from main.bicep's outputs and nothing else, so these tests also prove the
hook needs no value the Bicep does not output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_model.syntax import Infra

from .conftest import APP_SETTINGS, DECLARATION, REPO, all_setting_names, required_setting_names

HOOK = REPO / "infra" / "hooks" / "postprovision.py"
PLATFORM_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}


def declared_secrets(settings: dict[str, str]) -> list[str]:
    """The Key Vault secret names the app declares ([tool.devstack] access), filled in from these settings."""
    return [name for resource in DECLARATION.of_service("keyvault") for name in resource.secrets(settings)]


def fake_output(name: str) -> str:
    """A plausible value for a main.bicep output, valid for the app's settings."""
    if name.endswith(("_ENDPOINT", "_URI")):
        return f"https://{name.lower().replace('_', '-')}.example.net/"
    if name == "WEBHOOK_SOURCES":
        return "github, stripe"
    if name.endswith("_CONTAINER"):
        return name.removesuffix("_CONTAINER").lower()
    return f"value-{name.lower().replace('_', '-')}"


@pytest.fixture
def outputs(infra: Infra) -> dict[str, str]:
    return {name: fake_output(name) for name in infra.main.outputs}


def run_hook(
    *args: str, env: dict[str, str], script: Path = HOOK, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def written(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


def test_writes_settings_the_app_accepts(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    result = run_hook("--output", str(target), env=outputs)
    assert result.returncode == 0, result.stderr
    document = written(target)
    values = document["Values"]
    assert document["IsEncrypted"] is False
    # The app's own settings objects accept them, and nothing they require is missing.
    for app_settings in APP_SETTINGS:
        app_settings.from_environment(values)
    missing = sorted(required_setting_names() - set(values))
    assert not missing, f"the hook writes no {missing}, which the app requires; map them from main.bicep's outputs"
    app_level = {n for n in values if n not in PLATFORM_SETTINGS and not n.startswith("AzureWebJobsStorage__")}
    unknown = sorted(app_level - all_setting_names())
    assert not unknown, f"the hook writes {unknown}, which the app does not read; drop them or fix the names"
    # Locally the app is the developer: a developer credential, and no managed identity client ID.
    assert values["AZURE_TOKEN_CREDENTIALS"] == "AzureCliCredential"
    assert "AZURE_CLIENT_ID" not in values
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AZURE_STORAGE_BLOB_ENDPOINT"] == outputs["AZURE_STORAGE_BLOB_ENDPOINT"]


def test_a_system_identity_deployment_needs_no_client_id(tmp_path: Path, outputs: dict[str, str]) -> None:
    """With APP_IDENTITY_TYPE=SystemAssigned main.bicep outputs an empty AZURE_APP_IDENTITY_CLIENT_ID;
    the hook never uses it (locally the app is the developer), so the result is the same."""
    user, system = tmp_path / "user.json", tmp_path / "system.json"
    assert run_hook("--output", str(user), env=outputs).returncode == 0
    result = run_hook("--output", str(system), env={**outputs, "AZURE_APP_IDENTITY_CLIENT_ID": ""})
    assert result.returncode == 0, result.stderr
    assert written(system) == written(user)
    assert "AZURE_CLIENT_ID" not in written(system)["Values"]


def test_host_storage_is_identity_based_as_the_developer(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    assert run_hook("--output", str(target), env=outputs).returncode == 0
    values = written(target)["Values"]
    host = {k: v for k, v in values.items() if k.startswith("AzureWebJobsStorage")}
    assert host == {
        "AzureWebJobsStorage__blobServiceUri": outputs["AZURE_HOST_STORAGE_BLOB_ENDPOINT"],
        "AzureWebJobsStorage__queueServiceUri": outputs["AZURE_HOST_STORAGE_QUEUE_ENDPOINT"],
        "AzureWebJobsStorage__tableServiceUri": outputs["AZURE_HOST_STORAGE_TABLE_ENDPOINT"],
    }


def test_azurite_host_storage_needs_no_host_outputs(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    env = {k: v for k, v in outputs.items() if not k.startswith("AZURE_HOST_STORAGE_")}
    result = run_hook("--output", str(target), "--host-storage", "azurite", env=env)
    assert result.returncode == 0, result.stderr
    values = written(target)["Values"]
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert not [k for k in values if k.startswith("AzureWebJobsStorage__")]


def test_prints_the_secret_command_for_each_declared_secret(tmp_path: Path, outputs: dict[str, str]) -> None:
    """One command per signing secret the app reads: its declared secret names, filled in from the
    settings the hook writes (one per source in WEBHOOK_SOURCES)."""
    target = tmp_path / "local.settings.json"
    result = run_hook("--output", str(target), env=outputs)
    vault = outputs["AZURE_KEY_VAULT_NAME"]
    secrets = declared_secrets(written(target)["Values"])
    assert len(secrets) == len(outputs["WEBHOOK_SOURCES"].split(",")), (
        f"the app declares secrets {secrets} for WEBHOOK_SOURCES={outputs['WEBHOOK_SOURCES']!r}; "
        "expected one per source"
    )
    for secret in secrets:
        command = f"az keyvault secret set --vault-name {vault} --name {secret} "
        assert command in result.stdout, (
            f"the hook does not print `{command}...` for the declared secret {secret}; "
            "make its secret commands follow the secret-names the app declares"
        )


def test_keeps_an_existing_file_without_force(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    target.write_text('{"Values": {"MINE": "keep"}}\n')
    result = run_hook("--output", str(target), env=outputs)
    assert result.returncode == 0
    assert target.read_text() == '{"Values": {"MINE": "keep"}}\n'
    assert f"{target} already exists and was left unchanged" in result.stdout
    assert "--force" in result.stdout
    missing = [secret for secret in declared_secrets(outputs) if f"--name {secret} " not in result.stdout]
    assert not missing, f"with the file kept, the hook still must print the secret commands; missing: {missing}"


def test_force_replaces_an_existing_file_and_says_so(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    target.write_text("{}\n")
    result = run_hook("--output", str(target), "--force", env=outputs)
    assert result.returncode == 0
    assert f"Replaced {target}" in result.stdout
    assert written(target)["Values"]["COSMOS_DATABASE"] == outputs["COSMOS_DATABASE"]


def test_missing_outputs_fail_and_write_nothing(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    env = {k: v for k, v in outputs.items() if k != "AZURE_COSMOS_ENDPOINT"}
    result = run_hook("--output", str(target), env=env)
    assert result.returncode == 1
    assert "AZURE_COSMOS_ENDPOINT" in result.stderr
    assert not target.exists()


def test_only_developer_credentials_are_offered(tmp_path: Path, outputs: dict[str, str]) -> None:
    target = tmp_path / "local.settings.json"
    assert run_hook("--output", str(target), "--credential", "dev", env=outputs).returncode == 0
    assert written(target)["Values"]["AZURE_TOKEN_CREDENTIALS"] == "dev"
    refused = run_hook("--output", str(tmp_path / "x.json"), "--credential", "ManagedIdentityCredential", env=outputs)
    assert refused.returncode == 2
    assert not (tmp_path / "x.json").exists()


def test_default_target_is_next_to_function_app(tmp_path: Path, outputs: dict[str, str]) -> None:
    """The host reads local.settings.json from the project root, wherever azd or the user runs the
    hook from; the file written is the file checked for existence."""
    project = tmp_path / "project"
    (project / "infra" / "hooks").mkdir(parents=True)
    (project / "function_app.py").write_text("")
    script = project / "infra" / "hooks" / "postprovision.py"
    shutil.copy(HOOK, script)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = run_hook(env=outputs, script=script, cwd=elsewhere)
    assert first.returncode == 0, first.stderr
    assert (project / "local.settings.json").is_file()
    assert list(elsewhere.iterdir()) == []
    again = run_hook(env=outputs, script=script, cwd=elsewhere)
    assert "left unchanged" in again.stdout
    assert "python infra/hooks/postprovision.py --force" in again.stdout
