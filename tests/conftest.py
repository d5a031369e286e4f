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
    "fuzz",
    "load",
    "rotation-load",
)
SECRET_CACHE_SECONDS = 2
# Configured in the app but with no secret in Key Vault, like a source added before its secret is set.
SOURCE_WITHOUT_SECRET = "unset"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deep",
        action="store_true",
        help="fuzz the HTTP API with ten times as many cases (tests/reliability/test_api_contract.py)",
    )


@pytest.fixture(scope="session")
def devstack_args() -> list[str]:
    return [
        *("--env", f"WEBHOOK_SOURCES={','.join((*TEST_SOURCES, SOURCE_WITHOUT_SECRET))}"),
        *("--unseeded", SOURCE_WITHOUT_SECRET),
        *("--setting", f"SECRET_CACHE_SECONDS={SECRET_CACHE_SECONDS}"),
    ]
