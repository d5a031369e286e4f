"""Fault injection for the local stack: make a dependency refuse or freeze, then recover, with no restart.

A dependency fails in two ways that a client experiences differently (and Cosmos DB in a third):
- "refuse": it is gone (process dead, nothing listening). Connections are refused or reset at once,
  and the client's retries fail fast.
- "freeze": it accepts and never answers (a hung process, a black-holed path). Only the client's own
  timeouts end the wait. This is the case that holds a request past the sender's deadline.
- "throttle" (Cosmos DB only): it answers, but 429 with `x-ms-retry-after-ms` (sub-status 3200), as a
  provisioned container over its RU/s does; the SDK's throttling retries then the caller's deadline
  decide what the caller sees.

A `Gate` holds the mode for some traffic: one route of the host-name proxy, the whole proxy, or the
token endpoint's token routes. The code that carries the traffic checks its gates. The control app
(`create_faults_app`) switches the gates by target name. The stack serves it on a loopback port of its
own (env.json: `devstack.faultsUrl`):
    POST   /_devstack/faults  {"target": "keyvault"|"blob"|"cosmos"|"identity"|"proxy", "mode": "refuse"|"freeze"}
                              ("cosmos" also takes "mode": "throttle")
    GET    /_devstack/faults  {"faults": {target: mode, ...}, "targets": [...]}
    DELETE /_devstack/faults  clears every fault (`?target=<name>` clears one)
Clearing lets held traffic move again, as SIGCONT does for a stopped process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Literal, cast

from aiohttp import web

FaultMode = Literal["refuse", "freeze", "throttle"]
FAULT_MODES: tuple[FaultMode, ...] = ("refuse", "freeze")  # what every target takes
FAULTS_PATH = "/_devstack/faults"


class Gate:
    """The fault mode for some traffic: None (pass), "refuse" or "freeze"; waiters wake when it changes."""

    def __init__(self) -> None:
        self._mode: FaultMode | None = None
        self._changed = asyncio.Event()

    @property
    def mode(self) -> FaultMode | None:
        return self._mode

    def set(self, mode: FaultMode | None) -> None:
        self._mode = mode
        # Wake everyone waiting on the old mode; later waiters wait for the next change.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        await self._changed.wait()


async def passable(*gates: Gate) -> bool:
    """Wait while any of the gates is frozen; then True if traffic may pass, False if one refuses it."""
    while frozen := next((gate for gate in gates if gate.mode == "freeze"), None):
        await frozen.changed()
    return all(gate.mode is None for gate in gates)


Switch = Callable[[FaultMode | None], None]


def create_faults_app(
    switches: Mapping[str, Switch],
    *,
    modes: Mapping[str, tuple[FaultMode, ...]] | None = None,
    active: Mapping[str, FaultMode] | None = None,
) -> web.Application:
    """The control point: one switch per target name, each called with the new mode (None clears).
    `modes`: the modes a target takes, when not FAULT_MODES; `active`: faults already on at start (their
    switches are not called), which the control point shows and clears like the others."""
    taken = {target: (modes or {}).get(target, FAULT_MODES) for target in switches}
    on: dict[str, FaultMode] = dict(active or {})
    app = web.Application(client_max_size=4 * 1024)

    def state() -> web.Response:
        return web.json_response({"faults": dict(sorted(on.items())), "targets": sorted(switches)})

    async def set_fault(request: web.Request) -> web.Response:
        try:
            spec = await request.json()
        except json.JSONDecodeError:
            return _bad_request("expected a JSON object {target, mode}")
        if not isinstance(spec, dict) or set(spec) != {"target", "mode"}:
            return _bad_request("expected exactly {target, mode}")
        target, mode = spec["target"], spec["mode"]
        if target not in switches:
            return _bad_request(f"target must be one of: {', '.join(sorted(switches))}")
        if mode not in taken[target]:
            return _bad_request(f"mode must be one of: {', '.join(taken[target])}")
        switches[target](cast("FaultMode", mode))
        on[target] = cast("FaultMode", mode)
        return state()

    async def show_faults(_: web.Request) -> web.Response:
        return state()

    async def clear_faults(request: web.Request) -> web.Response:
        target = request.query.get("target")
        if target is not None and target not in switches:
            return _bad_request(f"target must be one of: {', '.join(sorted(switches))}")
        for name in [target] if target else list(switches):
            switches[name](None)
            on.pop(name, None)
        return state()

    app.router.add_post(FAULTS_PATH, set_fault)
    app.router.add_get(FAULTS_PATH, show_faults)
    app.router.add_delete(FAULTS_PATH, clear_faults)
    return app


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
