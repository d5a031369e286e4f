"""Accepting a delivery: authenticate its signature, then store it once, inside the delivery's span."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span

from frame import telemetry
from frame.problems import INVALID_SIGNATURE, Problem
from webhooks.secret_cache import SecretCache
from webhooks.signing import signature_matches
from webhooks.store import Delivery, EventStore, Saved

log = logging.getLogger(__name__)

# The delivery span's attributes: custom dimensions in Application Insights. Only validated header
# values: never a secret, a signature or the body.
SOURCE = "webhook.source"
DELIVERY_ID = "webhook.delivery_id"
EVENT_TYPE = "webhook.event_type"
CREATED = "webhook.created"
PROBLEM = "webhook.problem"


def invalid_signature() -> Problem:
    return INVALID_SIGNATURE(
        "send X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body> made with the source's secret"
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
    raise invalid_signature()  # logged once, with the answer, by frame/invocation.py


@contextmanager
def delivery_span(source: str, event_id: str, event_type: str) -> Iterator[Span]:
    """Accepting one delivery: a 4xx answer is recorded as `webhook.problem`, not as an error."""
    attributes = {SOURCE: source, DELIVERY_ID: event_id, EVENT_TYPE: event_type}
    with telemetry.operation_span("accept delivery", attributes, problem_attribute=PROBLEM) as span:
        yield span


async def accept(cache: SecretCache, store: EventStore, delivery: Delivery, signature: str | None) -> Saved:
    with delivery_span(delivery.source, delivery.event_id, delivery.event_type) as span:
        await authenticate(cache, delivery.source, signature, delivery.body)
        saved = await store.save(delivery)
        span.set_attribute(CREATED, saved.created)
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
