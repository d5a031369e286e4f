"""Signing secrets: rotation, disabled versions, the refresh cooldown and Key Vault outages.

The session's stack runs the app with SECRET_CACHE_SECONDS=2 (tests/conftest.py), and each test owns
its webhook source, so cache state never leaks between tests.
"""

from __future__ import annotations

import secrets
import time

from frame.clients import RETRY_TOTAL
from tests.conftest import SECRET_CACHE_SECONDS, SOURCE_WITHOUT_SECRET
from tests.integration.inbox_api import Inbox, assert_problem, new_id

BODY = b'{"rotation": true}'


def rotate(inbox: Inbox, source: str) -> tuple[str, str]:
    """Adds a new version; returns (new value, new version id)."""
    value = secrets.token_urlsafe(32)
    secret = inbox.vault.set_secret(f"webhook-{source}", value)
    assert secret.properties.version
    return value, secret.properties.version


def test_new_version_is_used_at_once_and_the_previous_keeps_working(inbox: Inbox) -> None:
    previous = inbox.secret("rotation")
    assert inbox.deliver("rotation", BODY, event_id=new_id(), secret=previous).status_code == 202  # warm the cache

    current, _ = rotate(inbox, "rotation")

    # A mismatch refreshes the cache immediately (first one for this source: no cooldown yet).
    assert inbox.deliver("rotation", BODY, event_id=new_id(), secret=current).status_code == 202
    assert inbox.deliver("rotation", BODY, event_id=new_id(), secret=previous).status_code == 202


def test_only_the_two_newest_versions_are_accepted(inbox: Inbox) -> None:
    oldest = inbox.secret("rotation")
    time.sleep(1.1)  # Key Vault timestamps have one-second resolution; keep the versions apart
    previous, _ = rotate(inbox, "rotation")
    time.sleep(1.1)
    newest, _ = rotate(inbox, "rotation")
    time.sleep(SECRET_CACHE_SECONDS + 0.5)
    assert inbox.deliver("rotation", BODY, event_id=new_id(), secret=newest).status_code == 202
    assert inbox.deliver("rotation", BODY, event_id=new_id(), secret=previous).status_code == 202
    assert_problem(inbox.deliver("rotation", BODY, event_id=new_id(), secret=oldest), 401, "invalid-signature")


def test_disabled_version_is_refused_after_the_cache_ttl(inbox: Inbox) -> None:
    previous = inbox.secret("disabled")
    current, version = rotate(inbox, "disabled")
    assert inbox.deliver("disabled", BODY, event_id=new_id(), secret=current).status_code == 202

    inbox.vault.update_secret_properties("webhook-disabled", version, enabled=False)
    time.sleep(SECRET_CACHE_SECONDS + 0.5)

    refused = inbox.deliver("disabled", BODY, event_id=new_id(), secret=current)
    assert_problem(refused, 401, "invalid-signature")
    assert inbox.deliver("disabled", BODY, event_id=new_id(), secret=previous).status_code == 202


def test_bad_signatures_refresh_at_most_once_per_cooldown(inbox: Inbox) -> None:
    assert inbox.deliver("cooldown", BODY, event_id=new_id()).status_code == 202  # warm, within TTL
    before = inbox.stack.keyvault_counts()
    for _ in range(20):
        response = inbox.deliver("cooldown", BODY, event_id=new_id(), secret="forged")
        assert response.status_code == 401
    after = inbox.stack.keyvault_counts()
    # One forced refresh lists the versions once; the cache TTL (2 s) may add one more listing at most.
    listings = after.get("getSecretVersions", 0) - before.get("getSecretVersions", 0)
    assert 1 <= listings <= 2


def test_warm_cache_keeps_ingest_working_while_key_vault_is_down(inbox: Inbox) -> None:
    assert inbox.deliver("outage", BODY, event_id=new_id()).status_code == 202
    secret = inbox.secret("outage")
    inbox.fault("keyvault", {"status": 503, "count": None})
    try:
        time.sleep(SECRET_CACHE_SECONDS + 0.5)  # the cached entry is now stale and its refresh fails
        response = inbox.deliver("outage", BODY, event_id=new_id(), secret=secret)
    finally:
        inbox.fault("keyvault", None)
    assert response.status_code == 202


def test_cold_cache_answers_503_while_key_vault_is_down(inbox: Inbox) -> None:
    secret = inbox.secret("cold")
    before = inbox.stack.keyvault_counts()
    inbox.fault("keyvault", {"status": 503, "count": None})
    try:
        response = inbox.deliver("cold", BODY, event_id=new_id(), secret=secret)
    finally:
        inbox.fault("keyvault", None)
    body = assert_problem(response, 503, "dependency-unavailable")
    assert body["dependency"] == "keyvault"
    assert int(response.headers["Retry-After"]) > 0
    # The app's retry budget, not the SDK default: one attempt plus RETRY_TOTAL retries, then it gives up.
    attempts = inbox.stack.keyvault_counts()["getSecretVersions"] - before["getSecretVersions"]
    assert attempts == 1 + RETRY_TOTAL
    assert inbox.deliver("cold", BODY, event_id=new_id(), secret=secret).status_code == 202  # recovers


def test_source_without_a_secret_is_503_and_key_vault_is_not_asked_per_request(inbox: Inbox) -> None:
    first = inbox.deliver(SOURCE_WITHOUT_SECRET, BODY, event_id=new_id(), secret="anything")
    body = assert_problem(first, 503, "source-not-configured")
    assert "webhook-unset" in body["detail"]
    assert int(first.headers["Retry-After"]) > 0
    before = inbox.stack.keyvault_counts()
    again = inbox.deliver(SOURCE_WITHOUT_SECRET, BODY, event_id=new_id(), secret="anything")
    assert_problem(again, 503, "source-not-configured")
    assert inbox.stack.keyvault_counts() == before
