"""`python -m devstack up`: start the local Azure stack and serve the app until Ctrl-C or SIGTERM.

The app is the one whose pyproject.toml (with a `[tool.devstack]` table) is in the working directory
or above it, or the one `--project` names."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

from devstack import grants
from devstack.children import Echo
from devstack.console import ReadableHostLog, wants_colour
from devstack.launchers import LOOPBACK
from devstack.project import Project
from devstack.settings_files import remove_dotenv
from devstack.stack import DEFAULT_HOST_PORT, DOTENV, Ports, RunningStack, StackOptions, start_stack


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["grants"]:
        return grants.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command != "up":
        _parser().print_help()
        return 2
    project = Project.find(args.project)
    options = StackOptions(
        project=project,
        state_dir=(args.state_dir or project.state_dir).resolve(),
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
        debug_port=args.debug,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_up(options, quiet=args.quiet, watch_stdin=args.exit_on_stdin_eof))
    return 0


async def _up(options: StackOptions, *, quiet: bool, watch_stdin: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)
    if watch_stdin:
        _stop_at_stdin_eof(loop, stop)
    stack = await start_stack(options)
    if not quiet:
        _print_summary(stack, options)
    try:
        await stop.wait()
    finally:
        (options.state_dir / "env.json").unlink(missing_ok=True)
        if options.write_local_settings:
            remove_dotenv(options.app_dir / DOTENV)
        await stack.stop()


def _stop_at_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Used by the test fixture: if the test run dies, the stack (and so its children) goes with it."""

    def wait_for_eof() -> None:
        # os.read on the raw descriptor: a daemon thread blocked in a buffered read would hold the
        # buffer's lock and abort the interpreter at exit.
        while os.read(stdin, 4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    stdin = sys.stdin.fileno()

    threading.Thread(target=wait_for_eof, name="stdin-watch", daemon=True).start()


def _print_summary(stack: RunningStack, options: StackOptions) -> None:
    env = stack.env_file
    s = env.settings
    lines = [
        "Local Azure stack is up",
        f"  token endpoint    {s['IDENTITY_ENDPOINT']}  (stats {env.token_stats_url})",
        f"  Key Vault         {s['AZURE_KEY_VAULT_ENDPOINT']}",
        f"  Blob (data)       {s['AZURE_STORAGE_BLOB_ENDPOINT']}",
        f"  Cosmos DB         {s['AZURE_COSMOS_ENDPOINT']}",
        f"  (these Azure host names resolve through the stack's proxy {s['HTTPS_PROXY']})",
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
        raise SystemExit(f"{option} expects NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("grants", help="print, --write or --check the app's grants file (roles per declared action)")
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
        help="comma-separated declared secrets left unset, as right after `azd up` (names, or their placeholder values)",
    )
    up.add_argument("--infra-dir", type=Path, help="serve this copy of the Bicep instead of the app's infra/")
    up.add_argument(
        "--vault-purge-protection",
        choices=("on", "off"),
        help="override infra/'s enablePurgeProtection for the local vault (off: deleted secrets can be purged)",
    )
    up.add_argument("--seed", type=Path, help="a JSON file of Key Vault secrets to start with")
    up.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="an extra app setting (repeatable)"
    )
    up.add_argument("--no-host", action="store_true", help="leave the app's port to `func start`")
    up.add_argument("--host-port", type=int, default=DEFAULT_HOST_PORT, help="0 = any free port")
    for name in ("token", "keyvault", "proxy", "blob", "cosmos", "host-storage"):
        up.add_argument(f"--{name}-port", type=int, default=0, help="default: a free port")
    up.add_argument("--no-local-settings", action="store_true", help="do not write local.settings.json")
    up.add_argument("--force", action="store_true", help="replace an existing local.settings.json")
    up.add_argument("--quiet", action="store_true", help="print nothing; the function host logs to its file")
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
