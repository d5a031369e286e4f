"""Starting and stopping the whole stack: env.json, the vault proxy, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from devstack.host_proxy import HostProxy
from devstack.testing import StackInfo, StackProcess, process_alive

ENV_KEYS = {"host_url", "function_key", "master_key", "token_stats_url", "keyvault_stats_url", "ca_bundle", "settings"}
# The minimal app's own settings (tests/minimal_app/infra/app.bicep), then what the stack adds locally.
APP_SETTINGS = {"AZURE_CLIENT_ID", "VAULT_URL", "NOTES_ACCOUNT_URL", "NOTES_CONTAINER"}
LOCAL_SETTINGS = {"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "HTTPS_PROXY", "SSL_CERT_FILE", "AzureWebJobsStorage"}


def test_env_file_has_the_documented_shape(devstack: StackInfo) -> None:
    document = devstack.env
    assert set(vars(document)) >= ENV_KEYS
    assert set(document.settings) >= APP_SETTINGS | LOCAL_SETTINGS
    assert document.host_url.startswith("http://127.0.0.1:")
    assert document.settings["VAULT_URL"].endswith(".vault.azure.net/")
    assert document.settings["NOTES_ACCOUNT_URL"].endswith(".blob.core.windows.net/")
    assert Path(document.ca_bundle).read_text().count("BEGIN CERTIFICATE") > 1  # public CAs + the local one


def wait_until_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if process_alive(pid)]
    return alive


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stopping_the_stack_leaves_no_process_behind(tmp_path: Path, how: str) -> None:
    stack = StackProcess(tmp_path)
    info = stack.wait_ready()
    children = [pid for name, pid in info.pids().items() if name != "stack"]
    assert {"azurite-data", "azurite-host", "cosmos", "functions"} <= set(info.pids())
    assert all(process_alive(pid) for pid in children)

    os.kill(stack.process.pid, getattr(signal, how))
    stack.process.wait(20)

    assert wait_until_gone(children) == []
    if how == "SIGTERM":
        assert stack.process.returncode == 0
        assert not stack.env_path.exists()  # a stopped stack never looks ready


def test_second_stack_with_a_taken_port_fails_clearly(tmp_path: Path, devstack: StackInfo) -> None:
    taken = devstack.settings["IDENTITY_ENDPOINT"].split(":")[2].split("/")[0]
    stack = StackProcess(tmp_path, ["--token-port", taken])
    with pytest.raises(RuntimeError, match="did not start"):
        stack.wait_ready(timeout=60)
    assert stack.process.returncode not in (None, 0)


async def proxy_reply(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    return reply


async def test_proxy_only_tunnels_to_the_local_services() -> None:
    proxy = HostProxy({"inbox-local.vault.azure.net:443": ("127.0.0.1", 9)})
    port = await proxy.start()
    try:
        elsewhere = await proxy_reply(port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        plain = await proxy_reply(port, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
    finally:
        await proxy.close()
    assert elsewhere.startswith(b"HTTP/1.1 502")
    assert plain.startswith(b"HTTP/1.1 405")


async def test_proxy_tunnels_tls_to_the_vault(devstack: StackInfo) -> None:
    proxy_port = int(devstack.settings["HTTPS_PROXY"].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    vault = str(urlsplit(devstack.vault_url).hostname)
    writer.write(f"CONNECT {vault}:443 HTTP/1.1\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context(cafile=devstack.ca)
    await writer.start_tls(context, server_hostname=vault)
    writer.write(f"GET /secrets?api-version=2025-07-01 HTTP/1.1\r\nHost: {vault}\r\n\r\n".encode())
    status = await reader.readline()
    writer.close()
    assert status.startswith(b"HTTP/1.1 401")  # the vault's challenge, over TLS the client verified
