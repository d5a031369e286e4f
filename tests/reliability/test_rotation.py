"""Rotating a source's secret while deliveries keep coming, as the README's three steps describe.

Two groups of senders deliver without pause to the source `rotation-load` (this module's own,
tests/conftest.py), on the session's stack, whose secret cache lives SECRET_CACHE_SECONDS (2 s):
- "new" senders sign with the newest version: the seeded one, then the one set mid-run (as GitHub
  does once the operator changes the webhook's secret);
- "previous" senders keep signing with the seeded version throughout.
The new version is set through the developer identity's SecretClient, and a few seconds later the
seeded version is disabled. Until it is disabled, no sender may see a 401: the newest and the previous
version are both accepted, and a signature made with a version the cache has not seen yet forces a
reload. Once disabled, the seeded version must be refused within the cache TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest
from devstack.testing import StackInfo

from tests.conftest import SECRET_CACHE_SECONDS
from tests.integration.inbox_api import Inbox, new_id
from tests.reliability.conftest import Answer, deliver
from webhooks.signing import secret_name

pytestmark = pytest.mark.stack

SOURCE = "rotation-load"
SENDERS_PER_GROUP = 8
ROTATE_AFTER_SECONDS = 1.0
DISABLE_AFTER_SECONDS = 3.0  # after the new version is set
# After disabling: a reload that listed the versions just before, and a delivery already being verified.
REFUSAL_SLACK_SECONDS = 1.0
RUN_AFTER_DISABLE_SECONDS = SECRET_CACHE_SECONDS + REFUSAL_SLACK_SECONDS + 1.5
BODY = b'{"rotation": "under load"}'


@dataclass(frozen=True)
class Sent:
    group: str  # "new" or "previous"
    version: str  # "seeded" or "rotated": the version it was signed with
    started: float
    answer: Answer


@dataclass
class Rotation:
    """The run: what each sender sent and saw, and when the operator's steps began and ended."""

    sent: list[Sent] = field(default_factory=list)
    rotated: float = 0.0
    disabling: float = 0.0
    disabled: float = 0.0

    def signed_with(self, version: str) -> list[Sent]:
        return [s for s in self.sent if s.version == version]


async def rotate_under_load(http: aiohttp.ClientSession, stack: StackInfo, inbox: Inbox) -> Rotation:
    name = secret_name(SOURCE)
    seeded = await asyncio.to_thread(inbox.vault.get_secret, name)
    assert seeded.value
    assert seeded.properties.version
    signing = {"new": ("seeded", seeded.value), "previous": ("seeded", seeded.value)}
    rotation, stop = Rotation(), asyncio.Event()

    async def sender(group: str) -> None:
        while not stop.is_set():
            version, secret = signing[group]  # read per delivery: "new" senders switch when told
            started = time.monotonic()
            answer = await deliver(http, stack, SOURCE, BODY, event_id=new_id(), secret=secret)
            rotation.sent.append(Sent(group, version, started, answer))

    senders = [asyncio.create_task(sender(group)) for group in signing for _ in range(SENDERS_PER_GROUP)]
    try:
        await asyncio.sleep(ROTATE_AFTER_SECONDS)
        rotated = await asyncio.to_thread(inbox.vault.set_secret, name, new_id())
        assert rotated.value
        rotation.rotated = time.monotonic()
        signing["new"] = ("rotated", rotated.value)
        await asyncio.sleep(DISABLE_AFTER_SECONDS)
        rotation.disabling = time.monotonic()
        await asyncio.to_thread(inbox.vault.update_secret_properties, name, seeded.properties.version, enabled=False)
        rotation.disabled = time.monotonic()
        await asyncio.sleep(RUN_AFTER_DISABLE_SECONDS)
    finally:
        stop.set()
        await asyncio.gather(*senders)
    return rotation


@pytest.fixture(scope="module")
async def rotation(devstack: StackInfo, inbox: Inbox) -> Rotation:
    async with aiohttp.ClientSession() as http:
        return await rotate_under_load(http, devstack, inbox)


def described(wrong: list[Sent], of: list[Sent], since: float, step: str) -> str:
    """How many went wrong, and when, counted from the operator's step."""
    if not wrong:
        return ""
    offsets = sorted(s.started - since for s in wrong)
    first = wrong[0]
    return (
        f"{len(wrong)} of {len(of)}, sent between {offsets[0]:+.2f} s and {offsets[-1]:+.2f} s after {step}; "
        f"first: {first.group} sender, {first.answer}"
    )


def test_no_delivery_during_rotation_is_answered_5xx_or_left_unanswered(rotation: Rotation) -> None:
    statuses = Counter(s.answer.status for s in rotation.sent)
    assert set(statuses) <= {202, 401}, statuses


def test_senders_with_the_new_secret_see_no_401_from_the_moment_it_is_set(rotation: Rotation) -> None:
    with_new = rotation.signed_with("rotated")
    refused = [s for s in with_new if s.answer.status != 202]
    assert with_new, "no delivery was signed with the new version"
    assert refused == [], described(refused, with_new, rotation.rotated, "the new version was set")


def test_senders_with_the_previous_secret_see_no_401_until_it_is_disabled(rotation: Rotation) -> None:
    before_disabling = [s for s in rotation.signed_with("seeded") if s.started + s.answer.seconds < rotation.disabling]
    after_rotation = [s for s in before_disabling if s.started > rotation.rotated]
    refused = [s for s in before_disabling if s.answer.status != 202]
    assert after_rotation, "no delivery was signed with the previous version once the new one was set"
    assert refused == [], described(refused, before_disabling, rotation.rotated, "the new version was set")


def test_disabled_version_is_refused_within_the_cache_ttl(rotation: Rotation) -> None:
    refused_by = rotation.disabled + SECRET_CACHE_SECONDS + REFUSAL_SLACK_SECONDS
    late = [s for s in rotation.signed_with("seeded") if s.started > refused_by]
    accepted = [s for s in late if s.answer.status != 401]
    assert late, "no delivery was signed with the disabled version after the cache TTL"
    assert accepted == [], described(accepted, late, rotation.disabled, "the old version was disabled")
