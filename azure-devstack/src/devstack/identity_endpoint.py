"""The managed-identity token endpoint, in both protocols azure-identity speaks.

- App Service / Functions: `GET /msi/token?api-version=2019-08-01&resource=...` with the
  `X-IDENTITY-HEADER` secret; azure-identity finds it through IDENTITY_ENDPOINT + IDENTITY_HEADER.
- IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...` with
  `Metadata: true`; azure-identity finds it through AZURE_POD_IDENTITY_AUTHORITY_HOST.

Replies and errors follow what those services send (statuses, field names, `expires_on` as a string
of epoch seconds). Requests are counted per (identity, resource) and served at `GET /stats`, which is
how tests prove that clients reuse their tokens.

With a fault gate (devstack/faults.py), the token routes can fail as a broken endpoint does: "refuse"
drops each connection unanswered, "freeze" holds each request until the fault is cleared. `/stats`
and `/_devstack/mint` keep working, so tests can still look and mint while the app cannot.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from devstack.faults import Gate, passable
from devstack.tokens import Identity, Tenant, normalise_audience

APP_SERVICE_PATH = "/msi/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_API_VERSIONS = frozenset({"2019-08-01"})
IMDS_API_VERSIONS = frozenset({"2018-02-01", "2019-08-01", "2021-02-01", "2025-04-07"})
MAX_REQUEST_BYTES = 16 * 1024
TOKEN_PATHS = frozenset({APP_SERVICE_PATH, IMDS_PATH})


@dataclass(frozen=True)
class Directory:
    """The identities this endpoint can issue tokens for."""

    system: Identity
    user_assigned: tuple[Identity, ...]

    def find(self, *, client_id: str | None, object_id: str | None) -> Identity | None:
        if not client_id and not object_id:
            return self.system
        for identity in self.user_assigned:
            if client_id and identity.client_id.lower() == client_id.lower():
                return identity
            if object_id and identity.object_id.lower() == object_id.lower():
                return identity
        return None

    def all(self) -> Iterable[Identity]:
        return (self.system, *self.user_assigned)


class TokenCounts:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, identity: Identity, resource: str) -> None:
        self._counts[(identity.client_id, normalise_audience(resource))] += 1

    def as_json(self, directory: Directory) -> dict[str, Any]:
        kinds = {i.client_id: i.kind for i in directory.all()}
        rows = [
            {"clientId": client_id, "kind": kinds.get(client_id, "unknown"), "resource": resource, "count": count}
            for (client_id, resource), count in sorted(self._counts.items())
        ]
        return {"requests": rows, "total": sum(self._counts.values())}


def create_identity_app(
    *, tenant: Tenant, directory: Directory, identity_header: str, faults: Gate | None = None
) -> web.Application:
    counts = TokenCounts()
    gate = faults if faults is not None else Gate()  # without a control point, never switched
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_refuse_large_bodies, _token_faults(gate)])
    app.on_shutdown.append(_release(gate))

    async def app_service_token(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), identity_header):
            return _app_service_error(401, "The X-IDENTITY-HEADER is missing or does not match.")
        query = request.query
        if query.get("api-version") not in APP_SERVICE_API_VERSIONS:
            return _app_service_error(400, "The api-version is missing or not supported.")
        resource = query.get("resource", "")
        if not resource:
            return _app_service_error(400, "The resource parameter is missing.")
        identity = directory.find(client_id=query.get("client_id"), object_id=query.get("principal_id"))
        if identity is None:
            return _app_service_error(
                400,
                "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.",
            )
        token, expires_on = tenant.mint(identity, resource)
        counts.add(identity, resource)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }
        )

    async def imds_token(request: web.Request) -> web.Response:
        if request.headers.get("Metadata", "").lower() != "true":
            return _imds_error(400, "invalid_request", "Required metadata header not specified")
        query = request.query
        if "api-version" not in query:
            return _imds_error(400, "invalid_request", "Required query variable 'api-version' is missing")
        if query["api-version"] not in IMDS_API_VERSIONS:
            return _imds_error(400, "invalid_request", "Invalid api-version")
        resource = query.get("resource", "")
        if not resource:
            return _imds_error(400, "invalid_request", "Required query variable 'resource' is missing")
        identity = directory.find(client_id=query.get("client_id"), object_id=query.get("object_id"))
        if identity is None:
            return _imds_error(400, "invalid_request", "Identity not found")
        now = int(time.time())
        token, expires_on = tenant.mint(identity, resource, now=now)
        counts.add(identity, resource)
        return web.json_response(
            {
                "access_token": token,
                "refresh_token": "",
                "expires_in": str(expires_on - now),
                "expires_on": str(expires_on),
                "ext_expires_in": str(expires_on - now),
                "not_before": str(now),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }
        )

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(counts.as_json(directory))

    async def mint(request: web.Request) -> web.Response:
        """Development only: a token with chosen claims (expired, other audience...) for failure tests."""
        if not hmac.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), identity_header):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            spec = await request.json()
            identity = directory.find(client_id=spec.get("clientId"), object_id=None)
            resource = str(spec["resource"])
            lifetime = int(spec.get("lifetimeSeconds", 3600))
            issued_at = float(spec["issuedAt"]) if "issuedAt" in spec else None
            overrides = dict(spec.get("claims") or {})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return web.json_response({"error": "expected {resource, clientId?, lifetimeSeconds?, ...}"}, status=400)
        if identity is None:
            return web.json_response({"error": "unknown clientId"}, status=400)
        token, expires_on = tenant.mint(identity, resource, lifetime=lifetime, now=issued_at, overrides=overrides)
        return web.json_response({"access_token": token, "expires_on": expires_on})

    app.router.add_get(APP_SERVICE_PATH, app_service_token)
    app.router.add_get(IMDS_PATH, imds_token)
    app.router.add_get("/stats", stats)
    app.router.add_post("/_devstack/mint", mint)
    return app


@web.middleware
async def _refuse_large_bodies(request: web.Request, handler: Any) -> web.StreamResponse:
    # Neither protocol has a request body; refuse a large one before anything reads it.
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        return web.json_response({"error": "request_too_large"}, status=413)
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        # Unknown routes and methods get JSON like the rest, not aiohttp's text page.
        return web.json_response({"error": exc.reason}, status=exc.status)
    return response


def _token_faults(gate: Gate) -> Middleware:
    @web.middleware
    async def token_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in TOKEN_PATHS and not await passable(gate):
            if request.transport is not None:
                request.transport.abort()  # gone: the connection drops, nothing is answered
            return web.Response(status=503)  # never sent: there is no connection left to send it on
        return await handler(request)

    return token_faults


def _release(gate: Gate) -> Callable[[web.Application], Awaitable[None]]:
    async def release(_: web.Application) -> None:
        gate.set(None)  # requests held by a freeze finish, so the server's shutdown does not wait for them

    return release


def _app_service_error(status: int, message: str) -> web.Response:
    body = {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    return web.json_response(body, status=status)


def _imds_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
