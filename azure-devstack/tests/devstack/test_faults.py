"""Injected outages: the host-name proxy and the token endpoint refuse or freeze, and recover when cleared.

The proxy is driven with raw sockets against an echo server, so what a client sees on the wire (a 502,
a cut connection, bytes that stop moving) is checked directly; the token endpoint with aiohttp, as the
credential's transport talks to it.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from devstack import __main__ as devstack_cli
from devstack.faults import FAULTS_PATH, FaultMode, Gate, create_faults_app
from devstack.host_proxy import HostProxy
from devstack.identity_endpoint import APP_SERVICE_PATH, IMDS_PATH, Directory, create_identity_app
from devstack.project import Project
from devstack.pytest_plugin import CERTS
from devstack.stack import Ports, StackOptions, start_stack
from devstack.testing import StackInfo
from devstack.tokens import Identity, Tenant

MINIMAL_APP = Path(__file__).resolve().parents[1] / "minimal_app"

HOST = "kv-faults.vault.azure.net"
OTHER = "stdatafaults.blob.core.windows.net"
HEADER = "local-identity-header"
# Long enough for a frozen answer to have arrived if it were coming, on a busy 2-core machine.
SILENCE_SECONDS = 0.3


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@dataclass
class Proxied:
    proxy: HostProxy
    port: int

    async def connect(self, host: str = HOST) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a connection and send a CONNECT for `host`; the reply is not read."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        await writer.drain()
        return reader, writer

    async def tunnel(self, host: str = HOST) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self.connect(host)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        return reader, writer


@pytest.fixture
async def proxied() -> AsyncIterator[Proxied]:
    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = HostProxy({f"{HOST}:443": ("127.0.0.1", port), f"{OTHER}:443": ("127.0.0.1", port)})
    yield Proxied(proxy, await proxy.start())
    proxy.fault(None)  # let anything held finish before closing
    await proxy.close()
    upstream.close()


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 5)


async def is_cut(reader: asyncio.StreamReader) -> bool:
    """The connection ends (end of stream or a reset) within a few seconds, with no more bytes."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


async def stays_silent(read: asyncio.Future[Any]) -> bool:
    """True if nothing (not even end-of-file) arrived within SILENCE_SECONDS."""
    done, _ = await asyncio.wait({read}, timeout=SILENCE_SECONDS)
    return not done


async def test_refused_host_answers_new_connects_502_and_cuts_its_tunnels(proxied: Proxied) -> None:
    reader, writer = await proxied.tunnel()
    other_reader, other_writer = await proxied.tunnel(OTHER)

    proxied.proxy.fault("refuse", HOST)

    assert await is_cut(reader)
    refused_reader, _ = await proxied.connect()
    assert (await refused_reader.readline()).startswith(b"HTTP/1.1 502")
    assert await round_trip(other_reader, other_writer, b"still here") == b"still here"  # other hosts unaffected
    writer.close()


async def test_frozen_host_holds_new_connects_and_open_tunnels_until_cleared(proxied: Proxied) -> None:
    reader, writer = await proxied.tunnel()
    proxied.proxy.fault("freeze", HOST)

    writer.write(b"held")
    await writer.drain()
    held = asyncio.ensure_future(reader.readexactly(4))
    pending_reader, _ = await proxied.connect()
    pending = asyncio.ensure_future(pending_reader.readuntil(b"\r\n\r\n"))
    assert await stays_silent(held)  # neither answered nor closed
    assert await stays_silent(pending)

    proxied.proxy.fault(None, HOST)

    assert await asyncio.wait_for(held, 5) == b"held"
    assert (await asyncio.wait_for(pending, 5)).startswith(b"HTTP/1.1 200")


async def test_cleared_host_forwards_new_tunnels_again(proxied: Proxied) -> None:
    proxied.proxy.fault("refuse", HOST)
    proxied.proxy.fault(None, HOST)
    reader, writer = await proxied.tunnel()
    assert await round_trip(reader, writer, b"ping") == b"ping"


