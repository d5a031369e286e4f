"""A local stand-in for the Azure Key Vault secrets data plane, as an aiohttp application.

Faithful where a client can tell the difference: the challenge flow (a token-less request is answered
401 with the `WWW-Authenticate` challenge the SDK needs before it asks for a token), the error codes
and shapes the SDK maps to its exceptions, ids and nextLinks built from the Host the client used,
paging with an opaque skip token, disabled versions refused and expired ones still served. Access is
the two data-plane RBAC roles the app needs. Not served: deletion, recovery, backup/restore, keys and
certificates (their paths answer 405 or 404 in Key Vault's error shape).

Beside the REST API, two routes for tests, neither authenticated: `GET /stats` (requests per
operation) and `/_devstack/faults` (answer the next requests with an injected error status, so
tests can drive the app's retry and failure paths).

Each data-plane request counts once in the stats: as "challenge" (no token), as "rejected" (a token
refused, or a caller without the role), or under the operation it asked for (whatever the answer,
including an injected fault). Requests that match no operation, or lack api-version, are not counted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import jwt
from aiohttp import hdrs, web

from devstack.tokens import TokenError, TokenVerifier

SECRETS_USER = "Key Vault Secrets User"  # read secrets
SECRETS_OFFICER = "Key Vault Secrets Officer"  # read + write

# Operation ids as the Key Vault REST API names them (names, not passwords: hence the noqa).
GET_SECRET = "getSecret"  # noqa: S105
GET_SECRET_VERSIONS = "getSecretVersions"  # noqa: S105
GET_SECRETS = "getSecrets"
SET_SECRET = "setSecret"  # noqa: S105
UPDATE_SECRET = "updateSecret"  # noqa: S105
OPERATIONS = (GET_SECRET, GET_SECRET_VERSIONS, GET_SECRETS, SET_SECRET, UPDATE_SECRET)
CHALLENGE = "challenge"
REJECTED = "rejected"

KEY_VAULT_RESOURCE = "https://vault.azure.net"
AUTHORITY_HOST = "https://login.microsoftonline.com"
MAX_VALUE_BYTES = 25 * 1024  # "a maximum size of 25 KB each" (About Azure Key Vault secrets)
MAX_CONTENT_TYPE_CHARS = 255  # same page
MAX_REQUEST_BYTES = 1024 * 1024  # a local guard; Key Vault's own request limit is not documented
DEFAULT_PAGE_SIZE = 25  # REST reference: "If not specified the service will return up to 25 results"
RECOVERABLE_DAYS = 90  # soft delete's default retention, which every new vault has
RECOVERY_LEVEL = "Recoverable+Purgeable"
LATEST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z: beyond it clients cannot build a datetime

NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")
VERSION_PATTERN = re.compile(r"[0-9a-f]{32}")
# "7.4", "7.6-preview.2", "2025-07-01": any version shape passes, so newer SDKs keep working.
API_VERSION_PATTERN = re.compile(r"\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?")
HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")

_READS = frozenset({GET_SECRET, GET_SECRET_VERSIONS, GET_SECRETS})
_ROLE_OPERATIONS: Mapping[str, frozenset[str]] = {
    SECRETS_USER: _READS,
    SECRETS_OFFICER: frozenset(OPERATIONS),
}
# The data actions the built-in roles grant, as Key Vault names them in a 403.
_DATA_ACTIONS = {
    GET_SECRET: "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    GET_SECRET_VERSIONS: "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    GET_SECRETS: "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    SET_SECRET: "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    UPDATE_SECRET: "Microsoft.KeyVault/vaults/secrets/update/action",
}
_FAULT_CODES = {
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_ERROR_STATUSES = frozenset(status.value for status in HTTPStatus if status.value >= 400)
_ECHO_LIMIT = 130  # client input quoted back in a message is cut to this many characters
_LOCAL_RESOURCE_GROUP = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/devstack"

T = TypeVar("T")


@dataclass(frozen=True)
class SeedSecret:
    name: str
    value: str
    content_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def load_seed(path: Path) -> list[SeedSecret]:
    """Secrets to start with, from `{"secrets": [{"name", "value" | null, "contentType"?, "tags"?}]}`.

    A null value becomes a random 32-byte urlsafe string, so a fresh stack never shares a secret with
    another. Repeating a name seeds several versions, oldest first.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = document.get("secrets") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f'{path}: expected an object {{"secrets": [...]}}')
    return [_seed_entry(entry, where=f"{path}: secrets[{index}]") for index, entry in enumerate(entries)]


