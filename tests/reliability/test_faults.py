"""Outages of each dependency, gone or frozen: every answer comes within GitHub's 10 s, and retries converge.

For the token endpoint, Key Vault, Blob and Cosmos, each in two ways:
- gone: the proxy refuses its host (502 on CONNECT, open tunnels cut), as when the service is dead;
- frozen: its process is SIGSTOPped (Azurite, the Cosmos server), or the proxy holds its host (Key Vault,
  which runs inside the stack's process; the token endpoint holds its requests). Only the app's own
  timeouts and deadline end the wait;
plus the whole proxy frozen, Key Vault and Cosmos answering 500s, and Azurite and the Cosmos server
killed. While the dependency is down, deliveries (and list_events where it needs that dependency) must
be answered 503 `dependency-unavailable` naming it, with Retry-After, within 10 s as the sender
measures it. Once the fault clears, a redelivery of the same ids must converge to exactly one blob and
one index record, with no restart.

The outages run on two stacks of this module's own, so stopping processes never disturbs the
session's stack:
- "main" (secret cache TTL 300 s): a warm source never asks Key Vault, so a Key Vault outage (on a
  source with a cold cache) can run at the same time as a Blob outage. Independent cases run together;
- "cold", whose app has fetched no token when the token endpoint breaks (a cold credential), and whose
  2 s secret cache goes stale, to show that a warm cache outlives a Key Vault outage. The 500s and
  the killed processes run there too, last, to even out the two stacks' wall time.
Both stacks' sequences run concurrently in one module fixture (each frozen case costs the app's 8 s
deadline); each test then checks what its case saw.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
import pytest
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo

from tests.integration.conftest import inbox_for
from tests.integration.inbox_api import PROBLEM, Inbox, new_id
from tests.reliability.conftest import SENDER_DEADLINE_SECONDS, Answer, deliver, list_events, stored_ids

pytestmark = pytest.mark.stack

IDENTITY, KEY_VAULT, BLOB, COSMOS = "identity", "keyvault", "blob", "cosmos"
DELIVERIES_PER_CASE = 2
COLD_CACHE_SECONDS = 2


@dataclass(frozen=True)
class Outage:
    """How a case breaks its dependency, and mends it (synchronous: fault API calls and signals)."""

    begin: Callable[[Inbox], None]
    end: Callable[[Inbox], None]


def routed(target: str, mode: str) -> Outage:
    """The stack's fault control (devstack/faults.py): the proxy or the token endpoint refuses or freezes."""
    return Outage(lambda inbox: inbox.stack.fault(target, mode), lambda inbox: inbox.stack.clear_faults(target))


def stopped(child: str) -> Outage:
    return Outage(lambda inbox: inbox.stack.freeze_child(child), lambda inbox: inbox.stack.thaw_child(child))


def erroring(service: str, status: int) -> Outage:
    """The Key Vault or Cosmos fake answers every request with `status` until cleared."""
    return Outage(
        lambda inbox: inbox.fault(service, {"status": status, "count": None}),
        lambda inbox: inbox.fault(service, None),
    )


def killed(*children: str) -> Outage:
    def kill(inbox: Inbox) -> None:
        for child in children:
            inbox.stack.kill_child(child)

    return Outage(kill, lambda inbox: None)


@dataclass(frozen=True)
class Case:
    name: str  # also its webhook source, so no two cases share a secret cache entry or stored ids
    outage: Outage
    dependency: str  # what the deliveries' 503 must name
    listing: str | None  # what list_events' 503 must name; None: list_events must keep working
    warm: bool = True  # the source's secrets are cached before the outage, so Key Vault is not asked
    recovers: bool = True


