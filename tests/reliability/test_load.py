"""2,000 deliveries, 64 at a time, through the local host: redeliveries, forgeries and conflicts mixed in.

The mix is what a busy sender produces: 20 % redeliveries (same id, same body; some race the
original), 5 % forgeries (a signature made with another secret) and 2 % the same id with another body
(sent once the original was answered, so which body is the original is never in doubt). No answer
may be a 5xx; each id is created exactly once; afterwards the archive and the index of the source
`load` (this module's own, tests/conftest.py) hold exactly the accepted ids, one blob and one record
each.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest
from devstack.testing import StackInfo

from tests.integration.inbox_api import Inbox
from tests.reliability.conftest import Answer, deliver, stored_ids

pytestmark = pytest.mark.stack

SOURCE = "load"
DELIVERIES = 2000
CONCURRENCY = 64
SHARES = {"redelivery": 0.20, "forgery": 0.05, "conflict": 0.02}  # the rest are new deliveries
EXPECTED = {"forgery": 401, "conflict": 409}


@dataclass(frozen=True)
class Send:
    kind: str  # "new", "redelivery", "forgery" or "conflict"
    event_id: str
    body: bytes


def plan(rng: random.Random) -> list[Send]:
    """The deliveries in sending order; a redelivery or conflict always comes after its original."""
    counts = {kind: round(DELIVERIES * share) for kind, share in SHARES.items()}
    kinds = ["new"] * (DELIVERIES - sum(counts.values())) + [k for k, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    kinds.insert(0, kinds.pop(kinds.index("new")))  # something to redeliver from the start
    sends: list[Send] = []
    originals: list[Send] = []
    for n, kind in enumerate(kinds):
        if kind in ("redelivery", "conflict"):
            original = rng.choice(originals)
            body = original.body if kind == "redelivery" else original.body + b" (edited)"
            sends.append(Send(kind, original.event_id, body))
        else:
            send = Send(kind, f"load-{n:05d}", json.dumps({"n": n, "pad": "x" * rng.randrange(512)}).encode())
            sends.append(send)
            if kind == "new":
                originals.append(send)
    return sends


@dataclass(frozen=True)
class Run:
    sends: list[Send]
    answers: list[Answer]

    def of(self, kind: str) -> Iterator[tuple[Send, Answer]]:
        return ((s, a) for s, a in zip(self.sends, self.answers, strict=True) if s.kind == kind)

    def accepted(self) -> set[str]:
        return {s.event_id for s, a in zip(self.sends, self.answers, strict=True) if a.status in (200, 202)}


async def send_all(http: aiohttp.ClientSession, stack: StackInfo, secret: str, sends: list[Send]) -> list[Answer]:
    answers: list[Answer | None] = [None] * len(sends)
    answered: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)  # id -> its original was answered
    queue = iter(enumerate(sends))

    async def worker() -> None:
        for n, send in queue:  # one shared iterator: each worker takes the next send
            if send.kind == "conflict":
                await answered[send.event_id].wait()  # its original went out earlier, to another worker
            key = secret if send.kind != "forgery" else "forged-" + secret
            answers[n] = await deliver(http, stack, SOURCE, send.body, event_id=send.event_id, secret=key)
            if send.kind == "new":
                answered[send.event_id].set()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return [answer for answer in answers if answer is not None]


@pytest.fixture(scope="module")
async def run(devstack: StackInfo, inbox: Inbox) -> Run:
    sends = plan(random.Random(8))  # noqa: S311 - a reproducible mix, not a secret
    secret = await asyncio.to_thread(inbox.secret, SOURCE)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        answers = await send_all(http, devstack, secret, sends)
    assert len(answers) == len(sends)
    return Run(sends, answers)


def test_no_delivery_under_load_is_answered_5xx_or_left_unanswered(run: Run) -> None:
    failed = [str(a) for a in run.answers if a.status is None or a.status >= 500]
    assert failed == [], f"{len(failed)} of {len(run.answers)}: {failed[:5]}"


@pytest.mark.parametrize("kind", EXPECTED)
def test_forgeries_and_conflicting_bodies_are_refused_under_load(run: Run, kind: str) -> None:
    statuses = Counter(a.status for _, a in run.of(kind))
    assert statuses == {EXPECTED[kind]: round(DELIVERIES * SHARES[kind])}


def test_each_id_is_created_once_and_every_repeat_gets_the_stored_record(run: Run) -> None:
    statuses: dict[str, list[int | None]] = defaultdict(list)
    records: dict[str, set[str]] = defaultdict(set)
    for kind in ("new", "redelivery"):
        for send, answer in run.of(kind):
            statuses[send.event_id].append(answer.status)
            records[send.event_id].add(json.dumps(answer.body, sort_keys=True))
    wrong = {i: s for i, s in statuses.items() if sorted(s, key=str) != [200] * (len(s) - 1) + [202]}
    assert wrong == {}
    assert [i for i, bodies in records.items() if len(bodies) != 1] == []  # one record, whoever answered


def test_archive_and_index_hold_exactly_the_accepted_ids_once_each(run: Run, inbox: Inbox) -> None:
    blobs, records = stored_ids(inbox, SOURCE)
    accepted = run.accepted()
    assert len(accepted) == DELIVERIES - sum(round(DELIVERIES * share) for share in SHARES.values())
    assert (len(blobs), set(blobs)) == (len(accepted), accepted)
    assert (len(records), set(records)) == (len(accepted), accepted)
