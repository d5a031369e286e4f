"""The only place the app makes a credential: one async credential per worker process.

`AZURE_TOKEN_CREDENTIALS` decides which credential that is, as the Azure SDK guidance describes: in
Azure (and on the local stack) `ManagedIdentityCredential`, so nothing is probed and nothing else is
tried; for `func start` against real resources, `AzureCliCredential` or `dev`. The code is the same
everywhere; only the app settings differ. `require_envvar` turns a missing setting into an error
instead of a slow walk through every credential type.
"""

from __future__ import annotations

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import DefaultAzureCredential

from inbox.settings import get_settings

# A token endpoint that is down should fail a request in seconds, not minutes of retries.
TOKEN_RETRY_TOTAL = 2
TOKEN_RETRY_BACKOFF_SECONDS = 0.5

_credential: AsyncTokenCredential | None = None


def get_credential() -> AsyncTokenCredential:
    """Created on first use, from inside the running event loop that will use it."""
    global _credential  # noqa: PLW0603 - the process-wide singleton is the point
    if _credential is None:
        settings = get_settings()
        _credential = DefaultAzureCredential(
            require_envvar=True,
            managed_identity_client_id=settings.client_id,
            retry_total=TOKEN_RETRY_TOTAL,
            retry_backoff_factor=TOKEN_RETRY_BACKOFF_SECONDS,
        )
    return _credential


def identity_kind() -> str:
    """What diagnostics reports: which kind of managed identity the settings select."""
    return "user" if get_settings().client_id else "system"
