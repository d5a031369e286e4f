"""The gateway as an aiohttp application: every request authenticated, authorised, then forwarded.

Per request, in Azure's order: authentication (credentials.py), the operation and what it requires
(operations.py), the RBAC decision of `infra_model.authorization.Authorizer` for the token's `oid`, and
only then Azurite (upstream.py). A refusal never reaches Azurite.

Two routes for tests, unauthenticated and for loopback callers only, since they name principals and the
assignments that grant them: `GET /_devstack/authorizations` (every decision taken, counted) and
`DELETE /_devstack/authorizations` (forget them). No container can be called `_devstack` (container names
start with a letter or digit), so the routes never hide a real one.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from infra_model.authorization import Authorizer, Decision

from devstack.blob_gateway.credentials import authenticate
from devstack.blob_gateway.errors import (
    StorageError,
    authorization_permission_mismatch,
    internal_error,
    unauthorized_blob_overwrite,
)
from devstack.blob_gateway.operations import Operation, Permission, Requirement, parse_target, resolve
from devstack.blob_gateway.upstream import Upstream
from devstack.http_relay import from_loopback
from devstack.tokens import TokenVerifier

log = logging.getLogger(__name__)

DECISIONS_PATH = "/_devstack/authorizations"
_ACCOUNT_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/storageAccounts/([^/]+)", re.IGNORECASE
)


def create_blob_gateway(
    *,
    upstream: str,
    upstream_ca: Path,
    verifier: TokenVerifier,
    authorizer: Authorizer,
    account_name: str,
    account_id: str,
    tenant_id: str,
) -> web.Application:
    """The gateway for one storage account. `upstream` is Azurite's `https://127.0.0.1:<port>` (served with
    a certificate from `upstream_ca`); `account_id` is the account's ARM id, the scope its roles name."""
    _check_account_id(account_id, account_name)
    gateway = _Gateway(
        upstream=Upstream(upstream, upstream_ca),
        verifier=verifier,
        authorizer=authorizer,
        account_name=account_name,
        account_id=account_id,
        tenant_id=tenant_id,
    )
    app = web.Application()
    app.cleanup_ctx.append(gateway.upstream_session)
    app.router.add_get(DECISIONS_PATH, gateway.show_decisions)
    app.router.add_delete(DECISIONS_PATH, gateway.clear_decisions)
    app.router.add_route("*", "/{path:.*}", gateway.data_plane)
    return app


class _Verdict(Enum):
    MET = "met"
    REFUSED = "refused"
    OVERWRITE = "overwrite"  # only blobs/add/action was granted, and the blob exists


def _check_account_id(account_id: str, account_name: str) -> None:
    match = _ACCOUNT_ID.fullmatch(account_id)
    if match is None or match.group(1) != account_name:
        raise ValueError(
            "account_id must be /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/"
            f"storageAccounts/{account_name}, got {account_id!r}"
        )


class _Gateway:
    def __init__(
        self,
        *,
        upstream: Upstream,
        verifier: TokenVerifier,
        authorizer: Authorizer,
        account_name: str,
        account_id: str,
        tenant_id: str,
    ) -> None:
        self._upstream = upstream
        self._verifier = verifier
        self._authorizer = authorizer
        self._account_name = account_name
        self._account_id = account_id
        self._tenant_id = tenant_id
        self._decisions: Counter[tuple[str, Decision]] = Counter()

    async def upstream_session(self, app: web.Application) -> AsyncIterator[None]:
        await self._upstream.start()
        yield
        await self._upstream.close()

    async def data_plane(self, request: web.Request) -> web.StreamResponse:
        try:
            operation = self._operation(request)
            if not operation.anonymous:
                claims = authenticate(request, self._verifier, self._tenant_id)
                await self._authorize(request, operation, str(claims["oid"]))
            return await self._upstream.forward(request)
        except StorageError as error:
            return error.response(request)
        except aiohttp.ClientError as exc:
            log.warning("Azurite did not answer %s %s: %s", request.method, request.rel_url.path, exc)
            return internal_error().response(request)

    def _operation(self, request: web.Request) -> Operation:
        try:
            target = parse_target(request.host, request.rel_url.raw_path, self._account_name)
            return resolve(
                request.method,
                target,
                request.query,
                request.headers,
                account_id=self._account_id,
                account_name=self._account_name,
            )
        except StorageError:
            # Authentication comes first in Azure: an unauthenticated request learns nothing of routing.
            authenticate(request, self._verifier, self._tenant_id)
            raise

    async def _authorize(self, request: web.Request, operation: Operation, principal: str) -> None:
        for requirement in operation.requirements:
            verdict = await self._met(request, operation, requirement, principal)
            if verdict is _Verdict.OVERWRITE:
                raise unauthorized_blob_overwrite()
            if verdict is not _Verdict.MET:
                raise authorization_permission_mismatch()

    async def _met(
        self, request: web.Request, operation: Operation, requirement: Requirement, principal: str
    ) -> _Verdict:
        """MET when one of the requirement's permissions is granted (and applies to this request); OVERWRITE
        when the only one granted creates blobs and this one exists. The decisions listed for tests are the
        RBAC decisions that settled it: the permission granted (also when the blob's existence, not a
        missing grant, refuses the write), else every one refused; an alternative tried first and
        refused does not make a granted request a refusal."""
        refused: list[Decision] = []
        granted: Decision | None = None
        for permission in requirement.any_of:
            decision = self._decide(operation, permission, requirement.scope, principal)
            if not decision.allowed:
                refused.append(decision)
                continue
            granted = decision
            if await self._applies(request, permission):
                self._record(operation, decision)
                return _Verdict.MET
        if granted is not None:
            self._record(operation, granted)
            return _Verdict.OVERWRITE
        for decision in refused:
            self._record(operation, decision)
        return _Verdict.REFUSED

    def _decide(self, operation: Operation, permission: Permission, scope: str, principal: str) -> Decision:
        decision = self._authorizer.decide(principal, permission.action, scope, data_action=permission.data_action)
        log.debug("%s: %s %s at %s for %s", operation.name, decision.allowed, decision.action, scope, principal)
        return decision

    def _record(self, operation: Operation, decision: Decision) -> None:
        self._decisions[(operation.name, decision)] += 1

    async def _applies(self, request: web.Request, permission: Permission) -> bool:
        # blobs/add/action creates blobs but may not replace one: ask Azurite whether it exists.
        return not permission.new_blob_only or not await self._upstream.blob_exists(request)

    # --- test routes

    async def show_decisions(self, request: web.Request) -> web.Response:
        if not from_loopback(request):
            raise web.HTTPForbidden(text="loopback callers only")
        return web.json_response({"decisions": self._decisions_json()})

    async def clear_decisions(self, request: web.Request) -> web.Response:
        if not from_loopback(request):
            raise web.HTTPForbidden(text="loopback callers only")
        self._decisions.clear()
        return web.Response(status=204)

    def _decisions_json(self) -> list[dict[str, Any]]:
        return [
            {"operation": operation, **decision.as_json(), "count": count}
            for (operation, decision), count in self._decisions.items()
        ]
