"""The Cosmos DB front end as an aiohttp application: every request authenticated, authorised, checked
against Azure's limits, then passed to the engine and its answer streamed back with a request charge
and a session token.

Per request, in this order: authentication (credentials.py; 401), the body (at most 2 MB; 413), the
RBAC decision of `infra_model.authorization.Authorizer` for each data action the request needs
(permissions.py; 403/5300 for control plane, 403/5301 naming the action and resource), injected faults
and throttling (429/3200), the limits (limits.py; 400), the container and database the request lives
in (404/1003 when missing), and only then the engine. A refusal never reaches the engine.

The engine (devstack/node/cosmos.js) listens on loopback, plain HTTP, with no auth of its own: it is
reached only from here (the host-name proxy sends the account's Azure name to this front end).

Test routes, unauthenticated and for loopback callers only (paths Cosmos DB never uses):
  GET|DELETE /_devstack/authorizations  every RBAC decision taken, counted; DELETE forgets them
  GET|DELETE /_devstack/stats           requests by auth outcome and resource type, requests answered by
                                        a fault rule, TLS connections accepted (keep-alive check)
  POST|GET|DELETE /_devstack/faults     {"status": 503, "count": 2 | null, "method"?: "GET",
                                        "resourceType"?: "docs", "substatus"?: 3200}: authenticated
                                        requests that match get that status with a Cosmos error body
                                        and `x-ms-retry-after-ms: 100`; count goes down per answer, null
                                        means until cleared; a new rule replaces the old one
Throttling (`Throttle`), switched by the stack (`--cosmos-throttle`, the faults control point's
`"mode": "throttle"` for "cosmos"), answers item requests 429/3200 with `x-ms-retry-after-ms`, as a
provisioned container over its RU/s does.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from infra_model.authorization import Authorizer, Decision, permits, scope_covers
from yarl import URL

from devstack.cosmos_gateway import errors, limits
from devstack.cosmos_gateway.charges import SessionTokens, formatted, request_charge
from devstack.cosmos_gateway.credentials import Authenticator, Principal
from devstack.cosmos_gateway.errors import CosmosError
from devstack.cosmos_gateway.permissions import ControlPlane, required_checks
from devstack.cosmos_gateway.resource import ITEM_WRITES, BadPath, Operation, Target, describe
from devstack.http_relay import forwarded_headers, from_loopback, relay
from devstack.tokens import TokenVerifier

log = logging.getLogger(__name__)

DEVSTACK_PREFIX = "/_devstack"
DECISIONS_PATH = f"{DEVSTACK_PREFIX}/authorizations"
STATS_PATH = f"{DEVSTACK_PREFIX}/stats"
FAULT_RULES_PATH = f"{DEVSTACK_PREFIX}/faults"
DEFAULT_RETRY_AFTER_MS = 1000
FAULT_RULE_RETRY_AFTER_MS = "100"  # small enough that an SDK honouring it retries quickly in tests
# Below the engine's own idle timeout (120 s, node/cosmos.js), so a kept connection is never one the
# engine is closing.
ENGINE_KEEPALIVE_SECONDS = 60.0
ENGINE_CONNECT_TIMEOUT_SECONDS = 5.0
ENGINE_READ_TIMEOUT_SECONDS = 120.0
# Answers up to this size go back in one write; larger ones (a page of a query) are streamed.
WHOLE_ANSWER_BYTES = 64 * 1024
# aiohttp would add these when absent; the request must reach the engine as the client sent it.
_NO_AUTO_HEADERS = frozenset({hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE})
_RULE_FIELDS = frozenset({"status", "count", "method", "resourceType", "substatus"})
_RULE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Throttle:
    """While on, item requests are answered 429 with `x-ms-retry-after-ms: retry_after_ms`."""

    on: bool = False
    retry_after_ms: int = DEFAULT_RETRY_AFTER_MS

    def set(self, on: bool) -> None:
        self.on = on


@dataclass
class _Stats:
    requests: int = 0
    auth: Counter[str] = field(default_factory=Counter)
    resource_types: Counter[str] = field(default_factory=Counter)
    faults: int = 0
    connections: int = 0

    def as_json(self) -> dict[str, Any]:
        outcomes = ("aad", "master", "unauthorized", "forbidden")
        return {
            "requests": self.requests,
            "auth": {outcome: self.auth[outcome] for outcome in outcomes},
            "resourceTypes": dict(self.resource_types),
            "faults": self.faults,
            "connections": self.connections,
        }


def create_cosmos_gateway(
    *,
    engine: str,
    verifier: TokenVerifier,
    authorizer: Authorizer,
    account_name: str,
    account_id: str,
    master_key: bytes | None = None,
    throttle: Throttle | None = None,
) -> web.Application:
    """The front end of one account. `engine`: the engine's `http://127.0.0.1:<port>`; `account_id`: the
    account's ARM id, the root of every data-plane scope; `master_key`: None, as with `disableLocalAuth`
    (the stack), or the account key a standalone account accepts (standalone.py)."""
    gateway = _Gateway(
        engine=engine,
        authenticator=Authenticator(account_name, verifier, master_key),
        authorizer=authorizer.within(account_id),
        account_id=account_id,
        throttle=throttle or Throttle(),
    )
    app = web.Application(client_max_size=limits.MAX_REQUEST_BYTES + 1)
    app.cleanup_ctx.append(gateway.engine_session)
    app.router.add_route("*", DEVSTACK_PREFIX + "/{name}", gateway.devtools)
    app.router.add_route("*", "/{path:.*}", gateway.data_plane)
    return app


class _Gateway:
    def __init__(
        self,
        *,
        engine: str,
        authenticator: Authenticator,
        authorizer: Authorizer,
        account_id: str,
        throttle: Throttle,
    ) -> None:
        self._engine = engine.rstrip("/")
        self._authenticator = authenticator
        self._authorizer = authorizer
        self._account_id = account_id
        self._throttle = throttle
        self._session: aiohttp.ClientSession | None = None
        self._decisions: Counter[Decision] = Counter()
        self._stats = _Stats()
        self._rule: dict[str, Any] | None = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        # What exists in the engine: containers' properties, and databases. Positive answers only; writes
        # through the front end to a database or a container forget what they may change.
        self._containers: dict[tuple[str, str], limits.ContainerRules] = {}
        self._databases: set[str] = set()
        self._sessions = SessionTokens()

    async def engine_session(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=ENGINE_KEEPALIVE_SECONDS),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=ENGINE_CONNECT_TIMEOUT_SECONDS, sock_read=ENGINE_READ_TIMEOUT_SECONDS
            ),
            trust_env=False,  # loopback only: no proxy, no .netrc
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
        )
        yield
        await self._session.close()

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the engine session starts with the app (cleanup_ctx)")
        return self._session

    # --- the data plane

    async def data_plane(self, request: web.Request) -> web.StreamResponse:
        self._count_connection(request)
        try:
            target = describe(request.method, request.rel_url.raw_path, request.headers)
        except BadPath:
            return CosmosError(400, "The request path is not valid percent-encoding.").response()
        try:
            principal = self._authenticate(target, request)
            body = await _body(request)
            self._authorize(target, principal, body)
            self._record(target, principal.kind)
            self._refuse_if_faulted(target)
            await self._check_limits(target, request, body)
            return await self._forward(request, target, body)
        except CosmosError as error:
            return error.response()
        except aiohttp.ClientError as exc:
            log.warning("the Cosmos engine did not answer %s %s: %s", request.method, target.path, exc)
            return errors.engine_unavailable().response()

    def _authenticate(self, target: Target, request: web.Request) -> Principal:
        try:
            return self._authenticator.authenticate(target, request.headers)
        except CosmosError as error:
            self._record(target, "unauthorized" if error.status == 401 else "forbidden")
            raise

    def _authorize(self, target: Target, principal: Principal, body: bytes) -> None:
        if principal.kind != "aad":
            return  # the account key may do anything, as in Azure
        try:
            checks = required_checks(target, self._account_id, body if target.operation is Operation.BATCH else None)
        except ControlPlane:
            self._record(target, "forbidden")
            raise errors.control_plane_refused(self._authenticator.account, target.method, target.path) from None
        for check in checks:
            decision = self._decide(principal.object_id, check.action, check.scope, check.any_scope_below)
            if not decision.allowed:
                self._record(target, "forbidden")
                raise errors.rbac_refused(
                    self._authenticator.account, principal.object_id, check.action, target.resource_link
                )

    def _decide(self, principal_id: str, action: str, scope: str, any_scope_below: bool) -> Decision:
        """The Authorizer's decision at `scope`; with `any_scope_below`, an assignment below `scope` that
        permits the action also grants it, decided at its own scope so that observers (refusals, the
        audit) see the assignment that allowed it."""
        decided_at = scope
        if any_scope_below:
            mine = [a for a in self._authorizer.assignments if a.principal_id.lower() == principal_id.lower()]
            above = any(scope_covers(a.scope, scope) and permits(a.role, action) for a in mine)
            below = [a.scope for a in mine if scope_covers(scope, a.scope) and permits(a.role, action)]
            decided_at = below[0] if below and not above else scope
        decision = self._authorizer.decide(principal_id, action, decided_at)
        if decided_at != scope:
            decision = Decision(decision.allowed, action, scope, principal_id, decision.assignment)
        self._decisions[decision] += 1
        return decision

    def _refuse_if_faulted(self, target: Target) -> None:
        rule = self._rule
        matches = rule is not None and rule["method"] in (None, target.method)
        if rule is not None and matches and rule["resourceType"] in (None, target.label):
            if rule["count"] is not None:
                self._rule = {**rule, "count": rule["count"] - 1} if rule["count"] > 1 else None
            self._stats.faults += 1
            raise CosmosError(
                rule["status"],
                f"Injected by the devstack fault rule (status {rule['status']}).",
                substatus=rule["substatus"],
                headers={"x-ms-retry-after-ms": FAULT_RULE_RETRY_AFTER_MS},
            )
        if self._throttle.on and target.resource_type == "docs":
            raise errors.throttled(self._throttle.retry_after_ms)

    async def _check_limits(self, target: Target, request: web.Request, body: bytes) -> None:
        limits.check_size(body)
        if target.method != "GET":
            self._forget(target)
        database = target.database
        if database is not None and len(target.segments) >= 3 and not await self._database_exists(database):
            raise errors.owner_missing()
        if not target.in_container:
            return
        rules = await self._container_rules(target)
        if rules is None:
            raise errors.owner_missing()
        if target.resource_type == "docs" and target.operation in ITEM_WRITES:
            limits.check_item_request(target, request.headers, body, rules)

    async def _forward(self, request: web.Request, target: Target, body: bytes) -> web.StreamResponse:
        headers = forwarded_headers(request.headers.items(), request.host)
        headers.popall(hdrs.CONTENT_LENGTH, None)  # set again from the body
        url = URL(self._engine + request.rel_url.raw_path_qs, encoded=True)
        data = body if request.body_exists else None
        async with self._http.request(request.method, url, headers=headers, data=data, allow_redirects=False) as answer:
            charge = request_charge(target, answer.status, body, answer.content_length)
            replace = {"x-ms-request-charge": formatted(charge)}
            session = self._sessions.after(target, answer.status)
            if session is not None and "x-ms-session-token" not in answer.headers:
                replace["x-ms-session-token"] = session
            return await relay(
                answer, request, backend="the Cosmos engine", replace=replace, whole_up_to=WHOLE_ANSWER_BYTES
            )

    # --- what exists in the engine

    async def _database_exists(self, database: str) -> bool:
        if database in self._databases:
            return True
        async with self._http.get(self._engine_url("dbs", database)) as answer:
            exists = answer.status == 200
        if exists:
            self._databases.add(database)
        return exists

    async def _container_rules(self, target: Target) -> limits.ContainerRules | None:
        key = (target.database or "", target.container or "")
        if key not in self._containers:
            async with self._http.get(self._engine_url("dbs", *key[:1], "colls", key[1])) as answer:
                if answer.status != 200:
                    return None
                self._containers[key] = limits.ContainerRules.of(await answer.json(content_type=None))
        return self._containers[key]

    def _forget(self, target: Target) -> None:
        """A write that may create, change or delete a database or a container (only the account key may)."""
        if target.database is None or target.resource_type not in ("dbs", "colls"):
            return
        self._databases.discard(target.database)
        container = target.container
        for key in [k for k in self._containers if k[0] == target.database and container in (None, k[1])]:
            del self._containers[key]
        self._sessions.forget(target.database, container)

    def _engine_url(self, *segments: str) -> URL:
        return URL(self._engine).joinpath(*segments)

    # --- statistics and test routes

    def _record(self, target: Target, outcome: str) -> None:
        self._stats.requests += 1
        self._stats.auth[outcome] += 1
        self._stats.resource_types[target.label] += 1

    def _count_connection(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None and transport not in self._connections:
            self._connections.add(transport)
            self._stats.connections += 1

    async def devtools(self, request: web.Request) -> web.StreamResponse:
        if not from_loopback(request):
            raise web.HTTPForbidden(text="loopback callers only")
        route: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.Response]]] = {
            ("GET", DECISIONS_PATH): self._show_decisions,
            ("DELETE", DECISIONS_PATH): self._clear_decisions,
            ("GET", STATS_PATH): self._show_stats,
            ("DELETE", STATS_PATH): self._clear_stats,
            ("POST", FAULT_RULES_PATH): self._set_rule,
            ("GET", FAULT_RULES_PATH): self._show_rule,
            ("DELETE", FAULT_RULES_PATH): self._clear_rule,
        }
        handler = route.get((request.method, request.path.rstrip("/")))
        if handler is None:
            return CosmosError(404, f"No devstack route for {request.method} {request.path}.").response()
        return await handler(request)

    async def _show_decisions(self, request: web.Request) -> web.Response:
        decisions = [{**decision.as_json(), "count": count} for decision, count in self._decisions.items()]
        return web.json_response({"decisions": decisions})

    async def _clear_decisions(self, request: web.Request) -> web.Response:
        self._decisions.clear()
        return web.json_response({"decisions": []})

    async def _show_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._stats.as_json())

    async def _clear_stats(self, request: web.Request) -> web.Response:
        self._stats = _Stats()
        return web.json_response(self._stats.as_json())

    async def _set_rule(self, request: web.Request) -> web.Response:
        try:
            rule = json.loads(await request.read())
        except ValueError:
            return CosmosError(400, "Invalid fault rule: the body is not valid JSON.").response()
        problem = _rule_problem(rule)
        if problem is not None:
            return CosmosError(400, f"Invalid fault rule: {problem}.").response()
        self._rule = {"method": None, "resourceType": None, "substatus": None, **rule, "count": rule.get("count")}
        return web.json_response({"fault": self._rule})

    async def _show_rule(self, request: web.Request) -> web.Response:
        return web.json_response({"fault": self._rule})

    async def _clear_rule(self, request: web.Request) -> web.Response:
        self._rule = None
        return web.json_response({"fault": None})


async def _body(request: web.Request) -> bytes:
    """The whole request body; 413 past 2 MB, which is every request's limit (limits.py)."""
    declared = request.content_length
    if declared is not None and declared > limits.MAX_REQUEST_BYTES:
        raise errors.too_large()
    if not request.body_exists:
        return b""
    try:
        body = await request.read()  # the app's client_max_size stops it just past the limit
    except web.HTTPRequestEntityTooLarge:
        raise errors.too_large() from None
    limits.check_size(body)
    return body


def _rule_problem(rule: object) -> str | None:  # noqa: PLR0911 (one answer per field)
    if not isinstance(rule, dict):
        return "the body must be a JSON object"
    unknown = sorted(set(rule) - _RULE_FIELDS)
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"
    if not _integer(rule.get("status"), 400, 599):
        return "status must be an integer from 400 to 599"
    if rule.get("count") is not None and not _integer(rule["count"], 1, 2**53):
        return "count must be a positive integer or null"
    if "method" in rule and rule["method"] not in _RULE_METHODS:
        return f"method must be one of {', '.join(sorted(_RULE_METHODS))}"
    if "resourceType" in rule and not (isinstance(rule["resourceType"], str) and rule["resourceType"]):
        return "resourceType must be a non-empty string such as docs, colls, dbs, pkranges or account"
    if "substatus" in rule and not _integer(rule["substatus"], 0, 99999):
        return "substatus must be a non-negative integer"
    return None


def _integer(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
