"""The local tenant: mints Entra-style v1 access tokens and verifies them for the local services.

Real Entra signs with keys the services fetch from its discovery document; here one RSA key made at
start plays that part. The private half stays in the stack process; the services (Key Vault, the Blob
gateway and the Cosmos DB front end, all in that process) check tokens with `TokenVerifier`.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Lifetime like Entra's managed-identity tokens (about a day); far outside the SDKs' 5-minute refresh
# window, so a client asks for a token once per scope and then reuses it.
TOKEN_LIFETIME_SECONDS = 24 * 3600
CLOCK_SKEW_SECONDS = 300
ALGORITHM = "RS256"
# Tokens verified once and kept (a client presents the same token for as long as it lives, so every
# request would otherwise pay the signature check again); only their lifetime is checked again.
VERIFIED_TOKENS_KEPT = 256


class TokenError(Exception):
    """A presented token is not acceptable; `reason` is safe to put in an error body.

    `claims`: the token's claims when its signature held and a claim check failed (they are then the
    issuer's own, and a service may quote them: an expiry time, an audience); None otherwise."""

    def __init__(self, reason: str, *, expired: bool = False, claims: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired
        self.claims = claims


@dataclass(frozen=True)
class Identity:
    """A managed identity as Entra knows it: the object id goes into `oid`, the client id into `appid`."""

    client_id: str
    object_id: str
    kind: str  # "system" or "user"

    @classmethod
    def new(cls, kind: str) -> Identity:
        return cls(client_id=str(uuid.uuid4()), object_id=str(uuid.uuid4()), kind=kind)


@dataclass
class Tenant:
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def public_key_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(
        self,
        identity: Identity,
        audience: str,
        *,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
        now: float | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its expiry (epoch seconds)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "oid": identity.object_id,
            "sub": identity.object_id,
            "appid": identity.client_id,
            "appidacr": "2",
            "idtyp": "app",
            "tid": self.tenant_id,
            "ver": "1.0",
            "xms_mirid": f"/local/{identity.kind}-assigned/{identity.client_id}",
        }
        claims.update(overrides or {})
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return token, int(claims["exp"])


@dataclass(frozen=True)
class TokenVerifier:
    """What a resource server checks: signature, issuer, lifetime and audience."""

    public_key_pem: bytes
    issuer: str
    audiences: Collection[str]

    # Parsed once: every request to the local services verifies a token, and loading a PEM key costs
    # more than the signature check itself.
    @functools.cached_property
    def _public_key(self) -> Any:
        return serialization.load_pem_public_key(self.public_key_pem)

    @functools.cached_property
    def _accepted_audiences(self) -> frozenset[str]:
        return frozenset(normalise_audience(a) for a in self.audiences)

    @functools.cached_property
    def _verified(self) -> dict[str, dict[str, Any]]:
        return {}

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, once its signature, issuer, audience and lifetime hold; TokenError otherwise.
        A token verified before is only checked for expiry again: nothing else about it can change."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() > known["exp"] + CLOCK_SKEW_SECONDS:
                del self._verified[token]
                raise TokenError("the token is expired", expired=True, claims=known)
            return dict(known)
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = claims
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                options={"verify_aud": False, "require": ["exp", "nbf", "iat", "iss", "aud", "oid"]},
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            # PyJWT checks the signature before the lifetime: these claims are the issuer's.
            signed = jwt.decode(token, options={"verify_signature": False})
            raise TokenError("the token is expired", expired=True, claims=signed) from exc
        except jwt.ImmatureSignatureError as exc:
            signed = jwt.decode(token, options={"verify_signature": False})
            raise TokenError("the token is not valid yet", claims=signed) from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("the token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is malformed ({type(exc).__name__})") from exc
        if claims["iss"] != self.issuer:
            raise TokenError("the token issuer is not trusted", claims=claims)
        if normalise_audience(claims["aud"]) not in self._accepted_audiences:
            raise TokenError("the token audience is invalid", claims=claims)
        return claims


def normalise_audience(audience: str) -> str:
    return audience.rstrip("/").lower()


def resource_from_scope(scope: str) -> str:
    """`https://vault.azure.net/.default` -> `https://vault.azure.net` (what a v1 token's `aud` holds)."""
    return scope.removesuffix("/.default")
