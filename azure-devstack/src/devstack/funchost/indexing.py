"""Import a v2-programming-model app and describe its functions the way the host learns about them.

Like the worker: the app directory becomes the working directory and the front of sys.path, and
`function_app` is imported once (azure-functions allows `get_functions()` only once per app).

On Python 3.13+ with azure-functions-runtime installed, the runtime is the worker (runtime_worker):
its WorkerInitRequest imports and indexes the app, its FunctionLoadErrors stop the start-up here, and
the functions are what its FunctionMetadataResponse says, read the way the host reads it (raw_bindings
as JSON, the function id it will invoke them by). Otherwise the app is indexed in-process: its one
FunctionRegister (`func.FunctionApp`, or the ASGI/WSGI variants) is found, `get_functions()` is called
and each function's `get_function_json()` is what the host would receive.

Only httpTrigger and timerTrigger functions without further bindings are served; anything else is an
indexing error rather than a silently missing function.
"""

from __future__ import annotations

import importlib
import inspect
import json
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import azure.functions as func

from devstack.funchost import runtime_protos, runtime_worker, worker_index
from devstack.funchost.keys import AuthLevel

SCRIPT_MODULE = "function_app"
HOST_JSON = "host.json"
DEFAULT_ROUTE_PREFIX = "api"
CONTEXT_PARAMETER = "context"

T = TypeVar("T")


class IndexingError(RuntimeError):
    """The host would refuse to start with this app; the message says why."""


@dataclass(frozen=True)
class HttpTrigger:
    parameter: str
    route: str
    methods: tuple[str, ...] | None
    auth_level: AuthLevel


@dataclass(frozen=True)
class TimerTrigger:
    parameter: str
    schedule: str
    run_on_startup: bool
    use_monitor: bool


@dataclass(frozen=True)
class PythonCallable:
    """A function the in-process invoker calls itself (Python 3.11/3.12)."""

    callable: Callable[..., Any]
    is_async: bool
    wants_context: bool


@dataclass(frozen=True)
class LoadedInWorker:
    """A function azure-functions-runtime has loaded; invocations name it by the worker's id."""

    function_id: str


@dataclass(frozen=True)
class AppFunction:
    name: str
    bindings: tuple[dict[str, Any], ...]
    trigger: HttpTrigger | TimerTrigger
    directory: str
    implementation: PythonCallable | LoadedInWorker


@dataclass(frozen=True)
class IndexedApp:
    app_dir: Path
    route_prefix: str
    functions: tuple[AppFunction, ...]
    validated_by_worker: bool


def index_app(app_dir: Path) -> IndexedApp:
    app_dir = app_dir.resolve()
    route_prefix = read_route_prefix(app_dir)
    _enter_app_dir(app_dir)
    if runtime_worker.available():
        worker = _guarded("the Python worker refused the app", lambda: runtime_worker.start(app_dir))
        described = _guarded("the worker's metadata is unusable", lambda: tuple(map(from_metadata, worker.functions)))
        return IndexedApp(app_dir, route_prefix, described, validated_by_worker=True)
    return index_in_process(app_dir, route_prefix)


def index_in_process(app_dir: Path, route_prefix: str) -> IndexedApp:
    """The in-process invoker's indexing (Python 3.11/3.12); `app_dir` is already the working directory."""
    functions = _guarded("importing function_app failed", lambda: _find_function_register().get_functions())
    described = _guarded("describing the functions failed", lambda: tuple(describe_function(f) for f in functions))
    return IndexedApp(app_dir, route_prefix, described, validated_by_worker=False)


def read_route_prefix(app_dir: Path) -> str:
    """`extensions.http.routePrefix` from host.json; "api" when absent, and "" is allowed."""
    path = app_dir / HOST_JSON
    try:
        config = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise IndexingError(f"{path} not found: the host needs a host.json in the app directory") from None
    except (OSError, ValueError) as exc:
        raise IndexingError(f"{path} is not readable JSON: {exc}") from None
    extensions = config.get("extensions") if isinstance(config, dict) else None
    http = extensions.get("http") if isinstance(extensions, dict) else None
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else DEFAULT_ROUTE_PREFIX
    if not isinstance(prefix, str):
        raise IndexingError(f"{path}: extensions.http.routePrefix must be a string, not {prefix!r}")
    return prefix.strip("/")


def _enter_app_dir(app_dir: Path) -> None:
    if not (app_dir / f"{SCRIPT_MODULE}.py").is_file():
        raise IndexingError(f"{app_dir} has no {SCRIPT_MODULE}.py")
    worker_index.enter_app_dir(app_dir)