def create_keyvault_app(
    *,
    verifier: TokenVerifier,
    tenant_id: str,
    roles: Mapping[str, frozenset[str]],
    seed: Sequence[SeedSecret] = (),
) -> web.Application:
    """The vault as an app; `roles` maps a principal's object id (the token's `oid`) to its roles."""
    service = _KeyVaultService(verifier=verifier, tenant_id=tenant_id, roles=roles, seed=seed)
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_get("/stats", service.stats)
    app.router.add_post("/_devstack/faults", service.set_fault)
    app.router.add_get("/_devstack/faults", service.show_fault)
    app.router.add_delete("/_devstack/faults", service.clear_fault)
    app.router.add_route("*", "/{path:.*}", service.data_plane)
    return app


# --- errors -------------------------------------------------------------------------------------


class _ServiceError(Exception):
    """An answer in Key Vault's error shape; `counted_as` names the stats bucket it belongs to, if any."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        counted_as: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = dict(headers or {})
        self.counted_as = counted_as

    def response(self) -> web.Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return web.json_response({"error": error}, status=self.status, headers=self.headers)


def _bad_parameter(message: str) -> _ServiceError:
    return _ServiceError(400, "BadParameter", message)


def _secret_not_found(name: str, version: str = "") -> _ServiceError:
    subject = f"{name}/{version}" if version else name
    return _ServiceError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {_echo(subject)} was not found in this key vault. If you recently deleted "
        "this secret you may be able to recover it using the correct recovery command.",
    )


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."


# --- routing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    operation: str
    name: str = ""
    version: str = ""  # "" = the latest version


def _resolve(method: str, raw_path: str) -> _Route:
    segments = [unquote(segment) for segment in raw_path.split("/")[1:]]
    if not segments or segments[0].lower() != "secrets":
        raise _ServiceError(404, "NotFound", "This vault serves only the secrets API under /secrets.")
    rest = segments[1:]
    if rest and rest[-1] == "":
        rest = rest[:-1]  # "/secrets/name/" is "/secrets/name": the latest version
    routes = _routes_for(rest)
    route = routes.get(method)
    if route is None:
        allowed = ", ".join(sorted(routes))
        raise _ServiceError(
            405,
            "MethodNotAllowed",
            f"Method {_echo(method)} is not served on this path by the local vault (allowed: {allowed}).",
            headers={hdrs.ALLOW: allowed},
        )
    if route.name and not NAME_PATTERN.fullmatch(route.name):
        raise _bad_parameter(f"The request URI contains an invalid name: {_echo(route.name)}")
    return route


def _routes_for(rest: list[str]) -> dict[str, _Route]:
    match rest:
        case []:
            return {"GET": _Route(GET_SECRETS)}
        case [name]:
            return {
                "GET": _Route(GET_SECRET, name),
                "PUT": _Route(SET_SECRET, name),
                "PATCH": _Route(UPDATE_SECRET, name),
            }
        case [name, "versions"]:
            return {"GET": _Route(GET_SECRET_VERSIONS, name)}
        case [name, version]:
            return {"GET": _Route(GET_SECRET, name, version), "PATCH": _Route(UPDATE_SECRET, name, version)}
        case _:
            # Key Vault reads a third segment as an operation name and refuses ones it does not know.
            raise _bad_parameter(f"The request URI names no known operation: {_echo('/'.join(rest))}")


def _api_version(query: Mapping[str, str]) -> str:
    version = query.get("api-version", "")
    if not version:
        raise _bad_parameter("The api-version query parameter is missing or empty.")
    if not API_VERSION_PATTERN.fullmatch(version):
        raise _bad_parameter(f"The specified version ({_echo(version)}) is not recognized.")
    return version


def _origin(request: web.Request) -> str:
    """`https://{Host}`: ids and links point where the client looked, as Key Vault's do."""
    host = request.host.strip()
    if not HOST_PATTERN.fullmatch(host):
        raise _bad_parameter("The Host header is not a valid host name.")
    return "https://" + host.lower().removesuffix(":443")


