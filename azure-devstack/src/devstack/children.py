"""Child processes of the stack: start, wait until ready, stop, and never outlive the parent.

Each child gets a pipe on stdin that the stack never writes to. The children watch it (guard.js for
Azurite, the Cosmos server and the function host do it themselves) and exit at end-of-file, which is
what they see when the stack dies, even by SIGKILL. A normal stop sends SIGTERM, then SIGKILL after a
grace period.

Everything a child prints goes through `_pump_output`, the one place its lines are written (to its
log file, and to the terminal when echoed), and is redacted there first: a `code=` value (how a
function key travels in a URL, and what a request line the host refused holds), an `x-functions-key`
header's value, and each secret the child was started with. Log files, like the state folder, are
readable by their owner only.

Children choose their own ports. The stack passes port 0 unless told otherwise, and each child says
which port it bound: our own servers in their JSON ready line, Azurite in its "listening" lines.
Picking a free port in the stack and letting the child bind it later always left a window in which
another process could take it (about one start in 30 failed with "address already in use"); no
check in the stack can close that window, and retrying on a new port would mean rewiring the Blob
gateway and the host-name proxy, which are built from those ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote


class Echo(Protocol):
    """Where a child's output is shown besides its log file: a terminal, or a formatter in front of one."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


STOP_GRACE_SECONDS = 5.0
REDACTED = b"[redacted]"
# A query parameter `code` (`?code=`, `&code=`), up to the next delimiter of a URL, a header or JSON.
_CODE_VALUE = re.compile(rb"(?i)(?<![\w-])(code=)[^&\s\"'\\#<>()\[\]{},;]+")
# The function-key header, as a header line, a Python dict or JSON prints it.
_KEY_HEADER = re.compile(rb"""(?i)(x-functions-key["']?\s*[:=,]\s*["']?)[^"'\s,;()\[\]{}]+""")
# Shorter "secrets" would redact ordinary words; the stack's keys are 24 bytes or more.
_SHORTEST_SECRET = 16


class ChildFailed(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    # The ports it listens on, as its readiness signal reported them.
    ports: tuple[int, ...] = ()
    _pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now, and may be taken by the time anyone binds it: for tests that want an
    address nothing listens on. Children bind port 0 instead (see the module docstring)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Redactor:
    """Takes keys out of a line of output: `code=` values, `x-functions-key` values, and `secrets`
    (as they are, and URL-encoded) wherever they appear."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        forms = {form for secret in secrets for form in (secret, quote(secret, safe=""))}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted((f.encode() for f in forms if len(f) >= _SHORTEST_SECRET), key=len, reverse=True)

    def line(self, raw: bytes) -> bytes:
        for secret in self._secrets:
            raw = raw.replace(secret, REDACTED)
        raw = _CODE_VALUE.sub(rb"\1" + REDACTED, raw)
        return _KEY_HEADER.sub(rb"\1" + REDACTED, raw)


def private_log(path: Path) -> BinaryIO:
    """Opened for appending, created readable and writable by the owner only (a log may hold what a
    redaction missed), and made so if an older stack left it readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


async def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    ready: ReadyLine | ReadyListening,
    ready_timeout: float = 60.0,
    echo: Echo | None = None,
    secrets: Sequence[str] = (),
) -> Child:
    """Start `argv` and wait until it is ready; its output goes to `log_dir/<name>.log` (and `echo`),
    redacted (`Redactor`, with the `secrets` the child was given).

    If the start is cancelled (a SIGTERM during start-up), the child is
    stopped before the cancellation goes on: nothing started is left running."""
    log_path = log_dir / f"{name}.log"
    log = private_log(log_path)
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
    )
    startup = StartupLines()
    child = Child(name, process, log_path)
    child._pump = asyncio.create_task(_pump_output(process, log, echo, startup, redactor=Redactor(secrets)))
    try:
        child.ports = await asyncio.wait_for(ready.wait(child, startup.lines), ready_timeout)
    except (TimeoutError, ChildFailed) as exc:
        await child.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ChildFailed(f"{name} did not become ready ({exc or 'timed out'}); its log ends:\n{tail}") from None
    except BaseException:
        await child.stop()
        raise
    finally:
        startup.close()
    return child


class StartupLines:
    """A child's output lines, kept for its readiness check and only until that check is over.

    The check stops reading once the child is ready; lines kept after that would only pile up for as
    long as the child runs (the function host logs every request: about 7 KB a delivery).
    """

    def __init__(self) -> None:
        self.lines: asyncio.Queue[bytes] = asyncio.Queue()
        self._open = True

    def offer(self, line: bytes) -> None:
        if self._open:
            self.lines.put_nowait(line)

    def close(self) -> None:
        self._open = False
        while not self.lines.empty():
            self.lines.get_nowait()


async def _pump_output(
    process: asyncio.subprocess.Process,
    log: Any,
    echo: Echo | None,
    startup: StartupLines,
    *,
    redactor: Redactor | None = None,
) -> None:
    assert process.stdout is not None
    redactor = redactor or Redactor()
    try:
        while raw := await process.stdout.readline():
            line = redactor.line(raw)
            log.write(line)
            startup.offer(line)
            if echo is not None:
                echo.write(line.decode(errors="replace"))
                echo.flush()
    finally:
        log.close()
        startup.offer(b"")  # end of output, for a check still waiting


@dataclass(frozen=True)
class ReadyLine:
    """The child prints `{"event": "ready", "port": P, ...}` on a line of its own when it is listening."""

    async def wait(self, child: Child, lines: asyncio.Queue[bytes]) -> tuple[int, ...]:
        while line := await lines.get():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("event") == "ready":
                    port = message.get("port")
                    if not isinstance(port, int) or isinstance(port, bool):
                        raise ChildFailed(f"its ready line names no port: {line!r}")
                    return (port,)
        raise ChildFailed(f"exited with code {await child.process.wait()}")


# Azurite 3.x, once a service listens: "Azurite Blob service is successfully listening at
# http://127.0.0.1:P" (azurite.js), or "... service successfully listens on https://..." (blob/main.js).
_AZURITE_LISTENING = re.compile(
    rb"Azurite (?P<service>Blob|Queue|Table) service (?:is successfully listening at|successfully listens on) "
    rb"https?://[^\s]*:(?P<port>\d+)"
)


@dataclass(frozen=True)
class ReadyListening:
    """Azurite is ready when each of `services` ("Blob", "Queue", "Table") has logged the port it listens on."""

    services: tuple[str, ...]

    async def wait(self, child: Child, lines: asyncio.Queue[bytes]) -> tuple[int, ...]:
        ports: dict[str, int] = {}
        while line := await lines.get():
            if match := _AZURITE_LISTENING.search(line):
                ports[match["service"].decode()] = int(match["port"])
                if all(service in ports for service in self.services):
                    return tuple(ports[service] for service in self.services)
        raise ChildFailed(f"exited with code {await child.process.wait()}")


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise ChildFailed("Node.js 20+ is required (node not found on PATH)")
    return node


def base_environment() -> dict[str, str]:
    """The parent's environment minus settings that would leak into children and change their behaviour."""
    env = dict(os.environ)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NODE_OPTIONS"):
        env.pop(name, None)
    return env
