"""The one HTTP transport that every Azure SDK client and the credential share.

azure-core's default aio transport gives each client its own aiohttp session with `trust_env=True`,
and aiohttp then looks for `~/.netrc` and reads the proxy variables on every request, each a hop
through the thread pool: 17 % of the app's CPU under load (FIELD-NOTES, measured here). This one is
built once, inside the worker's event loop, with `trust_env` off. A proxy is still a standard
setting: `HTTPS_PROXY` (the local stack uses it to reach the Azure host names, a corporate network
may need it for egress) is read once, here, and handed to every client as `proxies`. Per-host
`NO_PROXY` exceptions are not applied to those clients; the token endpoint is reached directly.

Timeouts are per attempt; the request deadline (frame/invocation.py) bounds the whole call, retries
included. The read timeout leaves room inside the deadline for one retry of an attempt that hung.
"""

from __future__ import annotations

import functools
import urllib.request

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport

CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 4
PROXY_SCHEMES = ("https", "http")


@functools.cache
def get_transport() -> AioHttpTransport:
    """Created on first use, from inside the running event loop that will use it."""
    session = aiohttp.ClientSession(
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),  # as azure-core's own session: the services set no cookies we need
        auto_decompress=False,  # azure-core decompresses itself where a service compresses
    )
    return AioHttpTransport(
        session=session,
        session_owner=False,  # shared: no one client's close() may close it for the others
        connection_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
    )


@functools.cache
def get_proxies() -> dict[str, str] | None:
    """The environment's proxy settings, read once (None when there are none, as in most of Azure)."""
    found = {scheme: url for scheme, url in urllib.request.getproxies().items() if scheme in PROXY_SCHEMES}
    return found or None