# --- storage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AttributeChange:
    enabled: bool | None = None
    not_before: int | None = None
    expires: int | None = None


@dataclass(frozen=True)
class _NewVersion:
    value: str
    content_type: str | None = None
    tags: Mapping[str, str] | None = None
    attributes: _AttributeChange = _AttributeChange()


@dataclass(frozen=True)
class _PropertyChange:
    content_type: str | None = None
    tags: Mapping[str, str] | None = None
    attributes: _AttributeChange = _AttributeChange()


@dataclass
class _Version:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int

    def apply(self, change: _PropertyChange, now: int) -> None:
        if change.content_type is not None:
            self.content_type = change.content_type
        if change.tags is not None:
            self.tags = dict(change.tags)
        if change.attributes.enabled is not None:
            self.enabled = change.attributes.enabled
        if change.attributes.not_before is not None:
            self.not_before = change.attributes.not_before
        if change.attributes.expires is not None:
            self.expires = change.attributes.expires
        self.updated = now


@dataclass
class _Secret:
    name: str  # as first written; lookups ignore case, as Key Vault's do
    versions: list[_Version] = field(default_factory=list)

    @property
    def latest(self) -> _Version:
        return self.versions[-1]

    def version(self, version: str) -> _Version:
        if not version:
            return self.latest
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        raise _secret_not_found(self.name, version)


class _Store:
    def __init__(self) -> None:
        self._secrets: dict[str, _Secret] = {}

    def add(self, name: str, new: _NewVersion, now: int) -> tuple[_Secret, _Version]:
        secret = self._secrets.setdefault(name.lower(), _Secret(name))
        version = _Version(
            version=uuid.uuid4().hex,
            value=new.value,
            content_type=new.content_type,
            tags=dict(new.tags or {}),
            enabled=True if new.attributes.enabled is None else new.attributes.enabled,
            not_before=new.attributes.not_before,
            expires=new.attributes.expires,
            created=now,
            updated=now,
        )
        secret.versions.append(version)
        return secret, version

    def find(self, name: str) -> _Secret:
        secret = self._secrets.get(name.lower())
        if secret is None:
            raise _secret_not_found(name)
        return secret

    def lookup(self, name: str, version: str) -> tuple[_Secret, _Version]:
        secret = self.find(name)
        if version and not VERSION_PATTERN.fullmatch(version):
            raise _secret_not_found(secret.name, version)
        return secret, secret.version(version)

    def by_name(self) -> list[tuple[str, _Secret]]:
        return sorted(self._secrets.items())


# --- the service --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    request: web.Request
    route: _Route
    origin: str
    api_version: str


@dataclass
class _Fault:
    status: int
    remaining: int | None  # None: until cleared
    operation: str | None  # None: every operation

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.remaining, "operation": self.operation}


