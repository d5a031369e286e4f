"""Accepting a delivery: authenticate its signature, then store it once."""

from __future__ import annotations

import logging

from inbox import telemetry
from inbox.problems import Problem
from inbox.secret_cache import SecretCache
from inbox.signing import signature_matches
from inbox.store import Delivery, EventStore, Saved

log = logging.getLogger(__name__)


def invalid_signature() -> Problem:
    return Problem(
        401,
        "invalid-signature",
        "The signature is missing or does not match",
        "send X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body> made with the source's secret",
    )


async def authenticate(cache: SecretCache, source: str, signature: str | None, body: bytes) -> None:
    if not signature:
        raise invalid_signature()  # no Key Vault call for requests that cannot be authentic
    accepted = await cache.secrets_for(source)
    if signature_matches(signature, body, accepted):
        return
    # Maybe the sender already uses a secret version this instance has not seen yet.
    refreshed = await cache.refresh_after_mismatch(source, accepted)
    if refreshed is not None and signature_matches(signature, body, refreshed):
        return
    raise invalid_signature()  # logged once, with the answer, by inbox/invocation.py


async def accept(cache: SecretCache, store: EventStore, delivery: Delivery, signature: str | None) -> Saved:
    with telemetry.delivery_span(delivery.source, delivery.event_id, delivery.event_type) as span:
        await authenticate(cache, delivery.source, signature, delivery.body)
        saved = await store.save(delivery)
        span.set_attribute(telemetry.CREATED, saved.created)
        # The ids also go in the message itself: without OpenTelemetry the worker forwards only the
        # message, not `extra` fields.
        log.info(
            "delivery %s/%s (%s) %s",
            delivery.source,
            delivery.event_id,
            delivery.event_type,
            "stored" if saved.created else "already stored",
        )
    return saved
