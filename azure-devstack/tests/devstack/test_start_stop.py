"""Starting and stopping as a developer does, from a terminal: what `up` refuses (in one line, before
anything starts), what it shows while it runs, and what is left when it stops.

Each test starts `python -m devstack up` in a subprocess on its own copy of the tooling's minimal app
(the stack writes `.env`, `local.settings.json` and the grants file beside the app). A stack start costs
4-10 s, so one stack serves every test that only watches it (`running`).
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devstack import grants
from devstack.preflight import StateLock, node_minimum
from devstack.project import Project
from devstack.pytest_plugin import CERTS
from devstack.refusals import refusal_line
from devstack.settings_files import EnvFile, write_local_settings
from devstack.testing import StackInfo, process_alive

MINIMAL_APP = Path(__file__).resolve().parents[1] / "minimal_app"
DEV_PY = Path(__file__).resolve().parents[3] / "dev.py"  # the template's bootstrap, beside azure-devstack/
START_SECONDS = 120.0
STOP_SECONDS = 30.0
SET_SECRET = "Microsoft.KeyVault/vaults/secrets/setSecret/action"
# What devstack/role_advice.py says grants it, in the words the grants file, `check` and `up` all use.
SET_SECRET_FIX = (
    "to grant it, assign the app's identity the built-in role 'Key Vault Secrets Officer' "
    "(the narrowest that has it) in infra/"
)

# The copy's app: one function that needs the function key (the minimal app's is anonymous).
FUNCTION_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
"""
# A declared action infra/ does not grant: `up` warns about it, and its refusal names the fix.
UNGRANTED_DECLARATION = f'''

[[resource]]
name = "greeting-writer"
service = "keyvault"
endpoint-setting = "VAULT_URL"
secret-names = "greeting"
actions = [{{ action = "{SET_SECRET}", why = "rotate the greeting" }}]
'''


needs_dev_py = pytest.mark.skipif(not DEV_PY.exists(), reason="dev.py is the template's, beside azure-devstack/")


def copy_app(folder: Path, *, ungranted: bool = True) -> Path:
    """The minimal app with a function that needs its key; `ungranted`: and a declared action infra/
    does not grant. Its grants file is brought up to date, as `up` would."""
    app = Path(
        shutil.copytree(MINIMAL_APP, folder, ignore=shutil.ignore_patterns(".devstack", ".env", "local.settings.json"))
    )
    (app / "function_app.py").write_text(FUNCTION_APP)
    project = Project.find(app)
    grants.write(project)
    if ungranted:
        with project.access_file.open("a") as declaration:
            declaration.write(UNGRANTED_DECLARATION)
    return app


_runs = itertools.count()


