"""The daily digest timer, run through the host's admin API as an operator would."""

from __future__ import annotations

import datetime
import json
from typing import Any

from tests.integration.inbox_api import Inbox, new_id

SOURCE = "digest"
MARKER = b'{"written": "by an earlier run"}'


def seed_event(inbox: Inbox, day: datetime.date, hour: int, event_type: str) -> None:
    """An index record as the app writes it, received on an earlier day."""
    received = datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)
    event_id = new_id()
    inbox.index.create_item(
        {
            "id": event_id,
            "source": SOURCE,
            "type": event_type,
            "receivedAt": received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "size": 2,
            "sha256": "0" * 64,
            "contentType": "application/json",
            "blob": f"{SOURCE}/{event_id}",
        }
    )


def read_digest(inbox: Inbox, day: datetime.date) -> bytes:
    return inbox.container("digests").get_blob_client(f"{day.isoformat()}.json").download_blob().readall()


def test_digest_counts_yesterday_and_catches_up_missing_days(inbox: Inbox) -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    day = {n: today - datetime.timedelta(days=n) for n in range(1, 8)}
    for hour, event_type in ((0, "push"), (12, "push"), (23, "ping")):
        seed_event(inbox, day[1], hour, event_type)
    seed_event(inbox, day[3], 9, "release")
    seed_event(inbox, today, 0, "push")  # today's events belong to tomorrow's digest
    inbox.container("digests").upload_blob(f"{day[2].isoformat()}.json", MARKER, overwrite=True)

    assert inbox.run_timer("daily_digest").status_code == 200

    yesterday: dict[str, Any] = json.loads(read_digest(inbox, day[1]))
    assert yesterday["date"] == day[1].isoformat()
    assert yesterday["sources"][SOURCE] == {"total": 3, "byType": {"ping": 1, "push": 2}}
    assert json.loads(read_digest(inbox, day[3]))["sources"][SOURCE] == {"total": 1, "byType": {"release": 1}}
    assert read_digest(inbox, day[2]) == MARKER  # present: not rewritten
    for n in (4, 5, 6, 7):
        assert json.loads(read_digest(inbox, day[n]))["sources"][SOURCE]["total"] == 0  # missing: written


def test_rerunning_the_digest_writes_identical_content(inbox: Inbox) -> None:
    yesterday = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)
    assert inbox.run_timer("daily_digest").status_code == 200
    first = read_digest(inbox, yesterday)
    assert inbox.run_timer("daily_digest").status_code == 200
    assert read_digest(inbox, yesterday) == first


def test_timer_admin_api_needs_the_master_key(inbox: Inbox) -> None:
    url = f"{inbox.stack.env.host_url}/admin/functions/daily_digest"
    response = inbox.http.post(url, json={}, headers={"x-functions-key": inbox.stack.env.function_key}, timeout=10)
    assert response.status_code == 401