async def test_frozen_proxy_answers_nothing_at_all_until_cleared(proxied: Proxied) -> None:
    reader, writer = await proxied.tunnel(OTHER)
    proxied.proxy.fault("freeze")

    unrouted_reader, _ = await proxied.connect("example.com")  # not even the 502 for an unknown host
    unrouted = asyncio.ensure_future(unrouted_reader.readline())
    writer.write(b"held")
    await writer.drain()
    held = asyncio.ensure_future(reader.readexactly(4))
    assert await stays_silent(unrouted)
    assert await stays_silent(held)

    proxied.proxy.fault(None)

    assert (await asyncio.wait_for(unrouted, 5)).startswith(b"HTTP/1.1 502")
    assert await asyncio.wait_for(held, 5) == b"held"


async def test_refused_proxy_cuts_every_tunnel_and_resets_new_connections(proxied: Proxied) -> None:
    reader, _ = await proxied.tunnel(OTHER)
    proxied.proxy.fault("refuse")
    assert await is_cut(reader)
    new_reader, _ = await proxied.connect()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(new_reader.readuntil(b"\r\n\r\n"), 5)


async def test_dead_upstream_is_answered_502_like_an_egress_proxy() -> None:
    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    upstream.close()
    await upstream.wait_closed()
    proxy = HostProxy({f"{HOST}:443": ("127.0.0.1", port)})
    proxied = Proxied(proxy, await proxy.start())
    try:
        reader, _ = await proxied.connect()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 502")
    finally:
        await proxy.close()


# --- the token endpoint --------------------------------------------------------------------------


@dataclass
class TokenEndpoint:
    base: str
    gate: Gate
    http: aiohttp.ClientSession
    client_id: str

    def token(self, path: str = APP_SERVICE_PATH) -> asyncio.Task[int]:
        """Ask for a token in the background; the task gives the status."""

        async def ask() -> int:
            if path == APP_SERVICE_PATH:
                query = {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}
                headers = {"X-IDENTITY-HEADER": HEADER}
            else:
                query = {"api-version": "2018-02-01", "resource": "https://vault.azure.net"}
                headers = {"Metadata": "true"}
            async with self.http.get(self.base + path, params=query, headers=headers) as response:
                return response.status

        return asyncio.create_task(ask())

    async def observable(self) -> bool:
        """/stats and /_devstack/mint answer, whatever the token routes do."""
        mint = {"resource": "https://vault.azure.net", "clientId": self.client_id}
        async with (
            self.http.get(self.base + "/stats") as stats,
            self.http.post(self.base + "/_devstack/mint", json=mint, headers={"X-IDENTITY-HEADER": HEADER}) as minted,
        ):
            return (stats.status, minted.status) == (200, 200)


@pytest.fixture
async def token_endpoint() -> AsyncIterator[TokenEndpoint]:
    gate = Gate()
    user = Identity.new("user")
    directory = Directory(system=Identity.new("system"), user_assigned=(user,))
    server = TestServer(create_identity_app(tenant=Tenant(), directory=directory, identity_header=HEADER, faults=gate))
    await server.start_server()
    # No retries on a dropped connection: what a first attempt sees is what is asserted.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        yield TokenEndpoint(str(server.make_url("")).rstrip("/"), gate, http, user.client_id)
    gate.set(None)
    await server.close()


@pytest.mark.parametrize("path", [APP_SERVICE_PATH, IMDS_PATH])
async def test_refusing_token_endpoint_drops_token_requests_unanswered(
    token_endpoint: TokenEndpoint, path: str
) -> None:
    token_endpoint.gate.set("refuse")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await token_endpoint.token(path)
    assert await token_endpoint.observable()


@pytest.mark.parametrize("path", [APP_SERVICE_PATH, IMDS_PATH])
async def test_frozen_token_endpoint_holds_token_requests_until_cleared(
    token_endpoint: TokenEndpoint, path: str
) -> None:
    token_endpoint.gate.set("freeze")
    held = token_endpoint.token(path)
    assert await stays_silent(held)
    assert await token_endpoint.observable()

    token_endpoint.gate.set(None)

    assert await asyncio.wait_for(held, 5) == 200


