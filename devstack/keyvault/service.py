"""The vault as an aiohttp application: every data-plane request authenticated, authorized and counted.

Beside the REST API, routes for tests, none authenticated: `GET /stats` (requests per operation),
`/_devstack/faults` (answer the next requests with an injected error status, so tests can drive the
app's retry and failure paths) and `/_devstack/authorizations` (the RBAC decisions taken so far,
counted; loopback callers only, since it names principals and the assignments that grant them).

Authorisation is Azure's: each operation needs one data action at the vault or at the secret
(`rbac.REQUIREMENTS`), and the `Authorizer` built from infra/'s role assignments decides.

Each data-plane request counts once in the stats: as "challenge" (no token), as "rejected" (a token
refused, or a caller no role assignment allows), or under the operation it asked for (whatever the
answer, including an injected fault). Requests that match no operation, or lack api-version, are not
counted.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import jwt
from aiohttp import hdrs, web

from devstack.keyvault.bodies import MAX_REQUEST_BYTES, parse_new_version, parse_property_change, read_json_object
from devstack.keyvault.errors import ServiceError, echo
from devstack.keyvault.faults import Fault, parse_fault
from devstack.keyvault.rbac import REQUIREMENTS, DecisionLog, rbac_refusal, vault_name
from devstack.keyvault.routes import (
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    OPERATIONS,
    SET_SECRET,
    UPDATE_SECRET,
    Call,
    api_version,
    origin,
    resolve,
)
from devstack.keyvault.seed import SeedSecret, seed_version
from devstack.keyvault.store import Store
from devstack.keyvault.wire import paginate, secret_bundle, secret_item
from devstack.tokens import TokenError, TokenVerifier
from infra_model.authorization import Authorizer

# Stats buckets beside the operation ids.
CHALLENGE = "challenge"
REJECTED = "rejected"

KEY_VAULT_RESOURCE = "https://vault.azure.net"
AUTHORITY_HOST = "https://login.microsoftonline.com"


def create_keyvault_app(
    *,
    verifier: TokenVerifier,
    tenant_id: str,
    authorizer: Authorizer,
    vault_id: str,
    seed: Sequence[SeedSecret] = (),
) -> web.Application:
    """The vault as an app. `vault_id` is its ARM resource id, the scope its role assignments name."""
    service = _KeyVaultService(
        verifier=verifier, tenant_id=tenant_id, authorizer=authorizer, vault_id=vault_id, seed=seed
    )
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_get("/stats", service.stats)
    app.router.add_post("/_devstack/faults", service.set_fault)
    app.router.add_get("/_devstack/faults", service.show_fault)
    app.router.add_delete("/_devstack/faults", service.clear_fault)
    app.router.add_get("/_devstack/authorizations", service.show_decisions)
    app.router.add_delete("/_devstack/authorizations", service.clear_decisions)
    app.router.add_route("*", "/{path:.*}", service.data_plane)
    return app


class _KeyVaultService:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        tenant_id: str,
        authorizer: Authorizer,
        vault_id: str,
        seed: Sequence[SeedSecret],
    ) -> None:
        self._verifier = verifier
        self._challenge = f'Bearer authorization="{AUTHORITY_HOST}/{tenant_id}", resource="{KEY_VAULT_RESOURCE}"'
        self._authorizer = authorizer
        self._vault = vault_name(vault_id)  # checked first: a vault URL passed by mistake fails here
        self._vault_id = vault_id
        self._decisions = DecisionLog()
        self._store = Store()
        self._counts: Counter[str] = Counter()
        self._fault: Fault | None = None
        self._operations: dict[str, Callable[[Call], Awaitable[web.Response]]] = {
            GET_SECRET: self._get_secret,
            GET_SECRET_VERSIONS: self._get_secret_versions,
            GET_SECRETS: self._get_secrets,
            SET_SECRET: self._set_secret,
            UPDATE_SECRET: self._update_secret,
        }
        now = _now()
        for entry in seed:
            self._store.add(entry.name, seed_version(entry), now)

    async def data_plane(self, request: web.Request) -> web.Response:
        try:
            route = resolve(request.method, request.rel_url.raw_path)
            call = Call(request, route, origin(request), api_version(request.query))
            self._inject_fault(route.operation)
            claims = self._authenticate(request)
            self._authorize(claims, call)
            self._counts[route.operation] += 1
            return await self._operations[route.operation](call)
        except ServiceError as error:
            if error.counted_as:
                self._counts[error.counted_as] += 1
            return error.response()

    # --- test routes

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({name: self._counts[name] for name in (*OPERATIONS, CHALLENGE, REJECTED)})

    async def set_fault(self, request: web.Request) -> web.Response:
        try:
            self._fault = parse_fault(await read_json_object(request))
        except ServiceError as error:
            return error.response()
        return web.json_response(self._fault.as_json())

    async def show_fault(self, request: web.Request) -> web.Response:
        return web.json_response(self._fault.as_json() if self._fault else None)

    async def clear_fault(self, request: web.Request) -> web.Response:
        self._fault = None
        return web.Response(status=204)

    async def show_decisions(self, request: web.Request) -> web.Response:
        if not _from_loopback(request):
            return _loopback_only().response()
        return web.json_response({"decisions": self._decisions.as_json()})

    async def clear_decisions(self, request: web.Request) -> web.Response:
        if not _from_loopback(request):
            return _loopback_only().response()
        self._decisions.clear()
        return web.Response(status=204)

    # --- the pipeline every data-plane request goes through

    def _inject_fault(self, operation: str) -> None:
        fault = self._fault
        if fault is None or fault.operation not in (None, operation):
            return
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._fault = None
        raise fault.error(operation)

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        token = _bearer_token(request)
        if token is None:
            raise self._unauthorized("Request is missing a Bearer or PoP token.", counted_as=CHALLENGE)
        try:
            return self._verifier.verify(token)
        except TokenError as exc:
            raise self._unauthorized(self._refusal_message(token, exc), counted_as=REJECTED) from None

    def _unauthorized(self, message: str, *, counted_as: str) -> ServiceError:
        return ServiceError(
            401,
            "Unauthorized",
            message,
            headers={hdrs.WWW_AUTHENTICATE: self._challenge},
            counted_as=counted_as,
        )

    def _refusal_message(self, token: str, error: TokenError) -> str:
        """Key Vault's wording for each way a token fails; never the token itself."""
        if error.expired:
            return "[TokenExpired] Error validating token: 'S2S12086'."
        if isinstance(error.__cause__, jwt.InvalidSignatureError):
            return "AKV10046: Unable to resolve the key used for signature validation."
        if error.__cause__ is not None:
            return "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'."
        # The signature held and only a claim check failed, so the claims are the issuer's own words.
        claims = jwt.decode(token, options={"verify_signature": False})
        issuer = str(claims.get("iss"))
        if issuer != self._verifier.issuer:
            return f"AKV10032: Invalid issuer. Expected one of {self._verifier.issuer}, found {echo(issuer)}."
        expected = " or ".join(sorted(self._verifier.audiences))
        return f"AKV10022: Invalid audience. Expected {expected}, found: {echo(str(claims.get('aud')))}."

    def _authorize(self, claims: Mapping[str, Any], call: Call) -> None:
        requirement = REQUIREMENTS[call.route.operation]
        scope = requirement.scope(self._vault_id, call.route.name)
        decision = self._authorizer.decide(str(claims["oid"]), requirement.action, scope)
        self._decisions.record(decision)
        if not decision.allowed:
            raise rbac_refusal(claims, decision, self._vault, counted_as=REJECTED)

    # --- operations

    async def _get_secret(self, call: Call) -> web.Response:
        secret, version = self._store.lookup(call.route.name, call.route.version)
        if not version.enabled:
            raise ServiceError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner_code="SecretDisabled"
            )
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=True))

    async def _set_secret(self, call: Call) -> web.Response:
        new = parse_new_version(await read_json_object(call.request))
        secret, version = self._store.add(call.route.name, new, _now())
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=True))

    async def _update_secret(self, call: Call) -> web.Response:
        change = parse_property_change(await read_json_object(call.request))
        secret, version = self._store.lookup(call.route.name, call.route.version)
        version.apply(change, _now())
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=False))

    async def _get_secrets(self, call: Call) -> web.Response:
        page, next_link = paginate(self._store.by_name(), call, "/secrets")
        items = [secret_item(call.origin, secret, secret.latest, versioned=False) for secret in page]
        return web.json_response({"value": items, "nextLink": next_link})

    async def _get_secret_versions(self, call: Call) -> web.Response:
        secret = self._store.find(call.route.name)
        # Versions only ever append, so an index is a stable paging position.
        entries = [(f"{index:010d}", version) for index, version in enumerate(secret.versions)]
        page, next_link = paginate(entries, call, f"/secrets/{secret.name}/versions")
        items = [secret_item(call.origin, secret, version, versioned=True) for version in page]
        return web.json_response({"value": items, "nextLink": next_link})


def _now() -> int:
    return int(time.time())


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _from_loopback(request: web.Request) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback; a request with no peer address is not."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, which Python < 3.13 calls not loopback.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def _loopback_only() -> ServiceError:
    return ServiceError(403, "Forbidden", "The /_devstack/authorizations routes answer loopback callers only.")