# Groups run one after another on the main stack; the cases of a group run at the same time, so no two
# in a group may need what the other breaks.
MAIN_GROUPS: tuple[tuple[Case, ...], ...] = (
    (
        Case("keyvault-frozen", routed(KEY_VAULT, "freeze"), KEY_VAULT, None, warm=False),
        Case("blob-frozen", stopped("azurite-data"), BLOB, None),
    ),
    (
        Case("keyvault-gone", routed(KEY_VAULT, "refuse"), KEY_VAULT, None, warm=False),
        Case("blob-gone", routed(BLOB, "refuse"), BLOB, None),
    ),
    (Case("cosmos-frozen", stopped("cosmos"), COSMOS, COSMOS),),
    (Case("cosmos-gone", routed(COSMOS, "refuse"), COSMOS, COSMOS),),
    # Every host held at once: a warm delivery first waits on Blob, a query on Cosmos.
    (Case("proxy-frozen", routed("proxy", "freeze"), BLOB, COSMOS),),
)
# On the cold stack, in this order, before the app has fetched any token.
IDENTITY_GONE = Case("identity-gone", routed(IDENTITY, "refuse"), IDENTITY, IDENTITY, warm=False)
IDENTITY_FROZEN = Case("identity-frozen", routed(IDENTITY, "freeze"), IDENTITY, IDENTITY, warm=False)
# Then, one after another (the main stack is the busier one): services answering 500s, then killed
# processes, last, since nothing restarts them.
COLD_SEQUENCE = (
    Case("keyvault-500s", erroring(KEY_VAULT, 500), KEY_VAULT, None, warm=False),
    Case("cosmos-500s", erroring(COSMOS, 500), COSMOS, COSMOS),
    Case("processes-killed", killed("azurite-data", "cosmos"), BLOB, COSMOS, recovers=False),
)
# A warm but stale secret cache while Key Vault is down: deliveries must still be accepted.
WARM_CACHE_OUTAGES = {"gone": routed(KEY_VAULT, "refuse"), "frozen": routed(KEY_VAULT, "freeze")}

MAIN_CASES = tuple(case for group in MAIN_GROUPS for case in group)
OUTAGE_CASES = (*MAIN_CASES, IDENTITY_GONE, IDENTITY_FROZEN, *COLD_SEQUENCE)
RECOVERING_CASES = tuple(case for case in OUTAGE_CASES if case.recovers)
WARM_CACHE_SOURCES = {kind: f"warm-kv-{kind}" for kind in WARM_CACHE_OUTAGES}
COLD_SOURCES = (
    IDENTITY_GONE.name,
    IDENTITY_FROZEN.name,
    *(case.name for case in COLD_SEQUENCE),
    *WARM_CACHE_SOURCES.values(),
)


@dataclass
class Outcome:
    ids: list[str]
    deliveries: list[Answer]  # while the dependency was down
    listing: Answer
    between: tuple[list[str], list[str]] = ([], [])  # (blob ids, record ids) once cleared, before redelivery
    redeliveries: list[Answer] = field(default_factory=list)
    after: tuple[list[str], list[str]] = ([], [])  # the same, after redelivery


@dataclass
class Observed:
    outcomes: dict[str, Outcome]
    warm_cache: dict[str, Answer]
    app_tokens_before_identity_outages: int


def body_for(source: str, event_id: str) -> bytes:
    return json.dumps({"source": source, "id": event_id}).encode()


@dataclass
class Driver:
    """One stack's app, its sender and its developer's view."""

    inbox: Inbox
    http: aiohttp.ClientSession
    secrets: dict[str, str] = field(default_factory=dict)

    async def load_secrets(self, sources: Iterable[str]) -> None:
        names = list(sources)
        values = await asyncio.to_thread(lambda: [self.inbox.secret(source) for source in names])
        self.secrets.update(zip(names, values, strict=True))

    async def deliver(self, source: str, event_id: str) -> Answer:
        body = body_for(source, event_id)
        return await deliver(self.http, self.inbox.stack, source, body, event_id=event_id, secret=self.secrets[source])

    async def warm(self, sources: Iterable[str]) -> None:
        answers = await asyncio.gather(*(self.deliver(source, new_id()) for source in sources))
        if any(answer.status != 202 for answer in answers):
            raise RuntimeError(f"warming the secret caches failed: {[str(a) for a in answers]}")

    async def deliver_all(self, source: str, ids: Iterable[str]) -> list[Answer]:
        return list(await asyncio.gather(*(self.deliver(source, event_id) for event_id in ids)))

    async def during(self, outage: Outage, requests: Callable[[], Awaitable[list[Answer]]]) -> list[Answer]:
        """The requests' answers, sent once the outage has begun; it ends when they are all answered."""
        await asyncio.to_thread(outage.begin, self.inbox)
        try:
            return await requests()
        finally:
            await asyncio.to_thread(outage.end, self.inbox)

    async def outage(self, case: Case) -> Outcome:
        ids = [new_id() for _ in range(DELIVERIES_PER_CASE)]

        async def requests() -> list[Answer]:
            deliveries, listing = await asyncio.gather(
                self.deliver_all(case.name, ids), list_events(self.http, self.inbox.stack, case.name)
            )
            return [*deliveries, listing]

        *deliveries, listing = await self.during(case.outage, requests)
        return Outcome(ids, deliveries, listing)

    async def recover(self, case: Case, outcome: Outcome) -> None:
        outcome.between = await asyncio.to_thread(stored_ids, self.inbox, case.name)
        outcome.redeliveries = await self.deliver_all(case.name, outcome.ids)
        outcome.after = await asyncio.to_thread(stored_ids, self.inbox, case.name)


