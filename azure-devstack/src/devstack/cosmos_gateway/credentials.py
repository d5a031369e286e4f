"""How a request to Cosmos DB proves who it is.

The `Authorization` header is URL-encoded as a whole: `type=aad&ver=1.0&sig=<jwt>` (Microsoft Entra
ID, what the SDKs send with a token credential) or `type=master&ver=1.0&sig=<base64 HMAC>` (an
account key). An account with `disableLocalAuth: true`, as infra/ deploys it, refuses keys: the stack's
front end has no key. The key mode exists for a standalone account only (`standalone.py`: Microsoft's
azure-cosmos suite and the tooling's own tests create their databases and containers with a key, as
Bicep does through the resource provider).

The master-key signature is the one "Access control in the Azure Cosmos DB SQL API" (REST reference)
defines: HMAC-SHA256 over verb, resource type, resource link, x-ms-date and Date, each followed by a
newline, all but the link lower-cased; valid for 15 minutes around its date.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from devstack.cosmos_gateway.errors import CosmosError, unauthorized
from devstack.cosmos_gateway.resource import Target
from devstack.tokens import TokenError, TokenVerifier

# Real accounts also accept this audience; the SDKs fall back to it (scope https://cosmos.azure.com/.default)
# when the account-specific one is refused.
GLOBAL_COSMOS_AUDIENCE = "https://cosmos.azure.com"
MASTER_DATE_WINDOW_SECONDS = 15 * 60


def cosmos_audiences(account_host: str) -> frozenset[str]:
    """Every `aud` the account accepts: its own endpoint (the SDK drops the port: https://localhost for a
    local endpoint) and Cosmos DB's global audience."""
    host = account_host.split(":", maxsplit=1)[0]
    return frozenset({f"https://{host}", "https://localhost", GLOBAL_COSMOS_AUDIENCE})


@dataclass(frozen=True)
class Principal:
    kind: str  # "aad" or "master"
    object_id: str = ""  # the token's oid, for "aad"


@dataclass(frozen=True)
class Authenticator:
    account: str  # the account's name, as the service names itself in its refusals
    verifier: TokenVerifier
    master_key: bytes | None = None  # None: local auth disabled

    def authenticate(self, target: Target, headers: Mapping[str, str], now: float | None = None) -> Principal:
        header = headers.get("authorization", "")
        if not header:
            raise CosmosError(
                401, "Required Header authorization is missing. Ensure a valid Authorization token is passed."
            )
        fields = _parse(header)
        if fields is None:
            raise CosmosError(
                401, "The authorization header is malformed; expected type=aad|master&ver=1.0&sig=..., URL-encoded."
            )
        kind, signature = fields
        if kind == "aad":
            return self._aad(signature)
        if kind == "master":
            return self._master(target, headers, signature, time.time() if now is None else now)
        raise CosmosError(401, "Only Microsoft Entra ID tokens (type=aad) are accepted by this account.")

    def _aad(self, token: str) -> Principal:
        try:
            claims = self.verifier.verify(token)
        except TokenError as error:
            raise unauthorized(self.account, self._token_problem(error)) from None
        return Principal("aad", str(claims["oid"]))

    def _token_problem(self, error: TokenError) -> str:
        """The service's words for a refused token (quoted in SDK issue threads); never the token."""
        claims: Mapping[str, Any] = error.claims or {}
        now = _iso(time.time())
        if error.expired and isinstance(claims.get("exp"), int | float):
            return (
                f"Provided AAD token has been expired since [{_iso(claims['exp'])}]. Current server time is [{now}]. "
                "Please refresh the AAD token."
            )
        if error.claims is None:
            if "signature" in error.reason:
                return "The AAD token signature is invalid for the issuer's signing keys."
            return "The AAD token is malformed."
        if claims.get("iss") != self.verifier.issuer:
            return "The AAD token was issued by an issuer this account does not trust."
        if isinstance(claims.get("nbf"), int | float) and "valid yet" in error.reason:
            return f"Provided AAD token is not valid before [{_iso(claims['nbf'])}]. Current server time is [{now}]."
        audience = claims.get("aud")
        presented = ", ".join(audience if isinstance(audience, list) else [str(audience)])[:200]
        accepted = ", ".join(sorted(a.rstrip("/").lower() for a in self.verifier.audiences))
        return (
            f"Provided AAD token is intended for [{presented}]. "
            f"This database account accepts tokens intended for [{accepted}]."
        )

    def _master(self, target: Target, headers: Mapping[str, str], signature: str, now: float) -> Principal:
        if self.master_key is None:
            raise CosmosError(401, "Local Authorization is disabled. Use an AAD token to authorize all requests.")
        date_text = headers.get("x-ms-date") or headers.get("date") or ""
        sent = email.utils.parsedate_to_datetime(date_text).timestamp() if _parses(date_text) else None
        if sent is None:
            raise CosmosError(401, "The request has no valid x-ms-date header, which master-key signatures cover.")
        if abs(now - sent) > MASTER_DATE_WINDOW_SECONDS:
            raise CosmosError(
                403,
                "The authorization token is not valid at the current time. Please create another token and retry "
                f"(token start time: {_http_date(sent)}, "
                f"token expiry time: {_http_date(sent + MASTER_DATE_WINDOW_SECONDS)}, "
                f"current server time: {_http_date(now)}).",
            )
        payloads = _signing_payloads(target, headers)
        if not any(_signature_matches(payload, signature, self.master_key) for payload in payloads):
            # Like the service, show the payload (never the key or the signature) to debug signing code.
            shown = payloads[0].replace("\n", "\\n")
            raise CosmosError(
                401,
                "The input authorization token can't serve the request. The wrong key is being used or the expected "
                f"payload is not built as per the protocol. Server used the following payload to sign: '{shown}'",
            )
        return Principal("master")


def parse_master_key(text: str) -> bytes:
    """An account key as the SDKs take it (base64); ValueError otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("an account key must be base64") from exc


def _parse(header: str) -> tuple[str, str] | None:
    # unquote (not form decoding) keeps '+' in base64 signatures intact.
    fields = dict(part.partition("=")[::2] for part in unquote(header).split("&"))
    kind, signature = fields.get("type", ""), fields.get("sig", "")
    return (kind.lower(), signature) if kind and signature else None


def _signing_payloads(target: Target, headers: Mapping[str, str]) -> list[str]:
    """The Python SDK puts the Date header (usually absent, so "") in the fifth line; a client that
    sends only Date signs it in the fourth. Both are accepted."""
    x_date, http_date = headers.get("x-ms-date", "").lower(), headers.get("date", "").lower()
    head = f"{target.method.lower()}\n{target.resource_type.lower()}\n{target.resource_link}\n"
    dates = [f"{x_date}\n{http_date}\n", f"{x_date}\n\n"] if x_date else [f"{http_date}\n\n"]
    return [head + lines for lines in dict.fromkeys(dates)]


def _signature_matches(payload: str, signature: str, key: bytes) -> bool:
    expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    try:
        presented = base64.b64decode(signature, validate=True)
    except binascii.Error:
        return False
    return hmac.compare_digest(presented, expected)


def _parses(text: str) -> bool:
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return False
    return True


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)
