"""What `python -m devstack up` checks before it starts anything: the ports it was told to use, Node.js,
and that no other stack runs in the same state folder.

Standard library only: dev.py uses it before any virtual environment exists.

Each failure is a `StartError` whose message is one line saying what to do; `up` prints it as
`devstack: <message>` and exits 1, without a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from devstack.node_packages import NODE_DIR

try:  # POSIX; elsewhere the lock falls back to a pid file (below)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOOPBACK = "127.0.0.1"
HOST_PORT_OPTION = "--host-port"
LOCK_FILE = "stack.lock"


class StartError(Exception):
    """The stack cannot start; the message says why and what to do, in one line."""


# ---- ports ----------------------------------------------------------------------------------------


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when binding `host:port` fails with "address in use", as the stack's own bind would.

    SO_REUSEADDR as aiohttp and Node set it: a port in TIME_WAIT is free, a listening one is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def port_taken_message(port: int, option: str) -> str:
    if option == HOST_PORT_OPTION:
        return (
            f"port {port} is in use (another func start or dev.py up?): stop it, "
            f"or pass {HOST_PORT_OPTION} 0 for a free one"
        )
    return f"port {port} is in use: stop what listens there, or pass {option} 0 for a free one"


def check_ports(ports: Mapping[str, tuple[int, ...]]) -> None:
    """`ports`: option -> the fixed ports it asks for (0 = any free one, never checked)."""
    for option, numbers in ports.items():
        for port in numbers:
            if port and port_in_use(port):
                raise StartError(port_taken_message(port, option))


# ---- Node.js --------------------------------------------------------------------------------------

_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def node_minimum(node_dir: Path = NODE_DIR) -> int:
    """The major version package.json's `engines.node` (">=N") asks for."""
    engines = json.loads((node_dir / "package.json").read_text()).get("engines", {})
    match = re.fullmatch(r"\s*>=\s*(\d+)(?:\.\d+)*\s*", str(engines.get("node", ">=0")))
    return int(match.group(1)) if match else 0


def check_node(node_dir: Path = NODE_DIR) -> str:
    """The `node` on PATH, if it is new enough for the stack's npm packages; StartError otherwise."""
    minimum = node_minimum(node_dir)
    wanted = f"Node.js {minimum} or newer" if minimum else "Node.js"
    why = "for Azurite and the Cosmos server"
    node = shutil.which("node")
    if node is None:
        raise StartError(f"{wanted} is required {why}, and `node` is not on PATH: install it (https://nodejs.org)")
    try:
        reply = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise StartError(f"{wanted} is required {why}; {node} does not run ({error}): reinstall Node.js") from None
    match = _VERSION.match(reply)
    if match is None:
        raise StartError(f"{wanted} is required {why}; `{node} --version` says {reply!r}: reinstall Node.js")
    if int(match.group(1)) < minimum:
        raise StartError(f"{wanted} is required {why}; {node} is {reply}: install {wanted} (https://nodejs.org)")
    return node


# ---- one stack per state folder -------------------------------------------------------------------


class StateLock:
    """Held for the life of a stack: its pid in `<state dir>/stack.lock`, locked with flock.

    The kernel drops the lock when the process dies however it dies, so a lock file left by a dead
    stack is simply taken over. Taking it writes nothing else, so a refused second stack leaves the
    running one's files as they are."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, state_dir: Path) -> StateLock:
        private_folder(state_dir)
        path = state_dir / LOCK_FILE
        if fcntl is None:  # pragma: no cover - Windows
            return cls._take_pid_file(path, state_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # never truncated here: it may be another's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_pid(fd)
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise StartError(already_running(state_dir, holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @classmethod
    def _take_pid_file(cls, path: Path, state_dir: Path) -> StateLock:  # pragma: no cover - Windows
        with contextlib.suppress(FileNotFoundError):
            holder = _pid_in(path.read_text())
            if holder is not None and holder != os.getpid() and _alive(holder):
                raise StartError(already_running(state_dir, holder))
        path.write_text(f"{os.getpid()}\n")
        return cls(path, os.open(path, os.O_RDONLY))

    def release(self) -> None:
        """Empty the file (no pid of a stopped stack stays behind), then let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def private_folder(path: Path) -> Path:
    """A folder only its owner can enter: the state folder holds keys, tokens' secrets and logs. Created so;
    one of ours left open by an older stack is closed (a folder of another user's is left as it is)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def already_running(state_dir: Path, pid: int | None) -> str:
    who = f"pid {pid}" if pid else "pid unknown"
    stop = f"stop it first (Ctrl-C in its terminal, or kill {pid})" if pid else "stop it first"
    return f"a local stack is already running in {state_dir} ({who}): {stop}, or pass --state-dir DIR for another"


def _read_pid(fd: int) -> int | None:
    try:
        return _pid_in(os.pread(fd, 64, 0).decode(errors="replace"))
    except OSError:
        return None


def _pid_in(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _alive(pid: int) -> bool:  # pragma: no cover - Windows fallback only
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
