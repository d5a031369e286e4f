"""A stand-in for Microsoft's `devtools_testutils` (azure-sdk-for-python, eng/tools/azure-sdk-tools),
which is not on PyPI: what azure-keyvault-secrets' tests (and azure-cosmos' test_config.py, through
`helpers` and `azure_recorded_testcase`) import from it, for its live path without
recording only (AZURE_TEST_RUN_LIVE=true, AZURE_SKIP_LIVE_RECORDING=true).

On that path Microsoft's code calls each test directly, and the test proxy, its sanitizers and its
matchers have nothing to do; so here:
- `recorded_by_proxy` (and `aio.recorded_by_proxy_async`) call the test directly;
- `test_proxy` and the sanitizer and matcher functions accept their arguments and do nothing;
- `AzureRecordedTestCase` gives `is_live`, `get_resource_name` (the prefix and a checksum of the
  test's id, so each test gets names of its own), `create_client_from_credential` (logging on unless
  the test turns it off, which the suite's logging tests rely on), `await_prepared_test` and
  `get_credential`.

`get_credential` is where this differs on purpose: Microsoft's picks a developer or service-principal
credential from the environment; the vault here is the local stack's, so it is the managed-identity
credential for AZURE_CLIENT_ID (the suite's preparer copies KEYVAULT_CLIENT_ID there), which gets its
tokens from the stack's token endpoint.

Anything else the suite might start to import fails at import time, so a new SDK release that needs
more of devtools_testutils shows up as a collection error, not as a silently skipped test.
"""

from __future__ import annotations

import asyncio
import functools
import os
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential

from ._async_credential import AsyncAdapter
from ._live import accepted_kwargs, is_live, require_live_without_recording

__all__ = [
    "AzureRecordedTestCase",
    "add_body_key_sanitizer",
    "add_general_regex_sanitizer",
    "add_oauth_response_sanitizer",
    "add_remove_header_sanitizer",
    "is_live",
    "recorded_by_proxy",
    "remove_batch_sanitizers",
    "set_custom_default_matcher",
    "test_proxy",
]


@pytest.fixture(scope="session")
def test_proxy() -> None:
    """Microsoft's starts the recording proxy; live without recording, no request goes through it."""
    require_live_without_recording()


def _no_proxy_to_configure(*args: object, **kwargs: object) -> None:
    """Sanitizers and matchers configure the recording proxy, which this path does not use."""


add_body_key_sanitizer = _no_proxy_to_configure
add_general_regex_sanitizer = _no_proxy_to_configure
add_oauth_response_sanitizer = _no_proxy_to_configure
add_remove_header_sanitizer = _no_proxy_to_configure
remove_batch_sanitizers = _no_proxy_to_configure
set_custom_default_matcher = _no_proxy_to_configure


def recorded_by_proxy(test: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(test)
    def run_live(*args: Any, **kwargs: Any) -> Any:
        require_live_without_recording()
        return test(*args, **accepted_kwargs(test, kwargs))

    return run_live


class AzureRecordedTestCase:
    @property
    def is_live(self) -> bool:
        return is_live()

    def get_resource_name(self, name: str) -> str:
        # pytest sets PYTEST_CURRENT_TEST to the running test's id: the same name for the same test.
        test_id = os.environ["PYTEST_CURRENT_TEST"].encode()
        return f"{name}{zlib.adler32(test_id):x}"

    def get_credential(self, client_class: type, *, is_async: bool = False, **kwargs: Any) -> Any:
        credential = ManagedIdentityCredential(client_id=os.environ["AZURE_CLIENT_ID"], **kwargs)
        return AsyncAdapter(credential) if is_async else credential

    def create_client_from_credential(self, client_class: type, credential: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("logging_enable", True)
        return client_class(credential=credential, **kwargs)

    @staticmethod
    def await_prepared_test(test: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        """An async test as a sync one, on an event loop of its own."""

        @functools.wraps(test)
        def run(test_case: object, *args: Any, **kwargs: Any) -> Any:
            return asyncio.run(_awaited(test(test_case, *args, **accepted_kwargs(test, kwargs))))

        return run


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
