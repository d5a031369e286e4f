"""The query API: list_events, get_event, get_event_payload, and their key checks."""

from __future__ import annotations

import time

import pytest

from tests.integration.inbox_api import Inbox, assert_problem, new_id


@pytest.fixture(scope="module")
def listed(inbox: Inbox) -> list[dict[str, object]]:
    """Seven events for source `listing`, stored in order, alternating two types."""
    records = []
    for n in range(7):
        body = f'{{"n": {n}}}'.encode()
        response = inbox.deliver(
            "listing", body, event_id=f"evt-{n}-{new_id()}", event_type="ping" if n % 2 else "push"
        )
        assert response.status_code == 202
        records.append(response.json())
        time.sleep(0.002)  # distinct receivedAt values
    return records


def test_lists_newest_first(inbox: Inbox, listed: list[dict[str, object]]) -> None:
    response = inbox.get("webhooks/listing/events")
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["items"]] == [r["id"] for r in reversed(listed)]
    assert body["continuation"] is None


def test_pages_with_limit_and_continuation(inbox: Inbox, listed: list[dict[str, object]]) -> None:
    seen: list[object] = []
    params = {"limit": "3"}
    for _ in range(5):
        page = inbox.get("webhooks/listing/events", params=params).json()
        assert len(page["items"]) <= 3
        seen += [r["id"] for r in page["items"]]
        if page["continuation"] is None:
            break
        params = {"limit": "3", "continuation": page["continuation"]}
    assert seen == [r["id"] for r in reversed(listed)]


def test_filters_by_type_and_time(inbox: Inbox, listed: list[dict[str, object]]) -> None:
    pings = inbox.get("webhooks/listing/events", params={"type": "ping"}).json()["items"]
    assert [r["id"] for r in pings] == [r["id"] for r in reversed(listed) if r["type"] == "ping"]
    since, until = str(listed[2]["receivedAt"]), str(listed[5]["receivedAt"])
    window = inbox.get("webhooks/listing/events", params={"since": since, "until": until}).json()["items"]
    assert [r["id"] for r in window] == [r["id"] for r in reversed(listed[2:5])]


def test_only_the_requested_source_is_listed(inbox: Inbox, listed: list[dict[str, object]]) -> None:
    items = inbox.get("webhooks/github/events", params={"limit": "200"}).json()["items"]
    assert {r["source"] for r in items} <= {"github"}
    assert not {r["id"] for r in items} & {r["id"] for r in listed}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"since": "yesterday"},
        {"since": "2026-11-22T00:00:00Z", "until": "2026-11-21T00:00:00Z"},
        {"type": "bad type!"},
        {"continuation": "not-a-token"},
        {"unexpected": "1"},
    ],
)
def test_invalid_query_parameters_are_400(inbox: Inbox, params: dict[str, str]) -> None:
    assert_problem(inbox.get("webhooks/listing/events", params=params), 400, "bad-request")


def test_continuation_from_another_query_is_400(inbox: Inbox, listed: list[dict[str, object]]) -> None:
    token = inbox.get("webhooks/listing/events", params={"limit": "2"}).json()["continuation"]
    assert token
    response = inbox.get("webhooks/listing/events", params={"limit": "2", "type": "push", "continuation": token})
    assert_problem(response, 400, "bad-request")


def test_get_event_and_its_payload(inbox: Inbox) -> None:
    body, event_id = b"<xml>original bytes</xml>", new_id()
    stored = inbox.deliver("github", body, event_id=event_id, content_type="application/xml").json()
    record = inbox.get(f"webhooks/github/events/{event_id}")
    assert record.status_code == 200
    assert record.json() == stored
    payload = inbox.get(f"webhooks/github/events/{event_id}/payload")
    assert payload.status_code == 200
    assert payload.content == body
    # XML can carry script: served as bytes, with the type it was stored with beside it (test_hardening.py).
    assert payload.headers["Content-Type"] == "application/octet-stream"
    assert payload.headers["X-Payload-Content-Type"] == "application/xml"


@pytest.mark.parametrize("path", ["events/{id}", "events/{id}/payload"])
def test_absent_event_is_a_404_problem(inbox: Inbox, path: str) -> None:
    response = inbox.get("webhooks/github/" + path.format(id=new_id()))
    assert_problem(response, 404, "not-found")


def test_unknown_source_is_404_on_queries(inbox: Inbox) -> None:
    assert_problem(inbox.get("webhooks/nosuch/events"), 404, "not-found")


@pytest.mark.parametrize(
    "path", ["webhooks/github/events", "webhooks/github/events/x", "webhooks/github/events/x/payload"]
)
def test_query_routes_need_a_function_key(inbox: Inbox, path: str) -> None:
    assert inbox.get(path, key="none").status_code == 401
    assert inbox.get(path, key="master").status_code in (200, 404)


def test_function_key_in_the_query_string_works(inbox: Inbox) -> None:
    response = inbox.http.get(inbox.url("webhooks/github/events"), params={"code": inbox.stack.env.function_key})
    assert response.status_code == 200


def test_health_is_public_and_touches_nothing(inbox: Inbox) -> None:
    before = (inbox.stack.keyvault_counts(), inbox.stack.token_counts())
    response = inbox.get("health", key="none")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}
    assert (inbox.stack.keyvault_counts(), inbox.stack.token_counts()) == before