class _KeyVaultService:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        tenant_id: str,
        roles: Mapping[str, frozenset[str]],
        seed: Sequence[SeedSecret],
    ) -> None:
        self._verifier = verifier
        self._challenge = f'Bearer authorization="{AUTHORITY_HOST}/{tenant_id}", resource="{KEY_VAULT_RESOURCE}"'
        self._roles = roles  # read per request: a caller may grant or revoke while the vault runs
        self._store = _Store()
        self._counts: Counter[str] = Counter()
        self._fault: _Fault | None = None
        self._operations: dict[str, Callable[[_Call], Awaitable[web.Response]]] = {
            GET_SECRET: self._get_secret,
            GET_SECRET_VERSIONS: self._get_secret_versions,
            GET_SECRETS: self._get_secrets,
            SET_SECRET: self._set_secret,
            UPDATE_SECRET: self._update_secret,
        }
        now = _now()
        for entry in seed:
            self._store.add(entry.name, _seed_version(entry), now)

    async def data_plane(self, request: web.Request) -> web.Response:
        try:
            route = _resolve(request.method, request.rel_url.raw_path)
            call = _Call(request, route, _origin(request), _api_version(request.query))
            self._inject_fault(route.operation)
            claims = self._authenticate(request)
            self._authorize(claims, call)
            self._counts[route.operation] += 1
            return await self._operations[route.operation](call)
        except _ServiceError as error:
            if error.counted_as:
                self._counts[error.counted_as] += 1
            return error.response()

    # --- test routes

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({name: self._counts[name] for name in (*OPERATIONS, CHALLENGE, REJECTED)})

    async def set_fault(self, request: web.Request) -> web.Response:
        try:
            self._fault = _parse_fault(await _read_json_object(request))
        except _ServiceError as error:
            return error.response()
        return web.json_response(self._fault.as_json())

    async def show_fault(self, request: web.Request) -> web.Response:
        return web.json_response(self._fault.as_json() if self._fault else None)

    async def clear_fault(self, request: web.Request) -> web.Response:
        self._fault = None
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
        code = _FAULT_CODES.get(fault.status) or HTTPStatus(fault.status).phrase.replace(" ", "")
        raise _ServiceError(
            fault.status,
            code,
            f"Injected by the local stack: {operation} answers {fault.status} while the fault is active.",
            headers={hdrs.RETRY_AFTER: "1"},
            counted_as=operation,
        )

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        token = _bearer_token(request)
        if token is None:
            raise self._unauthorized("Request is missing a Bearer or PoP token.", counted_as=CHALLENGE)
        try:
            return self._verifier.verify(token)
        except TokenError as exc:
            raise self._unauthorized(self._refusal_message(token, exc), counted_as=REJECTED) from None

    def _unauthorized(self, message: str, *, counted_as: str) -> _ServiceError:
        return _ServiceError(
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
            return f"AKV10032: Invalid issuer. Expected one of {self._verifier.issuer}, found {_echo(issuer)}."
        expected = " or ".join(sorted(self._verifier.audiences))
        return f"AKV10022: Invalid audience. Expected {expected}, found: {_echo(str(claims.get('aud')))}."

    def _authorize(self, claims: Mapping[str, Any], call: _Call) -> None:
        operation = call.route.operation
        roles = self._roles.get(str(claims.get("oid")), frozenset())
        if any(operation in _ROLE_OPERATIONS.get(role, frozenset()) for role in roles):
            return
        raise _ServiceError(
            403,
            "Forbidden",
            _rbac_refusal(claims, _DATA_ACTIONS[operation], call),
            inner_code="ForbiddenByRbac",
            counted_as=REJECTED,
        )

    # --- operations

    async def _get_secret(self, call: _Call) -> web.Response:
        secret, version = self._store.lookup(call.route.name, call.route.version)
        if not version.enabled:
            raise _ServiceError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner_code="SecretDisabled"
            )
        return web.json_response(_bundle(call.origin, secret, version, with_value=True))

    async def _set_secret(self, call: _Call) -> web.Response:
        new = _parse_new_version(await _read_json_object(call.request))
        secret, version = self._store.add(call.route.name, new, _now())
        return web.json_response(_bundle(call.origin, secret, version, with_value=True))

    async def _update_secret(self, call: _Call) -> web.Response:
        change = _parse_property_change(await _read_json_object(call.request))
        secret, version = self._store.lookup(call.route.name, call.route.version)
        version.apply(change, _now())
        return web.json_response(_bundle(call.origin, secret, version, with_value=False))

    async def _get_secrets(self, call: _Call) -> web.Response:
        page, next_link = _paginate(self._store.by_name(), call, "/secrets")
        items = [_item(call.origin, secret, secret.latest, versioned=False) for secret in page]
        return web.json_response({"value": items, "nextLink": next_link})

    async def _get_secret_versions(self, call: _Call) -> web.Response:
        secret = self._store.find(call.route.name)
        # Versions only ever append, so an index is a stable paging position.
        entries = [(f"{index:010d}", version) for index, version in enumerate(secret.versions)]
        page, next_link = _paginate(entries, call, f"/secrets/{secret.name}/versions")
        items = [_item(call.origin, secret, version, versioned=True) for version in page]
        return web.json_response({"value": items, "nextLink": next_link})


