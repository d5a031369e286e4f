"""POST /api/webhooks/{source}: verify, archive, index, through the local host and the local stack."""

from __future__ import annotations

import asyncio
import hashlib
import json

import aiohttp
import pytest

from tests.integration.inbox_api import Inbox, assert_problem, new_id
from webhooks.signing import sign


def test_new_delivery_is_archived_and_indexed(inbox: Inbox) -> None:
    body, event_id = json.dumps({"action": "opened", "n": 1}).encode(), new_id()
    response = inbox.deliver("github", body, event_id=event_id, event_type="issues")

    assert response.status_code == 202, response.text
    record = response.json()
    assert record["id"] == event_id
    assert record["source"] == "github"
    assert record["type"] == "issues"
    assert record["size"] == len(body)
    assert record["sha256"] == hashlib.sha256(body).hexdigest()
    assert record["contentType"] == "application/json"
    assert record["receivedAt"].endswith("Z")
    blob = inbox.container("events").get_blob_client(record["blob"])
    assert blob.download_blob().readall() == body
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_type == "application/json"
    assert properties.metadata["sha256"] == record["sha256"]
    stored = inbox.records("github", event_id)
    assert len(stored) == 1
    assert {k: stored[0][k] for k in record} == record


def test_redelivery_returns_the_same_record_and_writes_nothing(inbox: Inbox) -> None:
    body, event_id = b'{"zen": "Keep it logically awesome."}', new_id()
    first = inbox.deliver("github", body, event_id=event_id)
    blob = inbox.container("events").get_blob_client(first.json()["blob"])
    etag = blob.get_blob_properties().etag
    item_etag = inbox.records("github", event_id)[0]["_etag"]

    again = inbox.deliver("github", body, event_id=event_id)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert blob.get_blob_properties().etag == etag
    assert inbox.records("github", event_id)[0]["_etag"] == item_etag


def test_same_id_with_a_different_body_is_a_conflict(inbox: Inbox) -> None:
    event_id = new_id()
    assert inbox.deliver("github", b'{"v": 1}', event_id=event_id).status_code == 202
    assert_problem(inbox.deliver("github", b'{"v": 2}', event_id=event_id), 409, "delivery-conflict")
    blob = inbox.container("events").get_blob_client(f"github/{event_id}")
    assert blob.download_blob().readall() == b'{"v": 1}'


def test_delivery_without_id_is_identified_by_its_content(inbox: Inbox) -> None:
    body = json.dumps({"no-id": new_id()}).encode()
    first = inbox.deliver("github", body)
    second = inbox.deliver("github", body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == hashlib.sha256(body).hexdigest()


def test_x_event_headers_are_accepted_as_well(inbox: Inbox) -> None:
    body, event_id = b"plain text payload", new_id()
    secret = inbox.secret("demo")
    headers = {
        "X-Event-Id": event_id,
        "X-Event-Type": "note.created",
        "Content-Type": "text/plain",
        "X-Hub-Signature-256": sign(secret, body),
    }
    response = inbox.http.post(inbox.url("webhooks/demo"), data=body, headers=headers, timeout=30)
    assert response.status_code == 202
    assert (response.json()["id"], response.json()["type"]) == (event_id, "note.created")


def test_unknown_source_is_404_without_a_key_vault_call(inbox: Inbox) -> None:
    before = inbox.stack.keyvault_counts()
    response = inbox.deliver("nosuchsource", b"{}", signature="sha256=00")
    assert_problem(response, 404, "not-found")
    assert inbox.stack.keyvault_counts() == before


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, "sha1=0123", "sha256=zz", "not a signature"],
    ids=["missing", "wrong", "other-algorithm", "not-hex", "garbage"],
)
def test_missing_or_wrong_signature_is_401(inbox: Inbox, signature: str) -> None:
    event_id = new_id()
    response = inbox.deliver("github", b'{"a": 1}', event_id=event_id, signature=signature)
    assert_problem(response, 401, "invalid-signature")
    assert inbox.records("github", event_id) == []
    assert inbox.blobs(f"github/{event_id}") == []


def test_signature_made_with_another_secret_is_401(inbox: Inbox) -> None:
    response = inbox.deliver("github", b"{}", event_id=new_id(), secret="not-the-secret")
    assert_problem(response, 401, "invalid-signature")


def test_oversized_payload_is_413(inbox: Inbox) -> None:
    body = b"x" * (1024 * 1024 + 1)
    assert_problem(inbox.deliver("github", body, event_id=new_id()), 413, "payload-too-large")


def test_payload_at_the_limit_is_accepted(inbox: Inbox) -> None:
    body = b"y" * (1024 * 1024)
    assert inbox.deliver("github", body, event_id=new_id(), content_type="application/octet-stream").status_code == 202


@pytest.mark.parametrize("bad_id", ["has/slash", "a" * 129, "-leading-dash", "q?x"])
def test_malformed_delivery_id_is_400(inbox: Inbox, bad_id: str) -> None:
    assert_problem(inbox.deliver("github", b"{}", event_id=bad_id), 400, "bad-request")


def test_wrong_method_on_the_ingest_route_is_not_a_500(inbox: Inbox) -> None:
    response = inbox.http.put(inbox.url("webhooks/github"), data=b"{}", timeout=10)
    assert 400 <= response.status_code < 500


async def test_fifty_concurrent_identical_deliveries_store_one_of_each(inbox: Inbox) -> None:
    body, event_id = json.dumps({"burst": True}).encode(), new_id()
    headers = {
        "X-GitHub-Delivery": event_id,
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(inbox.secret("burst"), body),
    }
    async with aiohttp.ClientSession() as session:

        async def one() -> tuple[int, dict[str, object]]:
            async with session.post(inbox.url("webhooks/burst"), data=body, headers=headers) as response:
                return response.status, await response.json()

        results = await asyncio.gather(*(one() for _ in range(50)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 49 + [202]
    assert len({json.dumps(record, sort_keys=True) for _, record in results}) == 1
    assert inbox.blobs(f"burst/{event_id}") == [f"burst/{event_id}"]
    assert len(inbox.records("burst", event_id)) == 1


def test_cosmos_failure_after_the_blob_write_converges_on_retry(inbox: Inbox) -> None:
    body, event_id = b'{"partial": true}', new_id()
    inbox.fault("cosmos", {"status": 503, "count": None, "method": "POST", "resourceType": "docs"})
    try:
        failed = inbox.deliver("partial", body, event_id=event_id)
    finally:
        inbox.fault("cosmos", None)
    assert_problem(failed, 503, "dependency-unavailable")
    assert failed.headers["Retry-After"].isdigit()
    assert inbox.blobs(f"partial/{event_id}") == [f"partial/{event_id}"]  # archived...
    assert inbox.records("partial", event_id) == []  # ...but not indexed

    retried = inbox.deliver("partial", body, event_id=event_id)

    assert retried.status_code == 202
    assert inbox.blobs(f"partial/{event_id}") == [f"partial/{event_id}"]
    assert len(inbox.records("partial", event_id)) == 1
