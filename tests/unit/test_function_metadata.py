"""The public contract: function names, triggers, routes, methods, auth levels and the timer.

Checked twice: through `azure.functions` (what the devstack host and Core Tools index), and on Python
3.13 through the real worker's indexing in `azure-functions-runtime` (what Azure runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from devstack.funchost.worker_index import available, worker_metadata

ROOT = Path(__file__).resolve().parents[2]  # the repository root

HTTP = {
    "ingest_webhook": ("POST", "webhooks/{source}", "ANONYMOUS"),
    "list_events": ("GET", "webhooks/{source}/events", "FUNCTION"),
    "get_event": ("GET", "webhooks/{source}/events/{id}", "FUNCTION"),
    "get_event_payload": ("GET", "webhooks/{source}/events/{id}/payload", "FUNCTION"),
    "health": ("GET", "health", "ANONYMOUS"),
    "diagnostics": ("GET", "diagnostics", "ADMIN"),
}
TIMER = {"daily_digest": {"schedule": "0 5 0 * * *", "runOnStartup": False, "useMonitor": True}}

# get_functions() may run once per FunctionApp, so index in a fresh interpreter.
INDEX = """
import json, function_app
print(json.dumps({f.get_function_name(): json.loads(f.get_function_json()) for f in function_app.app.get_functions()}))
"""


def trigger_bindings(bindings: list[dict[str, Any]]) -> dict[str, Any]:
    (trigger,) = [b for b in bindings if b["type"] in ("httpTrigger", "timerTrigger")]
    return trigger


def assert_contract(metadata: dict[str, list[dict[str, Any]]]) -> None:
    assert set(metadata) == set(HTTP) | set(TIMER)
    for name, (method, route, auth) in HTTP.items():
        trigger = trigger_bindings(metadata[name])
        assert trigger["type"] == "httpTrigger"
        assert (trigger["methods"], trigger["route"], trigger["authLevel"].upper()) == ([method], route, auth), name
    for name, expected in TIMER.items():
        trigger = trigger_bindings(metadata[name])
        assert trigger["type"] == "timerTrigger"
        assert {k: trigger[k] for k in expected} == expected


def test_functions_library_indexing_matches_the_contract() -> None:
    out = subprocess.run([sys.executable, "-c", INDEX], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert_contract({name: document["bindings"] for name, document in json.loads(out).items()})


@pytest.mark.skipif(
    not available(), reason="the real worker's indexing needs Python 3.13+ with azure-functions-runtime"
)
def test_real_worker_indexing_matches_the_contract() -> None:
    metadata = worker_metadata(ROOT)
    assert_contract({function["name"]: function["raw_bindings"] for function in metadata})
