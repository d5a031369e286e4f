"""What the reliability tests share: senders that time every answer as the sender sees it, and stores to check.

Deliveries go through aiohttp, many at once, as GitHub's senders would send them. Each answer records
how long the sender waited, since GitHub gives up on a delivery at 10 s (FIELD-NOTES) and only an
answer within that time counts. What ended up stored is checked as the developer identity
(tests/integration/inbox_api.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from devstack.testing import StackInfo

from tests.integration.conftest import inbox_for
from tests.integration.inbox_api import PROBLEM, Inbox
from webhooks.signing import SIGNATURE_HEADER, sign

# GitHub stops waiting for a webhook's answer after 10 s; an answer after that is never seen.
SENDER_DEADLINE_SECONDS = 10.0
# The test's own sender waits a little longer, so an answer that comes too late is still measured.
SENDER_GIVES_UP_SECONDS = 15.0


@dataclass(frozen=True)
class Answer:
    """One answer as a sender saw it; status None means none came (`error` says what happened instead)."""

    status: int | None
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: str | None = None

    def __str__(self) -> str:
        if self.status is None:
            return f"no answer after {self.seconds:.1f} s ({self.error})"
        return f"{self.status} after {self.seconds:.2f} s: {json.dumps(self.body)[:300]}"


async def send(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Answer:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=SENDER_GIVES_UP_SECONDS)
    try:
        async with http.request(method, url, timeout=timeout, **kwargs) as response:
            text = await response.text()
            seconds = time.monotonic() - started
            is_json = response.content_type in ("application/json", PROBLEM)
            body = json.loads(text) if is_json and text else text
            return Answer(response.status, seconds, dict(response.headers), body)
    except (TimeoutError, aiohttp.ClientError) as error:
        return Answer(None, time.monotonic() - started, error=f"{type(error).__name__}: {error}")


async def deliver(
    http: aiohttp.ClientSession,
    stack: StackInfo,
    source: str,
    body: bytes,
    *,
    event_id: str,
    secret: str,
    event_type: str = "push",
) -> Answer:
    """POST a delivery signed with `secret`, as GitHub sends it."""
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event_type,
        "X-GitHub-Delivery": event_id,
        SIGNATURE_HEADER: sign(secret, body),
    }
    return await send(http, "POST", f"{stack.env.host_url}/api/webhooks/{source}", data=body, headers=headers)


async def list_events(http: aiohttp.ClientSession, stack: StackInfo, source: str) -> Answer:
    headers = {"x-functions-key": stack.env.function_key}
    return await send(http, "GET", f"{stack.env.host_url}/api/webhooks/{source}/events", headers=headers)


def stored_ids(inbox: Inbox, source: str) -> tuple[list[str], list[str]]:
    """Every delivery id in the archive and in the index for `source`, duplicates kept."""
    blobs = [name.removeprefix(f"{source}/") for name in inbox.blobs(f"{source}/")]
    query = "SELECT VALUE c.id FROM c WHERE c.source = @s"
    records = list(inbox.index.query_items(query, parameters=[{"name": "@s", "value": source}], partition_key=source))
    return blobs, [str(record) for record in records]


@pytest.fixture(scope="module")
def inbox(devstack: StackInfo) -> Inbox:
    """The session's stack, seen as its developer."""
    return inbox_for(devstack)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # Loopback to the function host: no proxy from the environment, a pool as wide as the widest test.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as session:
        yield session
