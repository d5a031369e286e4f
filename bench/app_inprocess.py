"""The real functions, called in this process the way the Python worker calls them.

`function_app` is imported as the worker imports it, its functions are indexed once (azure-functions
allows `get_functions()` once per FunctionApp), and each call hands the user function a real
`azure.functions.HttpRequest` shaped as the host builds it (lower-cased header names, route values).
No HTTP server, no gRPC: what remains is the app's own cost plus the backends'. The app's settings
must already be in os.environ; it reads them on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import azure.functions as func

from bench.deliveries import BODY, LIST_LIMIT, SOURCE, delivery_headers

INGEST = "ingest_webhook"
LIST = "list_events"
BASE_URL = "http://localhost/api"  # the functions read only the path from it, for their logs

HttpFunction = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]


def index_functions() -> dict[str, HttpFunction]:
    """The user functions by name; call once per process."""
    app = importlib.import_module("function_app").app
    return {function.get_function_name(): function.get_user_function() for function in app.get_functions()}


class InProcessApp:
    def __init__(self, signature: str, functions: Mapping[str, HttpFunction] | None = None) -> None:
        functions = index_functions() if functions is None else functions
        self._ingest, self._list = functions[INGEST], functions[LIST]
        self._signature = signature

    async def ingest(self, event_id: str) -> None:
        headers = {name.lower(): value for name, value in delivery_headers(self._signature, event_id).items()}
        request = func.HttpRequest(
            "POST", f"{BASE_URL}/webhooks/{SOURCE}", headers=headers, route_params={"source": SOURCE}, body=BODY
        )
        _expect(await self._ingest(request), 202)

    async def list_events(self) -> None:
        request = func.HttpRequest(
            "GET",
            f"{BASE_URL}/webhooks/{SOURCE}/events?limit={LIST_LIMIT}",
            params={"limit": str(LIST_LIMIT)},
            route_params={"source": SOURCE},
            body=b"",
        )
        _expect(await self._list(request), 200)


def _expect(response: func.HttpResponse, status: int) -> None:
    if response.status_code != status:
        body = response.get_body()[:500].decode(errors="replace")
        raise RuntimeError(f"the app answered {response.status_code}, expected {status}: {body}")
