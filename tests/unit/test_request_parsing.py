"""Parsing deliveries and queries: pure functions, no I/O."""

from __future__ import annotations

import hashlib

import pytest

from frame.problems import Problem
from webhooks import continuation
from webhooks.routes import parse_delivery, parse_event_query
from webhooks.store import EventFilter


def test_delivery_headers_are_read_github_first() -> None:
    delivery = parse_delivery(
        "github",
        {"X-GitHub-Delivery": "abc-1", "X-Event-Id": "other", "X-GitHub-Event": "push", "Content-Type": "text/plain"},
        b"body",
    )
    assert (delivery.event_id, delivery.event_type, delivery.content_type) == ("abc-1", "push", "text/plain")


def test_delivery_without_headers_uses_the_body_hash_and_defaults() -> None:
    delivery = parse_delivery("github", {}, b"body")
    assert delivery.event_id == hashlib.sha256(b"body").hexdigest()
    assert delivery.event_type == "unknown"
    assert delivery.content_type == "application/octet-stream"


@pytest.mark.parametrize(
    "headers", [{"X-GitHub-Delivery": "a/b"}, {"X-Event-Id": "x" * 200}, {"X-GitHub-Event": "bad type"}]
)
def test_invalid_delivery_headers_are_400(headers: dict[str, str]) -> None:
    with pytest.raises(Problem) as problem:
        parse_delivery("github", headers, b"")
    assert problem.value.status == 400


def test_query_defaults() -> None:
    where, limit, continuation = parse_event_query("github", {})
    assert where == EventFilter(source="github")
    assert (limit, continuation) == (50, None)


def test_times_are_normalised_to_the_stored_utc_format() -> None:
    where, _, _ = parse_event_query("github", {"since": "2026-11-21T01:00:00+01:00", "until": "2026-11-22"})
    assert where.since == "2026-11-21T00:00:00.000000Z"
    assert where.until == "2026-11-22T00:00:00.000000Z"


def test_continuation_round_trips_only_for_the_same_query_and_key() -> None:
    where = EventFilter(source="github", event_type="push")
    key, other_key = continuation.keys_from(["secret", "another secret"])
    opaque = continuation.issue('{"token":"cosmos"}', where, 10, key)
    parsed = continuation.parse(opaque)
    assert continuation.verify(parsed, where, 10, [other_key, key]) == '{"token":"cosmos"}'
    for wrong in (
        lambda: continuation.verify(parsed, where, 11, [key]),
        lambda: continuation.verify(parsed, EventFilter(source="github"), 10, [key]),
        lambda: continuation.verify(parsed, where, 10, [other_key]),
        lambda: continuation.parse("%%%"),
    ):
        with pytest.raises(Problem) as refused:
            wrong()
        assert refused.value.status == 400
