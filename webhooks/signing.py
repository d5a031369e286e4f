"""GitHub-compatible webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def secret_name(source: str) -> str:
    """The Key Vault secret a source's deliveries are signed with."""
    return f"webhook-{source}"


def sign(secret: str, body: bytes) -> str:
    """The header value a sender computes; used by tests and scripts/sign.py."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header: str | None, body: bytes, secrets: Iterable[str]) -> bool:
    """True if `header` is the signature of `body` under any of `secrets` (newest first).

    Every candidate is compared in constant time, and all of them are tried, so the time taken does
    not tell an attacker which secret version (or how much of the digest) matched.
    """
    if not header or not header.startswith(PREFIX):
        return False
    presented = header.encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(presented, sign(secret, body).encode())
    return matched
