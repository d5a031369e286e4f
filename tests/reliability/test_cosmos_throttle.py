"""Cosmos DB throttling (429, x-ms-retry-after-ms, sub-status 3200), as a provisioned container over its RU/s
answers: the sender still gets its answer within the app's deadline, and the redelivery converges.

The stack's fault control point switches it (`StackInfo.fault("cosmos", "throttle")`; `up --cosmos-throttle`
starts with it): the Cosmos DB front end answers every item request 429 with `x-ms-retry-after-ms: 1000`
until cleared. The app's Cosmos client retries a throttled write twice, within 2 s (frame/clients.py),
then the failure becomes its 503 `dependency-unavailable` naming cosmos. A query retries longer: the
SDK's query pipeline wraps the same throttling retries in its own, so list_events meets the app's
8 s deadline instead, and answers the same 503 then.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.integration.inbox_api import PROBLEM, Inbox, new_id
from tests.reliability.conftest import SENDER_DEADLINE_SECONDS, Answer, deliver, list_events, stored_ids

pytestmark = pytest.mark.stack

SOURCE = "github"
DELIVERIES = 3
REQUEST_DEADLINE_SECONDS = 8.0  # REQUEST_DEADLINE_SECONDS, the app's default


def body_for(event_id: str) -> bytes:
    return json.dumps({"throttled": True, "id": event_id}).encode()


def cosmos_unavailable(answer: Answer) -> tuple[object, ...]:
    body = answer.body if isinstance(answer.body, dict) else {}
    retry_after = answer.headers.get("Retry-After", "")
    return (
        answer.status,
        answer.headers.get("Content-Type", "").split(";")[0],
        body.get("type"),
        body.get("dependency"),
        retry_after.isdigit() and int(retry_after) > 0,
    )


async def test_throttled_cosmos_is_a_503_naming_it_within_the_deadline_and_the_redelivery_converges(
    inbox: Inbox, http: aiohttp.ClientSession
) -> None:
    secret = await asyncio.to_thread(inbox.secret, SOURCE)
    ids = [new_id() for _ in range(DELIVERIES)]

    async def deliver_all() -> list[Answer]:
        answers = asyncio.gather(
            *(deliver(http, inbox.stack, SOURCE, body_for(i), event_id=i, secret=secret) for i in ids)
        )
        return list(await answers)

    await asyncio.to_thread(inbox.stack.fault, "cosmos", "throttle")
    try:
        faults = await asyncio.to_thread(inbox.stack.faults)
        during = await deliver_all()
        listing = await list_events(http, inbox.stack, SOURCE)
    finally:
        await asyncio.to_thread(inbox.stack.clear_faults, "cosmos")
    between = await asyncio.to_thread(stored_ids, inbox, SOURCE)
    redelivered = await deliver_all()
    after = await asyncio.to_thread(stored_ids, inbox, SOURCE)

    expected = (503, PROBLEM, "urn:webhook-inbox:problem:dependency-unavailable", "cosmos", True)
    assert faults == {"cosmos": "throttle"}
    assert [cosmos_unavailable(a) for a in [*during, listing]] == [expected] * (DELIVERIES + 1), [
        str(a) for a in [*during, listing]
    ]
    # A create waits out two retry-afters (about 2 s), then the SDK gives up, well inside the deadline.
    assert all(1.0 < a.seconds < REQUEST_DEADLINE_SECONDS for a in during), [a.seconds for a in during]
    # A query nests the SDK's throttling retries (3 x 3 attempts, 1 s apart): the deadline ends it.
    assert listing.seconds < SENDER_DEADLINE_SECONDS, str(listing)
    blobs, records = between
    assert [(blobs.count(i), records.count(i)) for i in ids] == [(1, 0)] * DELIVERIES  # archived, not indexed
    assert [a.status for a in redelivered] == [202] * DELIVERIES, [str(a) for a in redelivered]
    blobs, records = after
    assert [(blobs.count(i), records.count(i)) for i in ids] == [(1, 1)] * DELIVERIES
