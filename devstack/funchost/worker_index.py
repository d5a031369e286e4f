"""The real Python worker's indexing, from `azure-functions-runtime` (Python 3.13+ only).

On 3.13 the worker that Azure runs is this library: `loader.index_function_app` imports
`function_app` and calls `get_functions()`, then `loader.process_indexed_function` validates every
function (binding directions, parameter names and annotations, the `context` parameter, ...) and
builds the RpcFunctionMetadata messages the host receives. Those two calls need a `protos` object
only to construct messages and read three enum values, so a stub stands in for the gRPC module.

Found while wiring this up: `process_indexed_function` also needs `bindings.meta.load_binding_registry()`
to have run (the worker does it during WorkerInitRequest), otherwise it fails with an AttributeError
on a None registry. Nothing else was fiddly, so the host runs this as its indexing step and the
same functions it returns are what it serves.

`worker_metadata(app_dir)` runs the same indexing in a fresh interpreter (an app can be indexed only
once per process) and returns the metadata as plain dicts, for tests that compare it with what the
devstack host serves. Run directly: `python -m devstack.funchost.worker_index APP_DIR` prints it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.functions as func

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = "devstack.funchost.worker_index"  # not __name__, which is "__main__" when run with -m
SCRIPT_FILE = "function_app.py"


class WorkerRuntimeUnavailableError(RuntimeError):
    pass


class WorkerIndexingError(RuntimeError):
    pass


class _BindingInfo(SimpleNamespace):
    """Stand-in for protos.BindingInfo; the worker compares against these enum values only.

    Values from the host protocol (FunctionRpc.proto): Direction in=0, out=1, inout=2 and
    DataType undefined=0.
    """

    out = 1
    inout = 2
    undefined = 0


_PROTOS = SimpleNamespace(
    BindingInfo=_BindingInfo,
    RpcFunctionMetadata=SimpleNamespace,
    RpcRetryOptions=SimpleNamespace,
)


def available() -> bool:
    return sys.version_info >= (3, 13) and importlib.util.find_spec("azure_functions_runtime") is not None


def enter_app_dir(app_dir: Path) -> None:
    """What the worker does before indexing: run from the app directory and import from it first."""
    os.chdir(app_dir)
    sys.path.insert(0, str(app_dir))


def index_with_worker(app_dir: Path) -> list[func.Function]:
    """Index as the worker does and return the functions; raises the worker's own errors."""
    functions, _ = _index(app_dir)
    return functions


def _index(app_dir: Path) -> tuple[list[func.Function], list[Any]]:
    if not available():
        raise WorkerRuntimeUnavailableError("azure-functions-runtime needs Python 3.13+ and must be installed")
    # Imported here because the library exists only for Python 3.13+.
    from azure_functions_runtime import loader  # noqa: PLC0415
    from azure_functions_runtime.bindings.meta import load_binding_registry  # noqa: PLC0415
    from azure_functions_runtime.functions import Registry  # noqa: PLC0415

    load_binding_registry()
    functions = list(loader.index_function_app(str(app_dir / SCRIPT_FILE)))
    metadata, _ = loader.process_indexed_function(_PROTOS, Registry(), functions, str(app_dir))
    return functions, list(metadata)


def worker_metadata(
    app_dir: Path, *, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The function metadata the worker would send to the host for the app in `app_dir`."""
    if not available():
        raise WorkerRuntimeUnavailableError("azure-functions-runtime needs Python 3.13+ and must be installed")
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", MODULE, str(Path(app_dir).resolve())],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise WorkerIndexingError(f"the worker's indexing failed:\n{completed.stderr.strip()}")
    result: list[dict[str, Any]] = json.loads(completed.stdout)
    return result


def _as_dict(message: Any) -> dict[str, Any]:
    fields = dict(vars(message))
    fields["bindings"] = {name: dict(vars(info)) for name, info in fields.get("bindings", {}).items()}
    # The host parses raw_bindings as JSON; parsed dicts are easier to compare in tests.
    fields["raw_bindings"] = [json.loads(raw) for raw in fields.get("raw_bindings", [])]
    retry = fields.get("retry_options")
    fields["retry_options"] = None if retry is None else {k: _plain(v) for k, v in vars(retry).items()}
    return fields


def _plain(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m {MODULE} APP_DIR", file=sys.stderr)
        return 2
    app_dir = Path(argv[0]).resolve()
    enter_app_dir(app_dir)
    _, metadata = _index(app_dir)
    print(json.dumps([_as_dict(m) for m in metadata], default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
