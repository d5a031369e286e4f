"""Child processes of the stack: start, wait until ready, stop, and never outlive the parent.

Each child gets a pipe on stdin that the stack never writes to. The children watch it (guard.js for
Azurite, the Cosmos server and the function host do it themselves) and exit at end-of-file, which is
what they see when the stack dies, even by SIGKILL. A normal stop sends SIGTERM, then SIGKILL after a
grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

STOP_GRACE_SECONDS = 5.0


class ChildFailed(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    ready: ReadyLine | ReadyPort,
    ready_timeout: float = 60.0,
    echo: TextIO | None = None,
) -> Child:
    """Start `argv` and wait until it is ready; its output goes to `log_dir/<name>.log` (and `echo`)."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab", buffering=0)
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
    )
    child = Child(name, process, log_path)
    first_lines: asyncio.Queue[bytes] = asyncio.Queue()
    child._pump = asyncio.create_task(_pump_output(process, log, echo, first_lines))
    try:
        await asyncio.wait_for(ready.wait(child, first_lines), ready_timeout)
    except (TimeoutError, ChildFailed) as exc:
        await child.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ChildFailed(f"{name} did not become ready ({exc or 'timed out'}); its log ends:\n{tail}") from None
    return child


async def _pump_output(
    process: asyncio.subprocess.Process, log: Any, echo: TextIO | None, lines: asyncio.Queue[bytes]
) -> None:
    assert process.stdout is not None
    try:
        while line := await process.stdout.readline():
            log.write(line)
            lines.put_nowait(line)
            if echo is not None:
                echo.write(line.decode(errors="replace"))
                echo.flush()
    finally:
        log.close()
        lines.put_nowait(b"")


@dataclass(frozen=True)
class ReadyLine:
    """The child prints `{"event": "ready", ...}` on a line of its own when it is listening."""

    async def wait(self, child: Child, lines: asyncio.Queue[bytes]) -> None:
        while line := await lines.get():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("event") == "ready":
                    return
        raise ChildFailed(f"exited with code {await child.process.wait()}")


@dataclass(frozen=True)
class ReadyPort:
    """The child (Azurite) is ready when every one of its ports accepts connections."""

    ports: tuple[int, ...]
    host: str = "127.0.0.1"

    async def wait(self, child: Child, lines: asyncio.Queue[bytes]) -> None:
        for port in self.ports:
            while not await _accepts(self.host, port):
                if child.process.returncode is not None:
                    raise ChildFailed(f"exited with code {child.process.returncode}")
                await asyncio.sleep(0.05)


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


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
