"""Calls to Key Vault, Blob, Cosmos and the token endpoint: how their failures become 503s that name them.

Every call the app makes to a dependency runs inside `calling(<name>)` (or `waiting_for(<name>)` where the
caller handles errors itself). That does two things:
- an SDK error becomes a 503 `dependency-unavailable` problem naming the dependency, never its message;
- when the invocation's deadline expires (inbox/invocation.py), the innermost dependency that was
  still being waited on is recorded, so the 503 says which one hung: the token endpoint inside a Blob
  call is reported as `identity`, not `blob`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

from inbox.problems import Problem, dependency_unavailable

IDENTITY, KEY_VAULT, BLOB, COSMOS = "identity", "keyvault", "blob", "cosmos"


class TokenUnavailable(ClientAuthenticationError):
    """The app could not get a token for its managed identity: the token endpoint failed, not a service."""


@dataclass
class Hang:
    """Filled in when an invocation is cancelled at its deadline: what it was waiting on."""

    dependency: str | None = None


_hang: ContextVar[Hang | None] = ContextVar("inbox_hang", default=None)


@contextmanager
def deadline_watch() -> Iterator[Hang]:
    """Opened once per invocation, around the deadline; `calling` blocks inside report into it."""
    hang = Hang()
    token = _hang.set(hang)
    try:
        yield hang
    finally:
        _hang.reset(token)


@contextmanager
def waiting_for(dependency: str) -> Iterator[None]:
    try:
        yield
    except asyncio.CancelledError:
        hang = _hang.get()
        if hang is not None and hang.dependency is None:  # the innermost wait is recorded first
            hang.dependency = dependency
        raise


@contextmanager
def calling(dependency: str) -> Iterator[None]:
    """Any SDK failure inside becomes a 503 that names the dependency (never its message)."""
    with waiting_for(dependency):
        try:
            yield
        except AzureError as error:
            raise problem_for_dependency_error(dependency, error) from error
        except TimeoutError as error:
            raise problem_for_dependency_error(dependency, AzureError("timed out")) from error


def problem_for_dependency_error(dependency: str, error: AzureError) -> Problem:
    """Any failure of Key Vault, Blob, Cosmos or the token endpoint, including the identity being refused."""
    status = getattr(error, "status_code", None)
    if isinstance(error, TokenUnavailable):
        return dependency_unavailable(IDENTITY, "the app could not get a token for its managed identity")
    if isinstance(error, ClientAuthenticationError) or status in (401, 403):
        detail = f"{dependency} refused the app's identity; an operator can see why at /api/diagnostics"
    elif isinstance(error, ServiceRequestError):
        detail = f"{dependency} could not be reached"
    elif isinstance(error, HttpResponseError) and status is not None:
        detail = f"{dependency} answered {status}"
    else:
        detail = None
    return dependency_unavailable(dependency, detail)
