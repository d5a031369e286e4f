"""`python -m devstack.funchost --app-dir DIR [--host 127.0.0.1] [--port 7071] [--no-stdin-watch]`

Environment: DEVSTACK_FUNCTION_KEY and DEVSTACK_MASTER_KEY (required, removed before the app is
imported); the devstack limit settings in limits.py (optional, removed too); every other variable is
an app setting, as `func start` makes of local.settings.json, FUNCTIONS_REQUEST_BODY_SIZE_LIMIT
included. Exit codes: 0 after SIGTERM/SIGINT or end of stdin, 1 when the app cannot be indexed or the
port cannot be bound, 2 for bad arguments, missing keys or a bad limit setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from devstack.funchost.indexing import IndexingError, index_app
from devstack.funchost.invoker import Invoker
from devstack.funchost.keys import HostKeys, MissingKeyError
from devstack.funchost.limits import HostLimits, LimitSettingError
from devstack.funchost.logs import configure_logging
from devstack.funchost.parent_watch import exit_when_stdin_closes
from devstack.funchost.server import FunctionHost, serve

PROGRAM = "devstack.funchost"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    configure_logging()
    try:
        keys = HostKeys.take_from(os.environ)
        limits = HostLimits.from_environ(os.environ)
    except (MissingKeyError, LimitSettingError) as exc:
        return _fail(2, str(exc))
    if args.stdin_watch:
        exit_when_stdin_closes()
    try:
        host = FunctionHost(index_app(Path(args.app_dir)), keys, Invoker(), limits)
    except IndexingError as exc:
        return _fail(1, f"the function app in {args.app_dir} cannot be indexed, so the host will not start:\n{exc}")
    try:
        asyncio.run(serve(host, args.host, args.port))
    except OSError as exc:
        return _fail(1, f"cannot listen on {args.host}:{args.port}: {exc}")
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROGRAM}", description="Serve a Python v2 function app the way the Functions host does."
    )
    parser.add_argument("--app-dir", required=True, help="folder with function_app.py and host.json")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port to listen on; 0 picks a free one (default 7071)")
    parser.add_argument(
        "--no-stdin-watch",
        dest="stdin_watch",
        action="store_false",
        help="do not exit when stdin (if it is a pipe) reaches end-of-file",
    )
    return parser.parse_args(argv)


def _fail(code: int, message: str) -> int:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: interpreter shutdown joins the thread pool, and a sync function still running
    # there would keep a stopped host alive. The Functions host kills its worker the same way.
    os._exit(exit_code)
