"""Calls to Key Vault, Blob, Cosmos and the token endpoint: how their failures become 503s that name them.

Every call the app makes to a dependency runs inside `calling(<name>)` (or `waiting_for(<name>)` where the
caller handles errors itself, and then maps them with `problem_for_dependency_error`). That does three things:
- an SDK error becomes a 503 `dependency-unavailable` problem naming the dependency, never its message;
- a refusal of the app's identity (401/403, not a network rule, not a full Cosmos partition) is logged
  once, as one WARNING line naming the refused data action, its scope and the role infra/ grants it
  with (frame/access.py): the operator reads why in the log, the caller only gets the 503;
- when the invocation's deadline expires (frame/invocation.py), the innermost dependency that was
  still being waited on is recorded, so the 503 says which one hung: the token endpoint inside a Blob
  call is reported as `identity`, not `blob`. A request queued behind another request's call (the
  secret cache shares one Key Vault round trip) reports what that call was waiting on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

from frame import access
from frame.problems import Problem, dependency_unavailable

log = logging.getLogger(__name__)

IDENTITY, KEY_VAULT, BLOB, COSMOS = "identity", "keyvault", "blob", "cosmos"
# Cosmos DB's 403 sub-status for a logical partition at its 20 GB limit ("Diagnose and troubleshoot
# Azure Cosmos DB forbidden exceptions", learn.microsoft.com): a 403 that is not about the identity.
COSMOS_PARTITION_FULL = 1014


class TokenUnavailable(ClientAuthenticationError):
    """The app could not get a token for its managed identity: the token endpoint failed, not a service."""


@dataclass
class Waits:
    """One invocation's open waits on dependencies, innermost last, and the one it hung on, if any."""

    open: list[str] = field(default_factory=list)
    hung_on: str | None = None

    def innermost(self) -> str | None:
        return self.hung_on or (self.open[-1] if self.open else None)


_waits: ContextVar[Waits | None] = ContextVar("dependency_waits", default=None)


@contextmanager
def deadline_watch() -> Iterator[Waits]:
    """Opened once per invocation, around the deadline; `calling` blocks inside report into it."""
    waits = Waits()
    token = _waits.set(waits)
    try:
        yield waits
    finally:
        _waits.reset(token)


def current_waits() -> Waits | None:
    return _waits.get()


@contextmanager
def waiting_for(dependency: str, *, behind: Waits | None = None) -> Iterator[None]:
    """`behind`: the waits of the request whose call this one is queued for."""
    waits = _waits.get()
    if waits is not None:
        waits.open.append(dependency)
    try:
        yield
    except asyncio.CancelledError:
        if waits is not None and waits.hung_on is None:  # the innermost wait is recorded first
            queued_for = behind.innermost() if behind is not None and behind is not waits else None
            waits.hung_on = queued_for or dependency
        raise
    finally:
        if waits is not None:
            # Concurrent tasks of one invocation share the list: drop the last entry for this dependency.
            del waits.open[len(waits.open) - 1 - waits.open[::-1].index(dependency)]


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
    if getattr(error, "sub_status", None) == COSMOS_PARTITION_FULL:
        detail = f"{dependency} refused the write: this source's partition is full"
    elif access.network_refusal(error) is not None:  # private networking: no role would change this answer
        detail = f"{dependency} refused the request by its network rules; /api/diagnostics says what to check"
    elif isinstance(error, ClientAuthenticationError) or status in (401, 403):
        if status in (401, 403):  # a 401 without a status is the credential's, not the service's answer
            log.warning("%s", access.refusal_line(dependency, error))
        detail = f"{dependency} refused the app's identity; an operator can see why at /api/diagnostics"
    elif isinstance(error, ServiceRequestError):
        detail = f"{dependency} could not be reached"
    elif isinstance(error, HttpResponseError) and status is not None:
        detail = f"{dependency} answered {status}"
    else:
        detail = None
    return dependency_unavailable(dependency, detail)
