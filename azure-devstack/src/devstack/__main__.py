"""`python -m devstack up`: start the local Azure stack and serve the app until Ctrl-C or SIGTERM.

The app is the one whose pyproject.toml (with a `[tool.devstack]` table) is in the working directory
or above it, or the one `--project` names.

Before anything starts, `up` checks what would otherwise fail half-way, each with one line saying
what to do (`devstack: ...`, exit 1), never a traceback: another stack in the same state folder (its
pid; its files are left alone), a port that is taken, Node.js missing or too old, the app's
declaration or infra/ (ProjectError, ModelError, EvaluationError) and Azure's naming rules. It then
regenerates the app's grants file and warns, without stopping, about each declared action infra/
does not grant (Azure would deploy it, then refuse at run time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from infra_model.deployment import EvaluationError
from infra_model.resources import ModelError

from devstack import audit_cli, check_cli, checks, grants, role_drift
from devstack.children import ChildFailed, Echo
from devstack.console import ReadableHostLog, wants_colour
from devstack.cosmos_gateway import DEFAULT_RETRY_AFTER_MS
from devstack.launchers import LOOPBACK
from devstack.node_packages import ensure_node_packages
from devstack.preflight import HOST_PORT_OPTION, StartError, StateLock, check_node, check_ports
from devstack.project import Project, ProjectError
from devstack.settings_files import remove_dotenv
from devstack.stack import DEFAULT_HOST_PORT, DOTENV, Ports, RunningStack, StackOptions, start_stack

PROGRAM = "devstack"
# The tooling's own errors: each message says what is wrong and what to do. Anything else is a bug
# of the tooling, and its traceback is worth seeing.
TOOLING_ERRORS = (ProjectError, ModelError, EvaluationError, StartError, ChildFailed)
SERVICE_PORT_OPTIONS = ("token", "keyvault", "proxy", "blob", "cosmos", "host-storage")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _dispatch(argv)
    except TOOLING_ERRORS as error:
        print_error(error)
        return 1


def print_error(error: BaseException) -> None:
    """`devstack: <message>`; a StartError's every line is its own message, other errors keep
    their details (a child's log tail) below their first line."""
    first, *rest = str(error).splitlines() or [type(error).__name__]
    if isinstance(error, StartError):
        lines = [f"{PROGRAM}: {line}" for line in (first, *rest)]
    else:
        lines = [f"{PROGRAM}: {first}", *rest]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["grants"]:
        return grants.main(argv[1:])
    if argv[:1] == ["check"]:
        return check_cli.main(argv[1:])
    if argv[:1] == ["audit"]:
        return audit_cli.main(argv[1:])
    if argv[:1] == ["roles"]:
        return role_drift.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command != "up":
        _parser().print_help()
        return 2
    return up(args)


def up(args: argparse.Namespace) -> int:
    # A SIGTERM before the event loop runs (the checks, npm ci) stops `up` as Ctrl-C does; the loop
    # then takes both signals over.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        project = Project.find(args.project)
        state_dir = (args.state_dir or project.state_dir).resolve()
        lock = StateLock.take(state_dir)  # before anything is written: the folder may be another stack's
        try:
            options = _options(args, project, state_dir)
            check_ports(_fixed_ports(args))
            check_node()
            _ensure_npm_packages()
            _before_start(options, quiet=args.quiet)
            asyncio.run(_up(options, quiet=args.quiet, watch_stdin=args.exit_on_stdin_eof))
        finally:
            lock.release()
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _options(args: argparse.Namespace, project: Project, state_dir: Path) -> StackOptions:
    return StackOptions(
        project=project,
        state_dir=state_dir,
        ports=Ports(
            token=args.token_port,
            keyvault=args.keyvault_port,
            proxy=args.proxy_port,
            blob=args.blob_port,
            cosmos=args.cosmos_port,
            host_storage=args.host_storage_port,
            functions=None if args.no_host else args.host_port,
        ),
        environment=dict(_assignment("--env", s) for s in args.env),
        unseeded=tuple(s.strip() for s in args.unseeded.split(",") if s.strip()),
        extra_settings=dict(_assignment("--setting", s) for s in args.setting),
        seed_file=args.seed,
        certs_dir=args.certs_dir,
        infra_dir=args.infra_dir.resolve() if args.infra_dir else None,
        vault_purge_protection=None if args.vault_purge_protection is None else args.vault_purge_protection == "on",
        write_local_settings=not args.no_local_settings,
        force_local_settings=args.force,
        host_echo=_host_echo(args),
        refusal_echo=None if args.quiet else sys.stdout,
        colour=wants_colour(sys.stdout),
        debug_port=args.debug,
        cosmos_throttle=args.cosmos_throttle is not None,
        cosmos_retry_after_ms=args.cosmos_throttle or DEFAULT_RETRY_AFTER_MS,
    )


def _retry_after_ms(text: str) -> int:
    value = int(text) if text.isascii() and text.isdigit() else -1
    if not 0 < value <= 60_000:
        raise argparse.ArgumentTypeError(f"expected milliseconds from 1 to 60000, got {text!r}")
    return value


def _fixed_ports(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    """Each option that names a port (0 = any free one) with the ports it takes."""
    ports: dict[str, tuple[int, ...]] = {}
    if not args.no_host:
        ports[HOST_PORT_OPTION] = (args.host_port,)
    for name in SERVICE_PORT_OPTIONS:
        first = getattr(args, f"{name.replace('-', '_')}_port")
        # The host's storage takes three: blob, queue and table.
        ports[f"--{name}-port"] = (first, first + 1, first + 2) if name == "host-storage" and first else (first,)
    return ports


def _ensure_npm_packages() -> None:
    try:
        ensure_node_packages()
    except SystemExit as missing:  # npm not found: its message says what to install
        raise StartError(str(missing.code)) from None
    except subprocess.CalledProcessError as failed:
        raise StartError(
            f"npm ci failed (exit {failed.returncode}) installing the stack's npm packages: its output is above"
        ) from None


def _before_start(options: StackOptions, *, quiet: bool) -> None:
    """The grants file regenerated, and what Azure would refuse at run time, as warnings."""
    project = options.project
    if grants.write(project):
        relative = project.grants_file.relative_to(project.root)
        print(f"{PROGRAM}: wrote {relative}: the roles that grant the app's declared actions changed", file=sys.stderr)
    served = replace(project, infra_dir=options.infra_dir) if options.infra_dir else project
    warnings = list(grants.ungranted(served, environment=options.environment))
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr, flush=True)
    if not quiet:  # --quiet runs (test fixtures) would not show it
        _scan_code_in_background(project)


def _scan_code_in_background(project: Project) -> None:
    """The code's SDK calls against the declaration (`python -m devstack check`), printed as warnings
    when done: it types the code with mypy, about a second warm and longer in a new folder, so the
    stack does not wait for it."""

    def scan() -> None:
        try:
            findings = checks.check_code(project)
        except Exception as error:  # a scan that fails must not take the running stack with it
            print(f"warning: the code check did not run ({error}): try python -m devstack check", file=sys.stderr)
            return
        for finding in findings:
            print(f"warning: {finding.line()}", file=sys.stderr, flush=True)

    threading.Thread(target=scan, name="code-check", daemon=True).start()


async def _up(options: StackOptions, *, quiet: bool, watch_stdin: bool) -> None:
    """Start, serve until a signal (or stdin's end), stop. A signal during start-up stops what has
    started so far: start_stack and its children stop whatever they began when cancelled."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)
    if watch_stdin:
        _stop_at_stdin_eof(loop, stop)
    starting = asyncio.ensure_future(start_stack(options))
    stopping = asyncio.ensure_future(stop.wait())
    stack: RunningStack | None = None
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
        stack = await _started(starting)
        if stack is None:
            return
        if not quiet:
            _print_summary(stack, options)
        await stopping
    finally:
        stopping.cancel()
        (options.state_dir / "env.json").unlink(missing_ok=True)
        if options.write_local_settings:
            remove_dotenv(options.project.root / DOTENV)
        if stack is not None:
            await stack.stop()


async def _started(starting: asyncio.Future[RunningStack]) -> RunningStack | None:
    """The running stack, or None when the start was cancelled (and has cleaned up after itself)."""
    try:
        return await starting
    except asyncio.CancelledError:
        if starting.cancelled():
            return None
        raise


def _stop_at_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Used by the test fixture and dev.py: if the parent dies, the stack (and so its children) goes with it."""

    def wait_for_eof() -> None:
        # os.read on the raw descriptor: a daemon thread blocked in a buffered read would hold the
        # buffer's lock and abort the interpreter at exit.
        while os.read(stdin, 4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    stdin = sys.stdin.fileno()

    threading.Thread(target=wait_for_eof, name="stdin-watch", daemon=True).start()


def _print_summary(stack: RunningStack, options: StackOptions) -> None:
    """What runs where, from the deployment (never from the app's settings, whose names are the app's)."""
    env = stack.env_file
    details: Mapping[str, Any] = env.devstack
    endpoints: Mapping[str, str] = details.get("endpoints", {})
    lines = [
        "Local Azure stack is up",
        f"  token endpoint    {details.get('tokenEndpoint', '')}  (stats {env.token_stats_url})",
        f"  Key Vault         {endpoints.get('vault', '')}",
        f"  Blob (data)       {endpoints.get('blob', '')}",
        f"  Cosmos DB         {endpoints.get('cosmos', '')}",
        f"  (these Azure host names resolve through the stack's proxy {details.get('proxyUrl', '')})",
        f"  CA bundle         {env.ca_bundle}",
    ]
    if env.host_url:
        lines.append(f"  Functions host    {env.host_url}/api/  (keys in {options.state_dir / 'env.json'})")
        if options.debug_port is not None:
            lines.append(f"  debugger          debugpy on {LOOPBACK}:{options.debug_port} (attach from your editor)")
        lines += ["", "Functions:", *function_list(env.host_url, env.master_key), ""]
    else:
        lines.append("  Functions host    not started: run `func start` (it reads local.settings.json)")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


DEBUG_PORT = 5678  # debugpy's conventional port, and .vscode/launch.json's


def _host_echo(args: argparse.Namespace) -> Echo | None:
    """The host's lines on the terminal: readable by default, raw JSON with --json, none with --quiet."""
    if args.quiet:
        return None
    if args.json:
        return sys.stdout
    return ReadableHostLog(sys.stdout, colour=wants_colour(sys.stdout))


def function_list(host_url: str, master_key: str) -> list[str]:
    """As `func start` lists them: name, methods and URL, from the host's own admin API."""
    url = f"{host_url}/admin/functions"  # the stack's own loopback host
    request = urllib.request.Request(url, headers={"x-functions-key": master_key})  # noqa: S310
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(request, timeout=10) as response:
        functions = json.loads(response.read())
    lines = []
    for function in functions:
        trigger = function["config"]["bindings"][0]
        if function["invoke_url_template"]:
            methods = ",".join(m.upper() for m in trigger.get("methods") or ["*"])
            lines.append(f"        {function['name']}: [{methods}] {function['invoke_url_template']}")
        else:
            lines.append(f"        {function['name']}: {trigger['type']}")
    return lines


def _assignment(option: str, text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise StartError(f"{option} expects NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("grants", help="print, --write or --check the app's grants file (roles per declared action)")
    sub.add_parser("audit", help="the local services' access audit, one line per request (--denied: refusals only)")
    sub.add_parser("roles", help="the app identity's role assignments in Azure beside what infra/ declares")
    up = sub.add_parser("up", help="start the local stack and serve the app")
    up.add_argument(
        "--project",
        type=Path,
        help="the app's folder (default: the one whose pyproject.toml has [tool.devstack], from here up)",
    )
    up.add_argument("--state-dir", type=Path, help="certificates, logs and env.json (default: <app>/.devstack)")
    up.add_argument("--certs-dir", type=Path, help="local CA and server certificate (default: STATE_DIR/certs)")
    up.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an azd environment value for main.parameters.json, as `azd env set NAME VALUE` (repeatable)",
    )
    up.add_argument(
        "--unseeded",
        default="",
        metavar="NAMES",
        help="comma-separated declared secrets left unset, as right after `azd up` "
        "(names, or their placeholder values)",
    )
    up.add_argument("--infra-dir", type=Path, help="serve this copy of the Bicep instead of the app's infra/")
    up.add_argument(
        "--vault-purge-protection",
        choices=("on", "off"),
        help="override infra/'s enablePurgeProtection for the local vault (off: deleted secrets can be purged)",
    )
    up.add_argument(
        "--cosmos-throttle",
        type=_retry_after_ms,
        nargs="?",
        const=DEFAULT_RETRY_AFTER_MS,
        metavar="RETRY_AFTER_MS",
        help="Cosmos DB answers item requests 429 (sub-status 3200) with x-ms-retry-after-ms RETRY_AFTER_MS "
        f"(default {DEFAULT_RETRY_AFTER_MS}), as a container over its RU/s, until the faults control point clears it",
    )
    up.add_argument("--seed", type=Path, help="a JSON file of Key Vault secrets to start with")
    up.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="an extra app setting (repeatable)"
    )
    up.add_argument("--no-host", action="store_true", help="leave the app's port to `func start`")
    up.add_argument("--host-port", type=int, default=DEFAULT_HOST_PORT, help="0 = any free port")
    for name in SERVICE_PORT_OPTIONS:
        up.add_argument(f"--{name}-port", type=int, default=0, help="default: a free port")
    up.add_argument("--no-local-settings", action="store_true", help="do not write local.settings.json")
    up.add_argument(
        "--force",
        action="store_true",
        help="replace a local.settings.json you wrote (the stack's own is always rewritten)",
    )
    up.add_argument(
        "--quiet",
        action="store_true",
        help="print only warnings and errors; the function host logs to its file, and the code checks are skipped",
    )
    up.add_argument("--json", action="store_true", help="show the function host's JSON log lines as they are")
    up.add_argument(
        "--debug",
        nargs="?",
        type=int,
        const=DEBUG_PORT,
        metavar="PORT",
        help=f"run the function host under debugpy on PORT (default {DEBUG_PORT}) for an editor to attach",
    )
    up.add_argument("--exit-on-stdin-eof", action="store_true", help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    sys.exit(main())