async def run_main(driver: Driver) -> dict[str, Outcome]:
    await driver.load_secrets(case.name for case in MAIN_CASES)
    await driver.warm(case.name for case in MAIN_CASES if case.warm)
    outcomes: dict[str, Outcome] = {}
    for group in MAIN_GROUPS:
        seen = await asyncio.gather(*(driver.outage(case) for case in group))
        await asyncio.gather(*(driver.recover(case, outcome) for case, outcome in zip(group, seen, strict=True)))
        outcomes.update((case.name, outcome) for case, outcome in zip(group, seen, strict=True))
    return outcomes


async def run_cold(driver: Driver) -> tuple[dict[str, Outcome], dict[str, Answer], int]:
    await driver.load_secrets(COLD_SOURCES)  # as the developer: the app has still asked for nothing
    app = driver.inbox.stack.client_id("app")
    tokens_before = sum(n for (client, _), n in driver.inbox.stack.token_counts().items() if client == app)
    # Gone, then frozen, on the same cold credential: a failed token request caches nothing.
    gone = await driver.outage(IDENTITY_GONE)
    frozen = await driver.outage(IDENTITY_FROZEN)
    await asyncio.gather(
        driver.recover(IDENTITY_GONE, gone),
        driver.recover(IDENTITY_FROZEN, frozen),
        driver.warm([*(case.name for case in COLD_SEQUENCE if case.warm), *WARM_CACHE_SOURCES.values()]),
    )
    await asyncio.sleep(COLD_CACHE_SECONDS + 0.5)  # the warm entries are now stale: a delivery refreshes them
    warm_cache: dict[str, Answer] = {}
    for kind, outage in WARM_CACHE_OUTAGES.items():
        delivery = functools.partial(driver.deliver_all, WARM_CACHE_SOURCES[kind], [new_id()])
        [warm_cache[kind]] = await driver.during(outage, delivery)
    outcomes = {IDENTITY_GONE.name: gone, IDENTITY_FROZEN.name: frozen}
    for case in COLD_SEQUENCE:
        outcomes[case.name] = await driver.outage(case)
        if case.recovers:
            await driver.recover(case, outcomes[case.name])
    return outcomes, warm_cache, tokens_before


def stack_args(sources: Iterable[str], cache_seconds: int) -> list[str]:
    return ["--env", f"WEBHOOK_SOURCES={','.join(sources)}", "--setting", f"SECRET_CACHE_SECONDS={cache_seconds}"]


@pytest.fixture(scope="module")
def stacks(start_stack: StartStack) -> tuple[StackInfo, StackInfo]:
    """(main, cold), started side by side."""
    with ThreadPoolExecutor(2) as pool:
        main = pool.submit(start_stack, *stack_args((c.name for c in MAIN_CASES), 300))
        cold = pool.submit(start_stack, *stack_args(COLD_SOURCES, COLD_CACHE_SECONDS))
        return main.result(), cold.result()


