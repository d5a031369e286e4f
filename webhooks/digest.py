"""Blueprint: the daily digest timer.

At 00:05 UTC it counts the previous UTC day's events per source and type and writes
`digests/<yyyy-mm-dd>.json` in the data account. Rerunning rewrites identical content. Days of the
last week that have no digest (the app was down at 00:05) are written too; a day whose events have
already expired from the index (Cosmos TTL) is written with what remains. Where and how digests are
stored is webhooks/store.py's.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Sequence
from typing import Any

import azure.functions as func

from webhooks.settings import get_webhook_settings
from webhooks.store import DigestArchive, EventFilter, EventStore, get_digest_archive, get_event_store, utc_timestamp

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions lacks annotations here

SCHEDULE = "0 5 0 * * *"  # every day at 00:05 UTC (Functions uses six-field NCRONTAB, in UTC)
CATCH_UP_DAYS = 7


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)
async def daily_digest(timer: func.TimerRequest) -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    sources = get_webhook_settings().sources
    written = await write_digests(get_event_store(), get_digest_archive(), sources, today)
    log.info(
        "wrote %d digest(s)",
        len(written),
        extra={"days": [d.isoformat() for d in written], "pastDue": timer.past_due},
    )


async def write_digests(
    store: EventStore, digests: DigestArchive, sources: Sequence[str], today: datetime.date
) -> list[datetime.date]:
    """Yesterday's digest always; earlier days of the last week only where one is missing."""
    yesterday = today - datetime.timedelta(days=1)
    earlier = [today - datetime.timedelta(days=n) for n in range(2, CATCH_UP_DAYS + 1)]
    present = await asyncio.gather(*(digests.exists(day) for day in earlier))
    days = [yesterday] + [day for day, found in zip(earlier, present, strict=True) if not found]
    for day in days:
        await digests.write(day, await build_digest(store, sources, day))
    return days


async def build_digest(store: EventStore, sources: Sequence[str], day: datetime.date) -> dict[str, Any]:
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    window = {"since": utc_timestamp(start), "until": utc_timestamp(start + datetime.timedelta(days=1))}
    per_source: dict[str, Any] = {}
    for source in sources:
        counts = await store.count_types(EventFilter(source=source, **window))
        per_source[source] = {"total": sum(counts.values()), "byType": dict(sorted(counts.items()))}
    return {"date": day.isoformat(), "window": window, "sources": per_source}
