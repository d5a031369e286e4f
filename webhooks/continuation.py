"""The continuation tokens `list_events` issues: Cosmos DB's token, bound to its query and signed.

A caller gets Cosmos DB's continuation token wrapped with a MAC over the query it belongs to (source,
filters, limit) and the token itself, so the only tokens that reach Cosmos DB are ones this API issued
for this very query. Anything else is a 400 `bad-request` before any I/O: a token made for other filters,
a forged one (a Cosmos token with CR, LF or NUL in it once reached the SDK's request headers and failed
as a 500), or bytes that are no token at all.

The MAC's key is derived from the source's signing secret, HMAC-SHA256(secret, PURPOSE): a secret each
deployment already has, readable by the app alone, so there is no other secret to create, store or
rotate. A rotation keeps tokens working while their secret is still accepted (the newest version and
the one before, webhooks/secret_cache.py); an older token is a 400 and the caller starts from the first
page again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from frame.problems import Problem, bad_request
from webhooks.store import EventFilter

PURPOSE = b"webhook-inbox continuation token v1"
MAC_HEX_DIGITS = 32  # the first 128 bits of the HMAC-SHA256, in hex


@dataclass(frozen=True)
class PageToken:
    """A continuation as the caller sent it, shaped like one this API issues but not verified yet."""

    token: str
    mac: str


def keys_from(secrets: Iterable[str]) -> tuple[bytes, ...]:
    """One MAC key per accepted signing secret, newest first (the first one signs new tokens)."""
    return tuple(hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest() for secret in secrets)


def issue(token: str, where: EventFilter, limit: int, key: bytes) -> str:
    document = {"t": token, "m": _mac(key, token, where, limit)}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def parse(opaque: str) -> PageToken:
    """The token's parts, or a 400 when it cannot be one this API issued (no key is needed to tell)."""
    try:
        padded = opaque.encode("ascii") + b"=" * (-len(opaque) % 4)
        document = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        token, mac = document["t"], document["m"]
    # RecursionError: json.loads of a deeply nested array, which a caller can send too.
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise _not_issued() from None
    if not isinstance(token, str) or not isinstance(mac, str) or len(mac) != MAC_HEX_DIGITS:
        raise _not_issued()
    return PageToken(token, mac)


def verify(page: PageToken, where: EventFilter, limit: int, keys: Sequence[bytes]) -> str:
    """Cosmos DB's token, when one of `keys` signed it for this query; a 400 otherwise."""
    if not any(hmac.compare_digest(page.mac, _mac(key, page.token, where, limit)) for key in keys):
        raise bad_request("continuation was not issued for this query (same filters and limit are required)")
    return page.token


def _mac(key: bytes, token: str, where: EventFilter, limit: int) -> str:
    message = json.dumps([where.source, where.event_type, where.since, where.until, limit, token])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:MAC_HEX_DIGITS]


def _not_issued() -> Problem:
    return bad_request("continuation is not a token this API issued")
