"""The Cosmos DB data engine's process (devstack/node/cosmos.js): started as the stack starts it (a pipe
to its stdin, a ready line on stdout), on loopback only, with nothing of authentication left in it.

What it serves, through the front end, is tested in test_cosmos_gateway.py.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest
from devstack.node_packages import NODE_DIR

ENGINE = NODE_DIR / "cosmos.js"
READY_TIMEOUT_SECONDS = 10.0
EXIT_TIMEOUT_SECONDS = 5.0


def command(*extra: str, host: str = "127.0.0.1") -> list[str]:
    node = shutil.which("node")
    assert node, "Node.js 20+ must be on PATH for the local Cosmos DB engine"
    return [node, str(ENGINE), "--host", host, "--port", "0", *extra]


def start(*extra: str) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(command(*extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_SECONDS)
    if not readable:
        process.kill()
        pytest.fail(f"cosmos.js printed no ready line within {READY_TIMEOUT_SECONDS} s")
    event = json.loads(process.stdout.readline())
    assert set(event) == {"event", "port"}
    assert event["event"] == "ready"
    return process, int(event["port"])


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.terminate()
    code = process.wait(EXIT_TIMEOUT_SECONDS)
    for stream in (process.stdin, process.stdout):
        if stream:
            stream.close()
    return code


@pytest.fixture
def engine() -> Iterator[int]:
    process, port = start()
    try:
        yield port
    finally:
        assert stop(process) == 0


def test_engine_serves_plain_http_with_keep_alive_on_loopback(engine: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", engine, timeout=5)
    try:
        connection.request("POST", "/dbs", body=b'{"id": "plain"}', headers={"content-type": "application/json"})
        created = connection.getresponse()
        created.read()
        connection.request("GET", "/dbs/plain")  # the same connection: kept alive
        read = connection.getresponse()
        body = json.loads(read.read())
    finally:
        connection.close()

    assert created.status == 201
    assert created.getheader("connection") == "keep-alive"
    assert (read.status, body["id"]) == (200, "plain")


def test_engine_holds_no_credential_checks() -> None:
    """Authentication and RBAC live once, in Python (devstack/cosmos_gateway): no JavaScript of the
    engine verifies a token, a key signature or a role."""
    sources = {path.name: path.read_text() for path in NODE_DIR.glob("*.js")}
    leftovers = {
        name
        for name, text in sources.items()
        if re.search(r"createVerify|crypto\.verify|createHmac|dataActions|type=aad|authorization", text, re.I)
    }

    assert not {"cosmos-auth.js", "cosmos-rbac.js"} & set(sources)
    assert {name for name in leftovers if name.startswith("cosmos")} == set()


def test_engine_exits_when_stdin_reaches_eof() -> None:
    process, _ = start()
    assert process.stdin is not None
    process.stdin.close()

    assert process.wait(EXIT_TIMEOUT_SECONDS) == 0  # raises TimeoutExpired if it lingers
    stop(process)


def test_engine_exits_cleanly_on_sigterm() -> None:
    process, _ = start()
    process.send_signal(signal.SIGTERM)

    assert process.wait(EXIT_TIMEOUT_SECONDS) == 0
    stop(process)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (command(host="0.0.0.0"), b"--host must be a loopback address"),  # noqa: S104 (the refused case)
        ([arg for arg in command() if arg not in {"--port", "0"}], b"--port is required"),
        (command("--issuer", "https://sts.windows.net/x/"), b"Unknown option '--issuer'"),
    ],
    ids=["not loopback", "no port", "a credential option"],
)
def test_bad_options_exit_with_a_usage_error(argv: list[str], complaint: bytes) -> None:
    result = subprocess.run(argv, capture_output=True, timeout=EXIT_TIMEOUT_SECONDS, check=False)

    assert (result.returncode, result.stdout) == (2, b"")
    assert complaint in result.stderr