@dataclass
class Up:
    """One `up` (or a parent of it) with its terminal output kept in files."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    out: Path
    err: Path

    @classmethod
    def start(
        cls,
        app: Path,
        state_dir: Path,
        *args: str,
        parent: Sequence[str] = (sys.executable, "-m", "devstack", "up"),
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Up:
        state_dir.mkdir(parents=True, exist_ok=True)
        terminal = state_dir.parent / f"{state_dir.name}-{next(_runs)}"  # a second `up` on a folder has its own
        out, err = terminal.with_suffix(".out"), terminal.with_suffix(".err")
        command = [*parent, "--project", str(app), "--state-dir", str(state_dir), "--certs-dir", str(CERTS.folder)]
        process = subprocess.Popen(
            [*command, *args],
            cwd=cwd or app,
            stdin=subprocess.PIPE,
            stdout=out.open("wb"),
            stderr=err.open("wb"),
            env=env,
        )
        return cls(process, state_dir, out, err)

    @property
    def env_path(self) -> Path:
        return self.state_dir / "env.json"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_ready(self) -> StackInfo:
        deadline = time.monotonic() + START_SECONDS
        while not self.env_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"up did not start (exit {self.process.returncode}):\n{self.stderr()[-4000:]}")
            time.sleep(0.05)
        return StackInfo(EnvFile.load(self.env_path), self.state_dir)

    def finish(self, timeout: float = STOP_SECONDS) -> int:
        """For an `up` expected to exit by itself."""
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (shown := self.stdout()):
            assert time.monotonic() < deadline, f"{text!r} never appeared on the terminal:\n{shown[-3000:]}"
            time.sleep(0.05)
        return shown


def refused_in_one_line(up: Up) -> str:
    """`up` exited 1 with one `devstack:` line on stderr and nothing on stdout."""
    code = up.finish()
    stderr = up.stderr()
    assert (code, up.stdout()) == (1, ""), stderr
    assert "Traceback" not in stderr
    (line,) = stderr.splitlines()
    assert line.startswith("devstack: ")
    return line


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, StackInfo]]:
    """A stack as a developer sees it: not quiet (so it also runs the code checks, devstack/checks.py, whose
    first scan of a new folder takes some seconds), writing local.settings.json and .env beside its app.
    The other stacks are --quiet: nothing they print to stdout is tested."""
    root = tmp_path_factory.mktemp("running")
    up = Up.start(copy_app(root / "app"), root / "state", "--host-port", "0")
    try:
        yield up, up.wait_ready()
    finally:
        up.stop()


# ---- refused before anything starts ---------------------------------------------------------------


def test_a_taken_port_is_one_line_naming_it_and_the_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Up.start(copy_app(tmp_path / "app"), tmp_path / "state", "--host-port", str(port))
        line = refused_in_one_line(up)
    assert line == (
        f"devstack: port {port} is in use (another func start or dev.py up?): stop it, "
        "or pass --host-port 0 for a free one"
    )
    assert {p.name for p in up.state_dir.iterdir()} == {"stack.lock"}  # checked before anything started


def test_what_infra_or_the_project_gets_wrong_is_one_line_each(tmp_path: Path) -> None:
    app = copy_app(tmp_path / "app", ungranted=False)
    # A blob container name Azure refuses (underscore, capital), through main.parameters.json.
    bad_name = Up.start(app, tmp_path / "state", "--host-port", "0", "--quiet", "--env", "NOTES_CONTAINER=Notes_2")
    line = refused_in_one_line(bad_name)
    assert line.startswith("devstack: Azure would refuse this name: Blob container name 'Notes_2'")
    assert not (bad_name.state_dir / "logs" / "cosmos.log").exists()  # nothing started

    (tmp_path / "elsewhere").mkdir()
    no_project = Up.start(tmp_path / "elsewhere", tmp_path / "state2", "--host-port", "0")
    assert "no pyproject.toml with a [tool.devstack] table" in refused_in_one_line(no_project)


@pytest.mark.parametrize("node", ["missing", "too old"])
def test_node_missing_or_too_old_is_one_line_naming_what_to_install(tmp_path: Path, node: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if node == "too old":
        fake = bin_dir / "node"
        fake.write_text("#!/bin/sh\necho v18.19.0\n")
        fake.chmod(0o755)
    env = {**os.environ, "PATH": str(bin_dir)}
    up = Up.start(copy_app(tmp_path / "app"), tmp_path / "state", "--host-port", "0", env=env)
    line = refused_in_one_line(up)
    assert f"Node.js {node_minimum()} or newer is required" in line
    assert ("v18.19.0" if node == "too old" else "`node` is not on PATH") in line


# ---- one stack per state folder -------------------------------------------------------------------


def fingerprints(paths: Sequence[Path]) -> dict[str, str]:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if "logs" not in f.parts}


def test_a_second_stack_in_the_same_state_folder_names_the_first_and_touches_none_of_its_files(
    running: tuple[Up, StackInfo],
) -> None:
    first, _info = running
    app = project_of(first).root
    watched = [first.state_dir, app / ".env", app / "local.settings.json", app / "notes"]
    before = fingerprints(watched)
    assert any(name.endswith("env.json") for name in before)
    assert any(name.endswith(".env") for name in before)

    second = Up.start(app, first.state_dir, "--host-port", "0")
    line = refused_in_one_line(second)

    assert line.startswith(f"devstack: a local stack is already running in {first.state_dir} (pid {first.process.pid})")
    assert "--state-dir" in line
    assert fingerprints(watched) == before
    assert first.process.poll() is None


def test_a_stale_lock_of_a_dead_stack_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "stack.lock").write_text(f"{dead.pid}\n")
    lock = StateLock.take(tmp_path)
    try:
        assert (tmp_path / "stack.lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


# ---- what the terminal shows ----------------------------------------------------------------------


def test_up_warns_about_each_declared_action_infra_does_not_grant_and_starts_anyway(
    running: tuple[Up, StackInfo],
) -> None:
    first, _info = running
    warnings = [line for line in first.stderr().splitlines() if line.startswith("warning: ")]
    assert [w for w in warnings if SET_SECRET in w] == [
        f"warning: greeting-writer: infra/ grants the app's identity no role for {SET_SECRET} (rotate the greeting): "
        + SET_SECRET_FIX
    ]
    assert next(g.fix for g in grants.resolve(project_of(first)) if g.declared.action == SET_SECRET) == SET_SECRET_FIX
    assert "devstack: wrote notes/grants.json" in first.stderr()  # the copy's declaration changed it


def project_of(up: Up) -> Project:
    args = list(up.process.args)  # type: ignore[arg-type]
    return Project.find(Path(str(args[args.index("--project") + 1])))


def test_a_wrong_function_key_is_one_line_on_the_terminal_without_the_key(running: tuple[Up, StackInfo]) -> None:
    up, info = running
    wrong = "not-the-key-" + "x" * 20
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for url, headers in (
        (f"{info.env.host_url}/api/ping?code={wrong}", {}),
        (f"{info.env.host_url}/api/ping", {"x-functions-key": wrong}),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(urllib.request.Request(url, headers=headers), timeout=10)  # noqa: S310
        assert refused.value.code == 401
    line = "[401] GET /api/ping: the function key is missing or wrong (x-functions-key header or ?code=)"
    shown = up.wait_for_output(line)
    deadline = time.monotonic() + 10
    while shown.count(line) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        shown = up.stdout()
    assert shown.count(line) == 2
    assert wrong not in shown
    assert "code=" not in shown.replace("?code=)", "")


def _https(
    url: str, info: StackInfo, *, method: str = "GET", headers: dict[str, str], body: bytes | None = None
) -> int:
    context = ssl.create_default_context(cafile=info.env.devstack["caCert"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_each_refusal_of_the_app_identity_is_one_line_in_the_apps_words(running: tuple[Up, StackInfo]) -> None:
    up, info = running
    details = info.env.devstack
    vault_scope = f"{details['resourceIds']['vault']}/secrets/greeting"
    for who in ("outsider", "app"):  # the outsider first: its refusal must not be shown
        token = info.mint("https://vault.azure.net", who=who)
        status = _https(
            f"{details['keyvaultDirectUrl']}/secrets/greeting?api-version=7.5",
            info,
            method="PUT",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            body=b'{"value": "hello"}',
        )
        assert status == 403
    shown = up.wait_for_output(refusal_line("keyvault", SET_SECRET, vault_scope, SET_SECRET_FIX))

    cosmos_host = urllib.parse.urlsplit(details["endpoints"]["cosmos"]).hostname
    token = info.mint(f"https://{cosmos_host}", who="app")
    headers = {
        "authorization": urllib.parse.quote(f"type=aad&ver=1.0&sig={token}"),
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": "2020-07-15",
    }
    assert _https(f"{details['cosmosDirectUrl']}dbs", info, headers=headers) == 403  # no role at the account
    read_metadata = "Microsoft.DocumentDB/databaseAccounts/readMetadata"
    # The app's custom role is at its container, not the account: the narrowest built-in role that has it.
    account_fix = (
        "to grant it, assign the app's identity the Cosmos DB built-in data role 'Cosmos DB Built-in Data Reader' "
        "(the narrowest that has it) in infra/ (the app does not declare it in notes/access.toml)"
    )
    shown = up.wait_for_output(refusal_line("cosmos", read_metadata, details["resourceIds"]["cosmos"], account_fix))

    refusals = [line for line in shown.splitlines() if "refused the app's identity" in line]
    assert len(refusals) == 2, refusals
    assert info.object_id("outsider") not in shown


# ---- local.settings.json ---------------------------------------------------------------------------


def test_the_stacks_local_settings_are_rewritten_at_the_next_start(
    running: tuple[Up, StackInfo], tmp_path: Path
) -> None:
    first, first_info = running
    app = Path(shutil.copytree(project_of(first).root, tmp_path / "app"))  # with the first start's file
    left = json.loads((app / "local.settings.json").read_text())
    assert left["Values"]["IDENTITY_HEADER"] == first_info.settings["IDENTITY_HEADER"]

    second = Up.start(app, tmp_path / "state", "--host-port", "0", "--quiet")
    try:
        second_info = second.wait_ready()
        rewritten = json.loads((app / "local.settings.json").read_text())
    finally:
        second.stop()

    assert rewritten["Values"] == dict(second_info.settings)
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "HTTPS_PROXY"):
        assert rewritten["Values"][name] != left["Values"][name], name
    assert "_devstack" in rewritten
    assert not (app / ".env").exists()  # removed at the stop, with its keys


def test_a_local_settings_file_of_your_own_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    yours = '{"IsEncrypted": false, "Values": {"MINE": "1"}}\n'
    path.write_text(yours)
    assert not write_local_settings(path, {"FROM_STACK": "1"}, force=False)
    assert path.read_text() == yours
    assert write_local_settings(path, {"FROM_STACK": "1"}, force=True)
    assert write_local_settings(path, {"FROM_STACK": "2"}, force=False)  # now the stack's: rewritten
    assert json.loads(path.read_text())["Values"] == {"FROM_STACK": "2"}


# ---- stopping through dev.py ----------------------------------------------------------------------


def dev_py() -> Any:
    sys.path.insert(0, str(DEV_PY.parent))
    try:
        return importlib.import_module("dev")
    finally:
        sys.path.remove(str(DEV_PY.parent))


@needs_dev_py
def test_dev_py_without_a_suitable_python_says_what_to_install_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = dev_py()
    monkeypatch.setattr(dev, "MINIMUM", (99, 0))  # newer than anything installed here
    monkeypatch.setattr(dev, "find_python", lambda minor: None)
    with pytest.raises(dev.SetupError, match=r"Python 99\.0\+ .* is required; found 3\.\d+\.\d+ .*: install Python"):
        dev.find_base_python()
    assert dev.main(["setup"]) == 1  # .venv exists, with a Python older than 99.0
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith("dev.py: .venv has 3.")
    assert "remove .venv" in line


# dev.py's `up` without its set-up steps (venv, pip, npm), which the test run has done already.
DEV_PY_UP = (sys.executable, "-c", "import sys, dev; sys.exit(dev.up(sys.executable, sys.argv[1:]))")


def gone(pids: Sequence[int], timeout: float = STOP_SECONDS) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if process_alive(pid)]
    return alive


@needs_dev_py
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signal_to_dev_py_up_stops_every_child_and_removes_env_files(tmp_path: Path, how: str) -> None:
    app = copy_app(tmp_path / "app")
    up = Up.start(app, tmp_path / "state", "--host-port", "0", "--quiet", parent=DEV_PY_UP, cwd=DEV_PY.parent)
    try:
        info = up.wait_ready()
        pids = list(info.pids().values())
        assert {"azurite-data", "azurite-host", "cosmos", "functions"} <= set(info.pids())
        assert (app / ".env").exists()

        os.kill(up.process.pid, getattr(signal, how))  # dev.py only, as `kill` would
        assert up.finish() == 0
    finally:
        up.stop()

    assert gone(pids) == []
    assert not up.env_path.exists()
    assert not (app / ".env").exists()
    assert "Traceback" not in up.stderr()


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with_children = task / "children"
            if with_children.exists():
                children = {int(c) for c in with_children.read_text().split()}
                todo += list(children - found)
                found |= children
    return found


@needs_dev_py
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the stack's children through /proc")
def test_a_sigterm_during_start_up_stops_what_had_started(tmp_path: Path) -> None:
    app = copy_app(tmp_path / "app")
    up = Up.start(app, tmp_path / "state", "--host-port", "0", "--quiet", parent=DEV_PY_UP, cwd=DEV_PY.parent)
    try:
        deadline = time.monotonic() + START_SECONDS
        seen: set[int] = set()
        while len(seen) < 3:  # dev.py's `up`, then its first children (the Node services)
            assert up.process.poll() is None, up.stderr()
            assert time.monotonic() < deadline
            seen |= descendants(up.process.pid)
            time.sleep(0.02)
        assert not up.env_path.exists()  # still starting

        os.kill(up.process.pid, signal.SIGTERM)
        assert up.finish() == 0
    finally:
        up.stop()

    # The start was abandoned where it was, not finished and then stopped: the function host, which
    # starts after the Node services, never did.
    assert not (up.state_dir / "logs" / "functions.log").exists()
    assert gone(sorted(seen)) == []
    assert gone(serving(tmp_path)) == []  # children started after the last look, too
    assert not up.env_path.exists()
    assert not (app / ".env").exists()
    assert "Traceback" not in up.stderr()


def serving(folder: Path) -> list[int]:
    """Processes whose command line names `folder` (the Cosmos server's access file, the host's app)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(folder).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found
