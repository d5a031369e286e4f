"""Make it yours: a copy of this repository changed step by step as a user would, and the tools' verdicts.

Each test works on a fresh copy of the tracked files in a temporary folder and runs the same commands
a user runs there: `python -m devstack check`, the infra tests, `python -m devstack up`. What it
asserts is what the tools say, in their words, before anything is deployed. Each step's time is
printed (`pytest -s`), and the closing note of issue 14 reports them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from devstack.certs import ensure_certificates
from devstack.settings_files import EnvFile
from devstack.testing import StackInfo, state_root

ROOT = Path(__file__).resolve().parents[2]
# What a copier keeps of the repository to change and check the app (the tooling is installed).
LEFT_OUT = ("azure-devstack/", "bench/", "docs/", "schemas/", "tests/reliability/", "tests/conformance/")
START_TIMEOUT_SECONDS = 120.0


def copy_repository(destination: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in tracked:
        if name.startswith(LEFT_OUT) or not (ROOT / name).is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


def edit(path: Path, old: str, new: str, *, count: int = 1) -> None:
    """Replace `old`, insisting it occurs `count` times: an edit that matched nothing proves nothing."""
    text = path.read_text()
    assert text.count(old) == count, f"{path.name}: expected {count} of {old!r}, found {text.count(old)}"
    path.write_text(text.replace(old, new))


def run(app: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=app, capture_output=True, text=True, timeout=timeout, check=False
    )


def devstack_check(app: Path) -> subprocess.CompletedProcess[str]:
    return run(app, "-m", "devstack", "check")


@dataclass
class Up:
    """`python -m devstack up` in the copy, as a user runs it: its terminal is kept in a file."""

    process: subprocess.Popen[bytes]
    terminal: Path
    state: Path

    def wait_ready(self) -> StackInfo:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (self.state / "env.json").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the stack did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        return StackInfo(EnvFile.load(self.state / "env.json"), self.state)

    def output(self) -> str:
        return self.terminal.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.output()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()


@contextmanager
def stack_up(app: Path, *args: str) -> Iterator[Up]:
    state = app / ".devstack"
    certs = ensure_certificates(state_root() / "certs")
    terminal = app / "up-terminal.log"
    with terminal.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "devstack", "up", "--host-port", "0", "--no-local-settings"),
                *("--certs-dir", str(certs.folder), "--exit-on-stdin-eof", *args),
            ],
            cwd=app,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    up = Up(process, terminal, state)
    try:
        yield up
    finally:
        up.stop()


def signature(app: Path, stack: StackInfo, source: str, body: bytes) -> dict[str, str]:
    payload = app / "payload.json"
    payload.write_bytes(body)
    signed = run(app, "scripts/sign.py", source, str(payload), "--state-dir", str(stack.state_dir))
    assert signed.returncode == 0, signed.stderr
    name, _, value = signed.stdout.strip().splitlines()[-1].partition(": ")
    return {name: value}


class Timings:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self.started))
        self.started = now
        print(f"adaptation step {name!r}: {self.steps[-1][1]:.1f} s", flush=True)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_repository(tmp_path / "myapp")


# --- 1. a source added in infra/ only ---------------------------------------------------------------


def test_a_source_added_in_infra_only_is_served_and_accepts_signed_deliveries(app: Path) -> None:
    timings = Timings()
    edit(
        app / "infra" / "main.bicep",
        "param webhookSources string = 'github'",
        "param webhookSources string = 'github,stripe'",
    )
    edit(app / "infra" / "main.parameters.json", "${WEBHOOK_SOURCES=github}", "${WEBHOOK_SOURCES=github,stripe}")
    timings.step("edit infra/")
    with stack_up(app) as up:
        stack = up.wait_ready()
        timings.step("up")
        assert stack.settings["WEBHOOK_SOURCES"] == "github,stripe"
        body = json.dumps({"zen": "Keep it logically awesome."}).encode()
        headers = {"X-GitHub-Delivery": "stripe-1", "X-GitHub-Event": "push", "Content-Type": "application/json"}
        headers |= signature(app, stack, "stripe", body)
        answer = requests.post(f"{stack.env.host_url}/api/webhooks/stripe", data=body, headers=headers, timeout=30)
        timings.step("signed delivery")
    assert answer.status_code == 202, answer.text


# --- 2. a route that deletes, from code to role -----------------------------------------------------

DELETE_ROUTE = '''"""Blueprint: delete an event's index record (added by the adaptation suite, as a user would)."""

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError

from frame.dependencies import COSMOS, calling
from frame.invocation import problem_responses
from webhooks.store import get_containers

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="webhooks/{source}/events/{id}", methods=["DELETE"])
@problem_responses
async def delete_event(req: func.HttpRequest) -> func.HttpResponse:
    with calling(COSMOS):
        try:
            await get_containers().index.delete_item(req.route_params["id"], partition_key=req.route_params["source"])
        except ResourceNotFoundError:
            return func.HttpResponse(status_code=404)
    return func.HttpResponse(status_code=204)
