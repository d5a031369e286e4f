"""The same functions through the local Functions host, over HTTP, as a sender and an API caller see them."""

from __future__ import annotations

import aiohttp

from bench.deliveries import BODY, LIST_LIMIT, SOURCE, delivery_headers


class HostApp:
    def __init__(self, host_url: str, function_key: str, signature: str) -> None:
        self._base = f"{host_url}/api"
        self._function_key = function_key
        self._signature = signature
        # Loopback: never through the proxy the app's settings put in this process's environment.
        self._http = aiohttp.ClientSession(trust_env=False)

    async def ingest(self, event_id: str) -> None:
        headers = delivery_headers(self._signature, event_id)
        async with self._http.post(f"{self._base}/webhooks/{SOURCE}", data=BODY, headers=headers) as response:
            await _expect(response, 202)

    async def list_events(self) -> None:
        async with self._http.get(
            f"{self._base}/webhooks/{SOURCE}/events",
            params={"limit": str(LIST_LIMIT)},
            headers={"x-functions-key": self._function_key},
        ) as response:
            await _expect(response, 200)

    async def close(self) -> None:
        await self._http.close()


async def _expect(response: aiohttp.ClientResponse, status: int) -> None:
    body = await response.read()
    if response.status != status:
        raise RuntimeError(f"the host answered {response.status}, expected {status}: {body[:500]!r}")