async def test_cleared_token_endpoint_issues_tokens_again(token_endpoint: TokenEndpoint) -> None:
    token_endpoint.gate.set("refuse")
    token_endpoint.gate.set(None)
    assert await token_endpoint.token() == 200


# --- the control point ---------------------------------------------------------------------------


@pytest.fixture
async def control() -> AsyncIterator[tuple[str, dict[str, list[FaultMode | None]]]]:
    calls: dict[str, list[FaultMode | None]] = {"blob": [], "proxy": []}

    def switch(name: str) -> Callable[[FaultMode | None], None]:
        return calls[name].append

    server = TestServer(create_faults_app({name: switch(name) for name in calls}))
    await server.start_server()
    yield str(server.make_url(FAULTS_PATH)), calls
    await server.close()


async def test_control_point_switches_targets_and_clears_one_or_all(
    control: tuple[str, dict[str, list[FaultMode | None]]],
) -> None:
    url, calls = control
    async with aiohttp.ClientSession() as http:
        for target, mode in (("blob", "freeze"), ("proxy", "refuse")):
            async with http.post(url, json={"target": target, "mode": mode}) as response:
                assert response.status == 200
        async with http.get(url) as response:
            assert (await response.json())["faults"] == {"blob": "freeze", "proxy": "refuse"}
        async with http.delete(url, params={"target": "blob"}) as response:
            assert (await response.json())["faults"] == {"proxy": "refuse"}
        async with http.delete(url) as response:
            assert (await response.json())["faults"] == {}
    assert calls == {"blob": ["freeze", None, None], "proxy": ["refuse", None]}


@pytest.mark.parametrize(
    "spec",
    [{"target": "dns", "mode": "freeze"}, {"target": "blob", "mode": "slow"}, {"target": "blob"}, ["blob"]],
    ids=["unknown-target", "unknown-mode", "no-mode", "not-an-object"],
)
async def test_control_point_refuses_what_it_cannot_do(
    control: tuple[str, dict[str, list[FaultMode | None]]], spec: object
) -> None:
    url, calls = control
    async with aiohttp.ClientSession() as http, http.post(url, json=spec) as response:
        assert response.status == 400
    assert calls == {"blob": [], "proxy": []}


@pytest.mark.stack
async def test_stack_serves_the_control_point_for_each_dependency(devstack: StackInfo) -> None:
    vault = str(urlsplit(devstack.vault_url).hostname)
    proxy_port = int(devstack.settings["HTTPS_PROXY"].rsplit(":", 1)[1])

    async def connect_status() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        writer.write(f"CONNECT {vault}:443 HTTP/1.1\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        return line

    devstack.fault("keyvault", "refuse")
    try:
        assert devstack.faults() == {"keyvault": "refuse"}
        assert (await connect_status()).startswith(b"HTTP/1.1 502")
    finally:
        devstack.clear_faults()
    assert devstack.faults() == {}
    assert (await connect_status()).startswith(b"HTTP/1.1 200")
    with pytest.raises(urllib.error.HTTPError):
        devstack.fault("nothing", "freeze")


async def test_control_point_takes_a_targets_own_modes_and_shows_faults_on_from_the_start() -> None:
    calls: list[FaultMode | None] = []
    app = create_faults_app(
        {"cosmos": calls.append, "blob": calls.append},
        modes={"cosmos": ("refuse", "freeze", "throttle")},
        active={"cosmos": "throttle"},
    )
    server = TestServer(app)
    await server.start_server()
    url = str(server.make_url(FAULTS_PATH))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                at_start = (await response.json())["faults"]
            async with http.post(url, json={"target": "blob", "mode": "throttle"}) as response:
                blob_status = response.status
            async with http.post(url, json={"target": "cosmos", "mode": "throttle"}) as response:
                cosmos_status = response.status
            async with http.delete(url, params={"target": "cosmos"}) as response:
                cleared = (await response.json())["faults"]
    finally:
        await server.close()

    assert at_start == {"cosmos": "throttle"}
    assert (blob_status, cosmos_status) == (400, 200)
    assert cleared == {}
    assert calls == ["throttle", None]


@pytest.mark.stack
async def test_stack_throttles_cosmos_item_requests_until_cleared(devstack: StackInfo) -> None:
    cosmos_host = urlsplit(devstack.cosmos_url).hostname
    token = devstack.mint(f"https://{cosmos_host}", who="app")
    headers = {"authorization": f"type=aad%26ver=1.0%26sig={token}", "x-ms-documentdb-partitionkey": '["b1"]'}
    url = f"{devstack.env.devstack['cosmosDirectUrl']}dbs/notebook/colls/pages/docs/nothing-here"
    ssl_context = ssl.create_default_context(cafile=devstack.ca)

    async def status() -> tuple[int, str | None, str | None]:
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers, ssl=ssl_context) as response:
            return response.status, response.headers.get("x-ms-substatus"), response.headers.get("x-ms-retry-after-ms")

    devstack.fault("cosmos", "throttle")
    try:
        faults = devstack.faults()
        throttled = await status()
    finally:
        devstack.clear_faults("cosmos")
    after = await status()

    assert faults == {"cosmos": "throttle"}
    assert throttled == (429, "3200", "1000")
    assert after[0] == 404  # the item does not exist: the request reached the engine again


