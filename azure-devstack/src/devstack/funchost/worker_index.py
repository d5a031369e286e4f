"""The real Python worker's indexing, from `azure-functions-runtime` (Python 3.13+ only), as data.

`worker_metadata(app_dir)` starts the worker (runtime_worker: WorkerInitRequest, then
FunctionsMetadataRequest) in a fresh interpreter, because an app can be indexed only once per
process, and returns the RpcFunctionMetadata the host would receive as plain dicts, for tests that
compare it with what the devstack host serves. Run directly, `python -m devstack.funchost.worker_index
APP_DIR` prints it. `enter_app_dir` is what the worker process does before indexing, for either invoker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.funchost import runtime_worker

MODULE = "devstack.funchost.worker_index"  # not __name__, which is "__main__" when run with -m


class WorkerRuntimeUnavailableError(RuntimeError):
    pass


class WorkerIndexingError(RuntimeError):
    pass


def available() -> bool:
    return runtime_worker.available()


def enter_app_dir(app_dir: Path) -> None:
    """What the worker does before indexing: run from the app directory and import from it first."""
    os.chdir(app_dir)
    sys.path.insert(0, str(app_dir))


def worker_metadata(
    app_dir: Path, *, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The function metadata the worker would send to the host for the app in `app_dir`."""
    if not available():
        raise WorkerRuntimeUnavailableError(runtime_worker.unavailable_reason())
    child_env = dict(os.environ if env is None else env)
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


def as_dict(metadata: Any) -> dict[str, Any]:
    """RpcFunctionMetadata as plain data; raw_bindings parsed, as the host parses them."""
    retry = metadata.retry_options if metadata.HasField("retry_options") else None
    return {
        "name": metadata.name,
        "function_id": metadata.function_id,
        "directory": metadata.directory,
        "script_file": metadata.script_file,
        "entry_point": metadata.entry_point,
        "language": metadata.language,
        "bindings": {
            name: {"type": info.type, "direction": info.direction, "data_type": info.data_type}
            for name, info in metadata.bindings.items()
        },
        "raw_bindings": [json.loads(raw) for raw in metadata.raw_bindings],
        "retry_options": None if retry is None else _retry_dict(retry),
        "properties": dict(metadata.properties),
    }


def _retry_dict(retry: Any) -> dict[str, Any]:
    intervals = ("delay_interval", "minimum_interval", "maximum_interval")
    seconds = {name: getattr(retry, name).ToTimedelta().total_seconds() for name in intervals if retry.HasField(name)}
    return {"max_retry_count": retry.max_retry_count, "retry_strategy": retry.retry_strategy, **seconds}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m {MODULE} APP_DIR", file=sys.stderr)
        return 2
    app_dir = Path(argv[0]).resolve()
    enter_app_dir(app_dir)
    worker = runtime_worker.start(app_dir)
    print(json.dumps([as_dict(m) for m in worker.functions]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