def _now() -> int:
    return int(time.time())


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _rbac_refusal(claims: Mapping[str, Any], action: str, call: _Call) -> str:
    host = call.origin.removeprefix("https://").split(":")[0]
    vault = host.split(".")[0] if host.endswith(".vault.azure.net") else host
    resource = f"{_LOCAL_RESOURCE_GROUP}/providers/microsoft.keyvault/vaults/{vault}"
    if call.route.name:
        resource += f"/secrets/{call.route.name.lower()}"
    return (
        "Caller is not authorized to perform action on resource.\r\n"
        "If role assignments, deny assignments or role definitions were changed recently, please observe "
        "propagation time.\r\n"
        f"Caller: appid={claims.get('appid')};oid={claims.get('oid')};iss={claims.get('iss')}\r\n"
        f"Action: '{action}'\r\n"
        f"Resource: '{resource}'\r\n"
        "Assignment: (not found)\r\n"
        "DenyAssignmentId: null\r\n"
        "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
        f"Vault: {vault};location=local\r\n"
    )


# --- paging -------------------------------------------------------------------------------------


def _paginate(entries: list[tuple[str, T]], call: _Call, path: str) -> tuple[list[T], str | None]:
    """One page of `(sort key, item)` entries; the skip token carries the last key served."""
    size = _page_size(call.request.query)
    after = _decode_skip_token(call.request.query.get("$skiptoken"))
    remaining = [(key, item) for key, item in entries if after is None or key > after]
    page = remaining[:size]
    if len(remaining) <= size:
        return [item for _, item in page], None
    link = f"{call.origin}{path}?api-version={call.api_version}&$skiptoken={_encode_skip_token(page[-1][0])}"
    if "maxresults" in call.request.query:
        link += f"&maxresults={size}"
    return [item for _, item in page], link


def _page_size(query: Mapping[str, str]) -> int:
    raw = query.get("maxresults")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdecimal() or not 1 <= int(raw) <= DEFAULT_PAGE_SIZE:
        raise _bad_parameter(f"The value of maxresults must be an integer from 1 to {DEFAULT_PAGE_SIZE}.")
    return int(raw)