def _guarded(what: str, step: Callable[[], T]) -> T:
    try:
        return step()
    except IndexingError:
        raise
    except (runtime_worker.WorkerRefusedError, runtime_protos.ProtosUnavailableError) as exc:  # already explained
        raise IndexingError(f"{what}: {exc}") from exc
    except Exception as exc:
        details = "".join(traceback.format_exception(exc)).rstrip()
        raise IndexingError(f"{what}: {exc}\n{details}") from exc


def _find_function_register() -> func.FunctionRegister:
    module = importlib.import_module(SCRIPT_MODULE)
    registers = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    unique = list({id(register): register for register in registers}.values())
    if not unique:
        raise IndexingError(f"{SCRIPT_MODULE}.py defines no top-level function app (func.FunctionApp)")
    if len(unique) > 1:
        raise IndexingError(f"{SCRIPT_MODULE}.py defines more than one top-level function app; the worker allows one")
    return unique[0]


def describe_function(function: func.Function) -> AppFunction:
    name = function.get_function_name()
    if not name:
        raise IndexingError(f"a function has no name: {function}")
    document = json.loads(function.get_function_json())
    bindings = tuple(document.get("bindings", []))
    trigger = _trigger(name, bindings)
    user_function = function.get_user_function()
    wants_context = _check_parameters(name, user_function, trigger.parameter)
    return AppFunction(
        name=name,
        bindings=bindings,
        trigger=trigger,
        directory=str(Path(inspect.getfile(user_function)).resolve().parent),
        implementation=PythonCallable(user_function, inspect.iscoroutinefunction(user_function), wants_context),
    )


def from_metadata(metadata: Any) -> AppFunction:
    """A function as the host learns it from the worker's RpcFunctionMetadata."""
    bindings = tuple(json.loads(raw) for raw in metadata.raw_bindings)
    return AppFunction(
        name=metadata.name,
        bindings=bindings,
        trigger=_trigger(metadata.name, bindings),
        directory=metadata.directory,
        implementation=LoadedInWorker(metadata.function_id),
    )


def _trigger(name: str, bindings: Sequence[dict[str, Any]]) -> HttpTrigger | TimerTrigger:
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        raise IndexingError(f"function {name!r} must have exactly one trigger binding, found {len(triggers)}")
    trigger = triggers[0]
    others = [b for b in bindings if b is not trigger and not _is_http_return(b)]
    if trigger["type"] == "httpTrigger" and not others:
        return _http_trigger(name, trigger)
    if trigger["type"] == "timerTrigger" and not others:
        return _timer_trigger(trigger)
    unsupported = ", ".join(sorted({str(b.get("type")) for b in (trigger, *others)}))
    raise IndexingError(
        f"function {name!r} uses {unsupported}: the devstack host serves only httpTrigger and "
        "timerTrigger functions without other bindings"
    )


def _is_http_return(binding: dict[str, Any]) -> bool:
    return binding.get("type") == "http" and binding.get("name") == "$return"


def _http_trigger(name: str, binding: dict[str, Any]) -> HttpTrigger:
    methods = binding.get("methods")
    try:
        auth_level = AuthLevel.from_binding(binding.get("authLevel"))
    except ValueError as exc:
        raise IndexingError(f"function {name!r}: {exc}") from None
    return HttpTrigger(
        parameter=binding["name"],
        route=binding.get("route") or name,  # the host's default route is the function name
        methods=tuple(str(m).upper() for m in methods) if methods else None,
        auth_level=auth_level,
    )


def _timer_trigger(binding: dict[str, Any]) -> TimerTrigger:
    return TimerTrigger(
        parameter=binding["name"],
        schedule=str(binding.get("schedule", "")),
        run_on_startup=bool(binding.get("runOnStartup", False)),
        use_monitor=bool(binding.get("useMonitor", True)),
    )


def _check_parameters(name: str, user_function: Callable[..., Any], trigger_parameter: str) -> bool:
    """The worker's rule: every Python parameter is a binding, except an optional `context`."""
    parameters = set(inspect.signature(user_function).parameters)
    if trigger_parameter not in parameters:
        raise IndexingError(f"function {name!r} has no parameter named {trigger_parameter!r} for its trigger")
    unbound = parameters - {trigger_parameter, CONTEXT_PARAMETER}
    if unbound:
        raise IndexingError(f"function {name!r} has parameters no binding provides: {sorted(unbound)}")
    return CONTEXT_PARAMETER in parameters
