"""Fixtures for tests that drive the app through the local function host."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
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


class MintedCredential:
    """Tokens for one identity of a given stack, minted by that stack's own tenant.

    Tests use it to look behind another stack as its developer; the app on that stack still gets
    its tokens from the managed-identity endpoint.
    """

    def __init__(self, stack: StackInfo, who: str) -> None:
        self._stack, self._who = stack, who

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        resource = scopes[0].removesuffix("/.default")
        return AccessToken(self._stack.mint(resource, who=self._who), int(time.time()) + 3600)


def inbox_for(stack: StackInfo) -> Inbox:
    return Inbox(stack, MintedCredential(stack, "developer"))