@pytest.mark.parametrize(
    ("argv", "throttled"),
    [([], None), (["--cosmos-throttle"], 1000), (["--cosmos-throttle", "250"], 250)],
    ids=["off", "default retry-after", "chosen retry-after"],
)
def test_up_option_starts_cosmos_throttled_with_its_retry_after(argv: list[str], throttled: int | None) -> None:
    args = devstack_cli._parser().parse_args(["up", *argv])

    assert args.cosmos_throttle == throttled


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", "60001"])
def test_up_option_refuses_a_retry_after_that_is_not_milliseconds(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        devstack_cli._parser().parse_args(["up", "--cosmos-throttle", value])

    assert exited.value.code == 2
    assert "expected milliseconds from 1 to 60000" in capsys.readouterr().err


@pytest.mark.stack
async def test_stack_started_throttled_shows_it_and_clears_it(tmp_path: Path) -> None:
    options = StackOptions(
        project=Project.find(MINIMAL_APP),
        state_dir=tmp_path,
        ports=Ports(functions=None),
        certs_dir=CERTS.folder,
        write_local_settings=False,
        cosmos_throttle=True,
        cosmos_retry_after_ms=250,
    )
    running = await start_stack(options)
    try:
        details = running.env_file.devstack
        faults_url = str(details["faultsUrl"])
        cosmos_url = str(details["cosmosDirectUrl"])
        token = await asyncio.to_thread(
            StackInfo(running.env_file, tmp_path).mint, f"https://{urlsplit(details['endpoints']['cosmos']).hostname}"
        )
        headers = {"authorization": f"type=aad&ver=1.0&sig={token}", "x-ms-documentdb-partitionkey": '["b1"]'}
        item = f"{cosmos_url}dbs/notebook/colls/pages/docs/nothing-here"
        context = ssl.create_default_context(cafile=str(CERTS.ca))
        async with aiohttp.ClientSession() as http:
            async with http.get(faults_url) as response:
                at_start = (await response.json())["faults"]
            async with http.get(item, headers=headers, ssl=context) as response:
                throttled = (response.status, response.headers.get("x-ms-retry-after-ms"))
            async with http.delete(faults_url) as response:
                cleared = (await response.json())["faults"]
            async with http.get(item, headers=headers, ssl=context) as response:
                after = response.status
    finally:
        await running.stop()

    assert at_start == {"cosmos": "throttle"}
    assert throttled == (429, "250")
    assert cleared == {}
    assert after == 404