def _encode_skip_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_skip_token(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise _bad_parameter("The $skiptoken is not one this vault issued.") from None


# --- wire shapes --------------------------------------------------------------------------------


def _attributes(version: _Version) -> dict[str, Any]:
    attributes: dict[str, Any] = {"enabled": version.enabled}
    if version.not_before is not None:
        attributes["nbf"] = version.not_before
    if version.expires is not None:
        attributes["exp"] = version.expires
    attributes.update(
        created=version.created,
        updated=version.updated,
        recoveryLevel=RECOVERY_LEVEL,
        recoverableDays=RECOVERABLE_DAYS,
    )
    return attributes


def _item(origin: str, secret: _Secret, version: _Version, *, versioned: bool) -> dict[str, Any]:
    """A SecretItem: what listings show. Listing secrets names the secret, listing versions the version."""
    item: dict[str, Any] = {"id": f"{origin}/secrets/{secret.name}", "attributes": _attributes(version)}
    if versioned:
        item["id"] += f"/{version.version}"
    if version.content_type is not None:
        item["contentType"] = version.content_type
    if version.tags:
        item["tags"] = dict(version.tags)
    return item


def _bundle(origin: str, secret: _Secret, version: _Version, *, with_value: bool) -> dict[str, Any]:
    bundle = _item(origin, secret, version, versioned=True)
    if with_value:
        bundle = {"value": version.value, **bundle}
    return bundle


# --- request bodies -----------------------------------------------------------------------------


async def _read_json_object(request: web.Request) -> dict[str, Any]:
    declared = request.content_length
    if declared is not None and declared > MAX_REQUEST_BYTES:
        raise _too_large()  # refused on the header alone: the body is never read
    try:
        raw = await request.read()  # stops at the app's client_max_size when no length was declared
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _bad_parameter("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad_parameter("The request body must be a JSON object.")
    return body


def _too_large() -> _ServiceError:
    return _ServiceError(
        413, "RequestEntityTooLarge", f"The request body is larger than the {MAX_REQUEST_BYTES} bytes accepted."
    )


def _parse_new_version(body: Mapping[str, Any]) -> _NewVersion:
    value = body.get("value")
    if value is None:
        raise _bad_parameter("Property 'value' is required.")
    if not isinstance(value, str):
        raise _bad_parameter("Property 'value' must be a string.")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise _bad_parameter(f"Property 'value' is larger than the {MAX_VALUE_BYTES} bytes a secret may hold.")
    return _NewVersion(
        value=value,
        content_type=_content_type(body.get("contentType")),
        tags=_tags(body.get("tags")),
        attributes=_attribute_change(body.get("attributes")),
    )


def _parse_property_change(body: Mapping[str, Any]) -> _PropertyChange:
    return _PropertyChange(
        content_type=_content_type(body.get("contentType")),
        tags=_tags(body.get("tags")),
        attributes=_attribute_change(body.get("attributes")),
    )


def _content_type(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_CONTENT_TYPE_CHARS:
        raise _bad_parameter(f"Property 'contentType' must be a string of at most {MAX_CONTENT_TYPE_CHARS} characters.")
    return raw


def _tags(raw: object) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise _bad_parameter("Property 'tags' must be an object of string values.")
    return dict(raw)


def _attribute_change(raw: object) -> _AttributeChange:
    if raw is None:
        return _AttributeChange()
    if not isinstance(raw, dict):
        raise _bad_parameter("Property 'attributes' must be an object.")
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise _bad_parameter("Property 'attributes.enabled' must be a boolean.")
    return _AttributeChange(enabled=enabled, not_before=_timestamp(raw, "nbf"), expires=_timestamp(raw, "exp"))


def _timestamp(attributes: Mapping[str, Any], name: str) -> int | None:
    raw = attributes.get(name)
    if raw is None:
        return None
    # bool is an int to Python, not to JSON's readers: refuse it explicitly.
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= LATEST_TIMESTAMP:
        raise _bad_parameter(f"Property 'attributes.{name}' must be a time in epoch seconds.")
    return raw


def _parse_fault(body: Mapping[str, Any]) -> _Fault:
    unknown = set(body) - {"status", "count", "operation"}
    if unknown:
        raise _bad_parameter(f"Unknown fault properties: {', '.join(sorted(unknown))}.")
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or status not in _ERROR_STATUSES:
        raise _bad_parameter("Fault 'status' must be a standard HTTP error status (4xx or 5xx).")
    count = body.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise _bad_parameter("Fault 'count' must be a positive integer, or null for 'until cleared'.")
    operation = body.get("operation")
    if operation is not None and operation not in OPERATIONS:
        raise _bad_parameter(f"Fault 'operation' must be one of: {', '.join(OPERATIONS)}.")
    return _Fault(status=status, remaining=count, operation=operation)


# --- seeding ------------------------------------------------------------------------------------


def _seed_entry(entry: object, *, where: str) -> SeedSecret:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{where}: 'name' must match {NAME_PATTERN.pattern}")
    value = entry.get("value")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: 'value' must be a string or null")
    content_type = entry.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        raise ValueError(f"{where}: 'contentType' must be a string")
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValueError(f"{where}: 'tags' must be an object of strings")
    return SeedSecret(
        name=name,
        value=secrets.token_urlsafe(32) if value is None else value,
        content_type=content_type,
        tags=dict(tags),
    )


def _seed_version(entry: SeedSecret) -> _NewVersion:
    if not NAME_PATTERN.fullmatch(entry.name):
        raise ValueError(f"seed secret name {entry.name!r} does not match {NAME_PATTERN.pattern}")
    if len(entry.value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise ValueError(f"seed secret {entry.name!r} is larger than {MAX_VALUE_BYTES} bytes")
    return _NewVersion(value=entry.value, content_type=entry.content_type, tags=dict(entry.tags))
