"""The async credential the suite's async clients get: the sync managed-identity credential, awaited
in a worker thread.

azure-identity's own aio credential keeps an aiohttp session that the suite never closes (its tests
close their clients, not the credentials), which would leave an unclosed session behind every async
test; the sync credential has none to leave.
"""

from __future__ import annotations

import asyncio
from typing import Any

from azure.core.credentials import AccessToken
from azure.identity import ManagedIdentityCredential


class AsyncAdapter:
    def __init__(self, credential: ManagedIdentityCredential) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self._credential.close)

    async def __aenter__(self) -> AsyncAdapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
