"""The only place the app makes a credential: one async credential per worker process, for the clients,
and one sync credential for the telemetry exporter, which sends from its own threads (frame/telemetry.py).

`AZURE_TOKEN_CREDENTIALS` decides which credential that is, as the Azure SDK guidance describes: in
Azure (and on the local stack) `ManagedIdentityCredential`, so nothing is probed and nothing else is
tried; for `func start` against real resources, `AzureCliCredential` or `dev`. The code is the same
everywhere; only the app settings differ. `require_envvar` turns a missing setting into an error
instead of a slow walk through every credential type.

Token requests are marked as waits on the `identity` dependency, so a token endpoint that hangs or
fails is reported as such, not as whichever service the token was for (frame/dependencies.py). The
telemetry credential's are not: the exporter asks for them outside every invocation, on its own threads.
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from azure.identity import DefaultAzureCredential as SyncDefaultAzureCredential
from azure.identity.aio import DefaultAzureCredential

from frame.dependencies import IDENTITY, TokenUnavailable, waiting_for
from frame.settings import get_settings
from frame.transport import get_transport

# A token endpoint that is down should fail a request in seconds, not minutes of retries.
TOKEN_RETRY_TOTAL = 2
TOKEN_RETRY_BACKOFF_SECONDS = 0.5

_credential: AsyncTokenCredential | None = None


class _IdentityCalls(AsyncTokenCredential):
    """The app's credential, with its token requests named as calls to the identity endpoint."""

    def __init__(self, inner: AsyncTokenCredential) -> None:
        self._inner = inner

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        with waiting_for(IDENTITY):
            try:
                return await self._inner.get_token(
                    *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
                )
            except AzureError as error:
                raise TokenUnavailable(message=f"no token for {', '.join(scopes)}: {error.message}") from error

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> _IdentityCalls:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


def get_credential() -> AsyncTokenCredential:
    """Created on first use, from inside the running event loop that will use it."""
    global _credential  # noqa: PLW0603 - the process-wide singleton is the point
    if _credential is None:
        settings = get_settings()
        _credential = _IdentityCalls(
            DefaultAzureCredential(
                require_envvar=True,
                managed_identity_client_id=settings.client_id,
                retry_total=TOKEN_RETRY_TOTAL,
                retry_backoff_factor=TOKEN_RETRY_BACKOFF_SECONDS,
                transport=get_transport(),
            )
        )
    return _credential


@functools.cache
def get_telemetry_credential() -> TokenCredential:
    """The same identity, chosen the same way, for the Azure Monitor exporter (its pipeline is sync)."""
    return SyncDefaultAzureCredential(
        require_envvar=True,
        managed_identity_client_id=get_settings().client_id,
        retry_total=TOKEN_RETRY_TOTAL,
        retry_backoff_factor=TOKEN_RETRY_BACKOFF_SECONDS,
    )


def identity_kind() -> str:
    """What diagnostics reports: which kind of managed identity the settings select."""
    return "user" if get_settings().client_id else "system"
