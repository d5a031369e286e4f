"""The vault as an aiohttp application: every data-plane request authenticated, authorized and counted.

Beside the REST API, routes for tests, none authenticated: `GET /stats` (requests per operation),
`/_devstack/faults` (answer the next requests with an injected error status, so tests can drive the
app's retry and failure paths) and `/_devstack/authorizations` (the RBAC decisions taken so far,
counted; loopback callers only, since it names principals and the assignments that grant them).

Every data-plane request passes the same steps, in Key Vault's order: an injected fault for its
operation; authentication, before anything about the path is judged (a request without a token gets
the 401 challenge whatever its path, as Key Vault answers it); the path and the api-version;
authorisation, Azure's: each operation needs one data action at the vault or at the secret
(`rbac.REQUIREMENTS`), and the `Authorizer` built from infra/'s role assignments decides; then the
operation itself (operations.py).

Each data-plane request counts once in the stats: as "challenge" (no token), as "rejected" (a token
refused, or a caller no role assignment allows), or under the operation it asked for (whatever the
answer, including an injected fault). A request with a token that names no operation, or a bad
api-version, is not counted.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from aiohttp import hdrs, web
from infra_model.authorization import Authorizer

from devstack.keyvault.api_versions import api_version
from devstack.keyvault.bodies import MAX_REQUEST_BYTES, read_json_object
from devstack.keyvault.deletion import DeletionPolicy
from devstack.keyvault.errors import ServiceError, echo
from devstack.keyvault.faults import Fault, parse_fault
from devstack.keyvault.operations import SecretOperations
from devstack.keyvault.rbac import REQUIREMENTS, DecisionLog, rbac_refusal, vault_name
from devstack.keyvault.routes import OPERATIONS, Call, Route, origin, resolve
from devstack.keyvault.seed import SeedSecret, seed_version
from devstack.keyvault.store import Store
from devstack.tokens import TokenError, TokenVerifier

# Stats buckets beside the operation ids.
CHALLENGE = "challenge"
REJECTED = "rejected"

KEY_VAULT_RESOURCE = "https://vault.azure.net"
NEW_VAULT_DELETION = DeletionPolicy()  # what a vault gets without the properties: 90 days, no purge protection
AUTHORITY_HOST = "https://login.microsoftonline.com"
# As Key Vault's recordings word it since 2026; older ones say "...missing a Bearer or PoP token."
MISSING_TOKEN = "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."  # noqa: S105


def create_keyvault_app(
    *,
    verifier: TokenVerifier,
    tenant_id: str,
    authorizer: Authorizer,
    vault_id: str,
    seed: Sequence[SeedSecret] = (),
    deletion: DeletionPolicy = NEW_VAULT_DELETION,
) -> web.Application:
    """The vault as an app. `vault_id` is its ARM resource id, the scope its role assignments name;
    `deletion` its soft-delete retention and purge protection (by default a new vault's: 90 days, off)."""
    service = _KeyVaultService(
        verifier=verifier, tenant_id=tenant_id, authorizer=authorizer, vault_id=vault_id, seed=seed, deletion=deletion
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
        deletion: DeletionPolicy,
    ) -> None:
        self._verifier = verifier
        self._challenge = f'Bearer authorization="{AUTHORITY_HOST}/{tenant_id}", resource="{KEY_VAULT_RESOURCE}"'
        self._authorizer = authorizer
        self._vault = vault_name(vault_id)  # checked first: a vault URL passed by mistake fails here
        self._vault_id = vault_id
        self._decisions = DecisionLog()
        self._counts: Counter[str] = Counter()
        self._fault: Fault | None = None
        store = Store()
        now = int(time.time())
        for entry in seed:
            store.add(entry.name, seed_version(entry), now)
        self._operations = SecretOperations(store, deletion, self._vault).handlers

    async def data_plane(self, request: web.Request) -> web.Response:
        try:
            route = _route(request)
            if isinstance(route, Route):
                self._inject_fault(route.operation)
            claims = self._authenticate(request)
            if isinstance(route, ServiceError):
                raise route
            call = Call(request, route, origin(request), api_version(request.query))
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
            raise self._unauthorized(MISSING_TOKEN, counted_as=CHALLENGE)
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
            # Key Vault quotes the token's header (not the token): the key id it could not resolve is in it.
            header = echo(token.split(".", 1)[0])
            return f"AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '{header}'."
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


def _route(request: web.Request) -> Route | ServiceError:
    """The route, or why there is none: said only to a caller who authenticated."""
    try:
        return resolve(request.method, request.rel_url.raw_path)
    except ServiceError as error:
        return error


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
