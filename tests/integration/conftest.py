"""Fixtures for tests that drive the app through the local function host."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from azure.identity import ManagedIdentityCredential

from devstack.pytest_plugin import CERTS
from devstack.testing import IDENTITY_VARIABLES, StackInfo, StackProcess
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


StartStack = Callable[..., StackInfo]


@pytest.fixture(scope="module")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartStack]:
    """start_stack('--infra-dir', path, ...): another stack besides the session's, stopped with the module."""
    started: list[StackProcess] = []

    def start(*args: str) -> StackInfo:
        process = StackProcess(tmp_path_factory.mktemp("stack"), ["--certs-dir", str(CERTS.folder), *args])
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.stop()


def inbox_for(stack: StackInfo) -> Inbox:
    """An Inbox on another stack; its developer-identity helpers use that stack's token endpoint."""
    environment = {**stack.identity_environment("app_service"), **stack.network_environment()}
    with pytest.MonkeyPatch.context() as env:
        for name, value in environment.items():
            env.setenv(name, value)
        credential = ManagedIdentityCredential(client_id=stack.client_id("developer"))
    return Inbox(stack, credential)
