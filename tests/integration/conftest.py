"""Fixtures for tests that drive the app through the local function host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import ManagedIdentityCredential

from devstack.testing import IDENTITY_VARIABLES, StackInfo
from tests.integration.inbox_api import Inbox


@pytest.fixture(scope="session")
def inbox(devstack: StackInfo) -> Iterator[Inbox]:
    with pytest.MonkeyPatch.context() as env:
        for name in IDENTITY_VARIABLES:
            env.delenv(name, raising=False)
        for name, value in {**devstack.identity_environment("app_service"), **devstack.network_environment()}.items():
            env.setenv(name, value)
        credential = ManagedIdentityCredential(client_id=devstack.client_id("developer"))
        yield Inbox(devstack, credential)
