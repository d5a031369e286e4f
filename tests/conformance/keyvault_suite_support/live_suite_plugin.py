"""A pytest plugin for running Microsoft's azure-keyvault-secrets suite live against the local vault
(loaded with `-p live_suite_plugin` by tests/conformance/suite_run.py).

It does what azure-sdk-for-python's root conftest does for the suite, which is not in the sdist:
registers the `live_test_only` and `playback_test_only` markers and skips the latter when live.

And it shortens waits. Live, the suite waits out Azure's eventual consistency: 60 s between purging a
secret and restoring its backup in the samples, 3 s between polls of an operation that is not done
yet. The local vault is consistent at once, so every sleep in the suite's process is cut to at most
`LONGEST_SLEEP_SECONDS`, which still covers the one wait that matters locally: the suite's crud
tests sleep 1 s between writing and updating a secret so that the two timestamps (whole seconds)
differ.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, SupportsIndex

import pytest
from devtools_testutils import is_live  # type: ignore[import-not-found]  # the stand-in, on the suite's path

LONGEST_SLEEP_SECONDS = 1.0

_sleep = time.sleep
_async_sleep = asyncio.sleep


def _short_sleep(seconds: float | SupportsIndex) -> None:
    _sleep(min(float(seconds), LONGEST_SLEEP_SECONDS))


async def _short_async_sleep(delay: float, result: Any = None) -> Any:
    return await _async_sleep(min(delay, LONGEST_SLEEP_SECONDS), result)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live_test_only: runs only against a live service")
    config.addinivalue_line("markers", "playback_test_only: runs only from recordings")
    time.sleep = _short_sleep
    asyncio.sleep = _short_async_sleep


def pytest_runtest_setup(item: pytest.Item) -> None:
    if is_live() and item.get_closest_marker("playback_test_only"):
        pytest.skip("playback test only")
    if not is_live() and item.get_closest_marker("live_test_only"):
        pytest.skip("live test only")


def pytest_unconfigure(config: pytest.Config) -> None:
    time.sleep = _sleep
    asyncio.sleep = _async_sleep
