"""Retention end to end: the index forgets an event when infra/'s TTL says so.

infra/ gives the Cosmos DB container `defaultTtl = retentionDays * 86400` and the archive a lifecycle
rule of the same length. Days are too long for a test, so a copy of infra/ sets the TTL to seconds;
the local Cosmos DB expires items as Azure does (invisible at once, then removed). The archive keeps the
payload: the local Blob service does not run lifecycle rules (README, parity table).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo

from tests.infra.conftest import copy_infra, replace_text
from tests.integration.conftest import inbox_for

TTL_SECONDS = 2


@pytest.fixture(scope="module")
def short_retention(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> StackInfo:
    root = copy_infra(tmp_path_factory.mktemp("infra") / "infra")
    replace_text(root / "modules" / "cosmos.bicep", "defaultTtl: retentionDays * 86400", f"defaultTtl: {TTL_SECONDS}")
    return start_stack("--infra-dir", str(root))


def test_an_event_leaves_the_index_after_the_retention_and_can_be_stored_again(
    short_retention: StackInfo, tmp_path: Path
) -> None:
    inbox = inbox_for(short_retention)
    event_id = f"retained-{uuid.uuid4()}"
    body = b'{"kept": "for a while"}'
    assert inbox.deliver("github", body, event_id=event_id).status_code == 202
    assert inbox.get(f"webhooks/github/events/{event_id}").status_code == 200

    deadline = time.monotonic() + TTL_SECONDS + 5
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = inbox.get(f"webhooks/github/events/{event_id}").status_code
    assert status == 404, "the record outlived the container's defaultTtl"
    listed = inbox.get("webhooks/github/events").json()["items"]
    assert event_id not in {item["id"] for item in listed}
    # The archive still holds the payload (no lifecycle rule locally): a redelivery adopts it.
    assert inbox.deliver("github", body, event_id=event_id).status_code == 202
