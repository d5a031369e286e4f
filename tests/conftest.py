"""Settings for the session's local stack: one webhook source per behaviour under test, so tests that
rotate secrets or break dependencies never see each other's state, and a short secret-cache TTL so
rotation is observable in seconds."""

from __future__ import annotations

import pytest

TEST_SOURCES = (
    "github",
    "demo",
    "rotation",
    "disabled",
    "outage",
    "cold",
    "cooldown",
    "burst",
    "partial",
    "listing",
    "digest",
    "logs",
)
SECRET_CACHE_SECONDS = 2


@pytest.fixture(scope="session")
def devstack_args() -> list[str]:
    return ["--sources", ",".join(TEST_SOURCES), "--setting", f"SECRET_CACHE_SECONDS={SECRET_CACHE_SECONDS}"]