'''
ITEMS_DELETE = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/delete"
CUSTOM_ROLE = "Inbox app: index and query events"


def add_the_delete_route(app: Path) -> int:
    """The route, registered; returns the line of its delete_item call."""
    (app / "webhooks" / "removal.py").write_text(DELETE_ROUTE)
    edit(
        app / "function_app.py",
        "from webhooks import digest, probes, routes",
        "from webhooks import digest, probes, removal, routes",
    )
    edit(
        app / "function_app.py",
        "app.register_functions(routes.bp)",
        "app.register_functions(routes.bp)\napp.register_functions(removal.bp)",
    )
    return next(n for n, line in enumerate(DELETE_ROUTE.splitlines(), 1) if ".delete_item(" in line)


def declare_and_probe_the_delete(app: Path) -> None:
    edit(
        app / "webhooks" / "access.toml",
        'why = "list events" },',
        f'why = "list events" }},\n  {{ action = "{ITEMS_DELETE}", why = "delete an event" }},',
    )
    edit(
        app / "webhooks" / "probes.py",
        "        (INDEX, QUERY_ITEMS): _bind(store.probe_query, containers.index),",
        "        (INDEX, QUERY_ITEMS): _bind(store.probe_query, containers.index),\n"
        "        (INDEX, DELETE_ITEM): _bind(_probe_delete, containers.index),",
    )
    edit(app / "webhooks" / "probes.py", "QUERY_ITEMS = ", f'DELETE_ITEM = "{ITEMS_DELETE}"\nQUERY_ITEMS = ')
    with (app / "webhooks" / "probes.py").open("a") as probes:
        probes.write(
            "\n\nasync def _probe_delete(index: Any) -> None:\n"
            "    with contextlib.suppress(ResourceNotFoundError):  # authorised; nothing to delete\n"
            '        await index.delete_item("_diagnostics-deleted", partition_key="_diagnostics")\n'
        )


def deliver(app: Path, stack: StackInfo, source: str, event_id: str) -> requests.Response:
    body = json.dumps({"id": event_id}).encode()
    headers = {"X-GitHub-Delivery": event_id, "X-GitHub-Event": "push", "Content-Type": "application/json"}
    headers |= signature(app, stack, source, body)
    return requests.post(f"{stack.env.host_url}/api/webhooks/{source}", data=body, headers=headers, timeout=30)


def test_a_route_that_deletes_is_named_before_deploy_refused_by_name_and_then_granted(app: Path) -> None:
    timings = Timings()
    line = add_the_delete_route(app)
    checked = devstack_check(app)
    timings.step("check: undeclared call")
    findings = checked.stdout.splitlines()
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert len(findings) == 1, findings
    assert findings[0].startswith(f"webhooks/removal.py:{line} ContainerProxy.delete_item")
    assert ITEMS_DELETE in findings[0]
    assert f"add it to the custom role '{CUSTOM_ROLE}'" in findings[0]

    declare_and_probe_the_delete(app)
    checked = devstack_check(app)
    timings.step("check: declared, not granted")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    (ungranted,) = checked.stdout.splitlines()
    assert ITEMS_DELETE in ungranted
    assert CUSTOM_ROLE in ungranted
    with stack_up(app) as up:
        stack = up.wait_ready()
        timings.step("up")
        assert deliver(app, stack, "github", "to-delete").status_code == 202
        key = {"x-functions-key": stack.env.function_key}
        refused = requests.delete(f"{stack.env.host_url}/api/webhooks/github/events/to-delete", headers=key, timeout=30)
        master = {"x-functions-key": stack.env.master_key}
        diagnostics = requests.get(f"{stack.env.host_url}/api/diagnostics", headers=master, timeout=30)
        terminal = up.wait_for_output(f"cosmos refused the app's identity: {ITEMS_DELETE}")
        app_log = (stack.state_dir / "logs" / "functions.log").read_text()
        timings.step("refused at run time")
    assert refused.status_code == 503
    assert refused.json()["dependency"] == "cosmos"
    assert "Retry-After" in refused.headers
    assert f"warning: index: infra/ grants the app's identity no role for {ITEMS_DELETE}" in terminal
    assert f"cosmos refused the app's identity: {ITEMS_DELETE}" in terminal
    assert any(f"cosmos refused the app's identity {ITEMS_DELETE}" in line for line in app_log.splitlines())
    assert diagnostics.status_code == 503
    (cosmos,) = [c for c in diagnostics.json()["checks"] if c["name"] == "cosmos"]
    assert cosmos["action"] == ITEMS_DELETE

    edit(
        app / "infra" / "modules" / "access.bicep",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'\n",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'\n"
        f"          '{ITEMS_DELETE}'\n",
    )
    checked = devstack_check(app)
    timings.step("check: granted")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with stack_up(app) as up:
        stack = up.wait_ready()
        timings.step("up")
        assert deliver(app, stack, "github", "to-delete").status_code == 202
        key = {"x-functions-key": stack.env.function_key}
        deleted = requests.delete(f"{stack.env.host_url}/api/webhooks/github/events/to-delete", headers=key, timeout=30)
        gone = requests.get(f"{stack.env.host_url}/api/webhooks/github/events/to-delete", headers=key, timeout=30)
        master = {"x-functions-key": stack.env.master_key}
        diagnostics = requests.get(f"{stack.env.host_url}/api/diagnostics", headers=master, timeout=30)
        timings.step("granted at run time")
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert diagnostics.status_code == 200, diagnostics.text


# --- 3. renamed containers and database -------------------------------------------------------------


def test_renaming_the_digests_container_and_the_database_passes_everything_with_no_other_edit(app: Path) -> None:
    timings = Timings()
    edit(
        app / "infra" / "main.bicep",
        "var digestsContainerName = 'digests'",
        "var digestsContainerName = 'daily-digests'",
    )
    edit(app / "infra" / "main.bicep", "var cosmosDatabaseName = 'inbox'", "var cosmosDatabaseName = 'hooks-db'")
    checked = devstack_check(app)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    timings.step("devstack check")
    # The infra rules and the deployment model (the mutation tests edit this template's own text, and the
    # schema tests need files a copier leaves behind).
    rules = ("tests/infra/test_bicep.py", "tests/infra/test_deployment_model.py")
    infra = run(app, "-m", "pytest", "-q", "-p", "no:cacheprovider", *rules)
    assert infra.returncode == 0, infra.stdout[-4000:]
    timings.step("infra tests")
    with stack_up(app) as up:
        stack = up.wait_ready()
        timings.step("up")
        assert stack.settings["DIGESTS_CONTAINER"] == "daily-digests"
        assert stack.settings["COSMOS_DATABASE"] == "hooks-db"
        key = {"x-functions-key": stack.env.master_key}
        digest = requests.post(
            f"{stack.env.host_url}/admin/functions/daily_digest", json={"input": ""}, headers=key, timeout=30
        )
        diagnostics = requests.get(f"{stack.env.host_url}/api/diagnostics", headers=key, timeout=30)
        timings.step("digest and diagnostics")
        assert "daily_digest" in up.wait_for_output("daily_digest: Succeeded")
    assert digest.status_code == 202
    assert diagnostics.status_code == 200, diagnostics.text


# --- 4. a name Azure refuses ------------------------------------------------------------------------


def test_a_vault_name_azure_refuses_is_refused_in_one_line_by_the_check_and_the_stack(app: Path) -> None:
    timings = Timings()
    edit(app / "infra" / "main.bicep", "name: 'kv-${resourceToken}'", "name: 'kv-webhooks-${resourceToken}'")
    checked = devstack_check(app)
    timings.step("devstack check")
    lines = [line for line in (checked.stdout + checked.stderr).splitlines() if "Key Vault" in line]
    assert checked.returncode == 1
    assert len(lines) == 1, checked.stdout + checked.stderr
    assert "kv-webhooks-" in lines[0]
    assert "25 characters" in lines[0]
    assert "3-24" in lines[0]

    with stack_up(app) as up:
        code = up.process.wait(60)
        timings.step("up refused")
        terminal = up.output()
    assert code != 0
    assert "Traceback" not in terminal, terminal
    refusals = [line for line in terminal.splitlines() if "kv-webhooks-" in line]
    assert len(refusals) == 1, terminal
    assert (
        refusals[0].endswith(lines[0].split(": ", 1)[-1]) or lines[0] in refusals[0] or "25 characters" in refusals[0]
    )


# --- 5. another app entirely -------------------------------------------------------------------------


def test_the_tooling_serves_its_minimal_app_with_no_file_of_this_template_present(tmp_path: Path) -> None:
    timings = Timings()
    app = Path(shutil.copytree(ROOT / "azure-devstack" / "tests" / "minimal_app", tmp_path / "notes-app"))
    assert not (app / "webhooks").exists()
    assert not (app / "frame").exists()
    with stack_up(app) as up:
        stack = up.wait_ready()
        timings.step("up")
        answer = requests.put(f"{stack.env.host_url}/api/notes/first", data=b"hello", timeout=30)
        timings.step("request")
    assert answer.status_code == 201, answer.text
    assert answer.text.startswith("kept first; greeting has ")