@pytest.fixture(scope="module")
async def observed(stacks: tuple[StackInfo, StackInfo]) -> Observed:
    main, cold = stacks
    async with aiohttp.ClientSession() as http:
        main_outcomes, (cold_outcomes, warm_cache, tokens_before) = await asyncio.gather(
            run_main(Driver(inbox_for(main), http)), run_cold(Driver(inbox_for(cold), http))
        )
    return Observed({**main_outcomes, **cold_outcomes}, warm_cache, tokens_before)


def verdict(answer: Answer) -> tuple[object, ...]:
    """What the contract fixes about a 503 for a failed dependency, in one comparable tuple."""
    is_problem = answer.headers.get("Content-Type", "").startswith(PROBLEM)
    body = answer.body if is_problem and isinstance(answer.body, dict) else {}
    retry_after = answer.headers.get("Retry-After", "")
    return (
        answer.status,
        body.get("type"),
        body.get("dependency"),
        retry_after.isdigit() and int(retry_after) > 0,
        answer.seconds < SENDER_DEADLINE_SECONDS,
    )


def unavailable(dependency: str) -> tuple[object, ...]:
    return (503, "urn:webhook-inbox:problem:dependency-unavailable", dependency, True, True)


def described(answers: Iterable[Answer]) -> str:
    return "\n".join(str(answer) for answer in answers)


@pytest.mark.parametrize("case", OUTAGE_CASES, ids=lambda case: case.name)
def test_deliveries_during_an_outage_get_503_naming_the_dependency_within_10_s(observed: Observed, case: Case) -> None:
    deliveries = observed.outcomes[case.name].deliveries
    assert [verdict(a) for a in deliveries] == [unavailable(case.dependency)] * len(deliveries), described(deliveries)


@pytest.mark.parametrize("case", OUTAGE_CASES, ids=lambda case: case.name)
def test_list_events_during_an_outage_fails_fast_only_if_it_needs_the_dependency(
    observed: Observed, case: Case
) -> None:
    listing = observed.outcomes[case.name].listing
    if case.listing is None:
        assert (listing.status, listing.seconds < SENDER_DEADLINE_SECONDS) == (200, True), str(listing)
    else:
        assert verdict(listing) == unavailable(case.listing), str(listing)


@pytest.mark.parametrize("case", RECOVERING_CASES, ids=lambda case: case.name)
def test_redelivery_after_the_outage_converges_to_one_blob_and_one_record(observed: Observed, case: Case) -> None:
    outcome = observed.outcomes[case.name]
    assert [a.status in (200, 202) for a in outcome.redeliveries] == [True] * len(outcome.ids), described(
        outcome.redeliveries
    )
    blobs, records = outcome.after
    assert [(blobs.count(i), records.count(i)) for i in outcome.ids] == [(1, 1)] * len(outcome.ids)
    assert len(set(blobs)) == len(blobs)
    assert len(set(records)) == len(records)


@pytest.mark.parametrize(
    "case", [c for c in OUTAGE_CASES if c.name in ("cosmos-gone", "cosmos-500s")], ids=lambda case: case.name
)
def test_index_outage_after_the_blob_landed_leaves_an_orphan_that_the_redelivery_adopts(
    observed: Observed, case: Case
) -> None:
    outcome = observed.outcomes[case.name]
    blobs, records = outcome.between
    assert [(blobs.count(i), records.count(i)) for i in outcome.ids] == [(1, 0)] * len(outcome.ids)  # archived only
    assert [a.status for a in outcome.redeliveries] == [202] * len(outcome.ids), described(outcome.redeliveries)
    blobs, records = outcome.after
    assert [(blobs.count(i), records.count(i)) for i in outcome.ids] == [(1, 1)] * len(outcome.ids)


def test_identity_outages_start_from_a_cold_credential(observed: Observed) -> None:
    # Otherwise the identity cases would test a cached token, not the token endpoint.
    assert observed.app_tokens_before_identity_outages == 0


@pytest.mark.parametrize("kind", WARM_CACHE_OUTAGES)
def test_key_vault_down_with_a_warm_secret_cache_still_accepts_deliveries(observed: Observed, kind: str) -> None:
    answer = observed.warm_cache[kind]
    assert (answer.status, answer.seconds < SENDER_DEADLINE_SECONDS) == (202, True), str(answer)
