"""A Cosmos DB account of its own, outside the stack: the engine and a front end in front of it, which also
accepts an account key.

This is the front end's key mode, and its only use: Microsoft's azure-cosmos test suite
(tests/conformance) and the tooling's own tests create databases and containers with the account key,
as Bicep does through the resource provider, and then run data-plane requests with the key or with
tokens from `tenant`, authorised by `authorizer`'s assignments. The stack never passes a key: its
account refuses keys, as infra/'s `disableLocalAuth: true` does.

    async with standalone_account(folder, key=key, certs=certs) as account:
        CosmosClient(account.endpoint, credential=key, connection_verify=str(certs.ca))

`running_account` does the same from synchronous code, serving from a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from infra_model.authorization import Authorizer

from devstack import launchers
from devstack.certs import CertPaths
from devstack.cosmos_gateway.credentials import cosmos_audiences, parse_master_key
from devstack.cosmos_gateway.service import Throttle, create_cosmos_gateway
from devstack.tokens import Tenant, TokenVerifier

DEFAULT_ACCOUNT_ID = (
    "/subscriptions/00000000-0000-4000-8000-00000000c05d/resourceGroups/rg-standalone"
    "/providers/Microsoft.DocumentDB/databaseAccounts/standalone"
)
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class StandaloneAccount:
    endpoint: str  # https://localhost:<port>/: the front end, with the local CA's certificate
    engine: str  # http://127.0.0.1:<port>: the engine itself, for measurements only (no checks at all)
    throttle: Throttle


@contextlib.asynccontextmanager
async def standalone_account(
    folder: Path,
    *,
    key: str,
    certs: CertPaths,
    tenant: Tenant | None = None,
    authorizer: Authorizer | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    account_host: str = "localhost",
) -> AsyncIterator[StandaloneAccount]:
    """The engine (its log in `folder`) and a front end on a free loopback port, until the block ends.
    Without `tenant`, no token is accepted; without `authorizer`, a token is granted nothing."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    issuer = tenant or Tenant()
    engine = await launchers.start_cosmos(0, log_dir=folder)
    runner: web.AppRunner | None = None
    try:
        throttle = Throttle()
        app = create_cosmos_gateway(
            engine=f"http://{launchers.LOOPBACK}:{engine.ports[0]}",
            verifier=TokenVerifier(issuer.public_key_pem(), issuer.issuer, cosmos_audiences(account_host)),
            authorizer=authorizer or Authorizer([]),
            account_name=account_host.split(".", maxsplit=1)[0],
            account_id=account_id,
            master_key=parse_master_key(key),
            throttle=throttle,
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        site = web.TCPSite(runner, launchers.LOOPBACK, 0, ssl_context=context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port = int(server.sockets[0].getsockname()[1])
        yield StandaloneAccount(
            f"https://localhost:{port}/", f"http://{launchers.LOOPBACK}:{engine.ports[0]}", throttle
        )
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.stop()


@contextlib.contextmanager
def running_account(
    folder: Path,
    *,
    key: str,
    certs: CertPaths,
    tenant: Tenant | None = None,
    authorizer: Authorizer | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Iterator[StandaloneAccount]:
    """`standalone_account`, served by an event loop in a thread of its own, for synchronous callers."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[StandaloneAccount] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            account_cm = standalone_account(
                folder, key=key, certs=certs, tenant=tenant, authorizer=authorizer, account_id=account_id
            )
            async with account_cm as account:
                ready.set_result(account)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="cosmos-account", daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(START_TIMEOUT_SECONDS)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_SECONDS)
        loop.close()


async def _wait(ready: asyncio.Future[StandaloneAccount]) -> StandaloneAccount:
    return await ready
