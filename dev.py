#!/usr/bin/env python3
"""Bootstrap and run the project on a fresh clone: `python3 dev.py up` or `python3 dev.py test`.

Standard library only, so it runs before anything is installed. It creates `.venv` with the newest
suitable Python it can find (3.13, the version the app targets in Azure, else the running one if it is
3.11+), installs requirements-dev.txt and the local stack's npm packages when their inputs changed,
then hands over to the venv's interpreter.

What it cannot do (no suitable Python or Node.js, a venv that cannot be made, an install that fails)
it says in one line, `dev.py: ...`, and exits 1. SIGTERM, SIGHUP and (for `up`) SIGINT are passed on
to the command it runs, and dev.py waits for it: `up` then stops every child of the stack and removes
`.env` and `.devstack/env.json`, however dev.py was stopped.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
TOOLING = ROOT / "azure-devstack"  # the local Azure tooling, installed into .venv in editable mode
sys.path.insert(0, str(TOOLING / "src"))
from devstack.node_packages import ensure_node_packages  # noqa: E402  # standard library only, like this file
from devstack.preflight import StartError, check_node  # noqa: E402  # standard library only too

VENV = ROOT / ".venv"
CHECKOV_VENV = ROOT / ".venv-checkov"
PREFERRED = (3, 13)
MINIMUM = (3, 11)
COMPAT_MINORS = (11, 12)
# On 3.11 and 3.12: the app's own behaviour through the local host (ingest, queries, payloads,
# diagnostics, the digest, secrets). The rest of the suite is about the tooling and Azure's answers,
# which the Python running the app does not change, and runs once, on 3.13 (`test`).
COMPAT_INTEGRATION = tuple(
    f"tests/integration/test_{name}.py"
    for name in ("ingest", "queries", "diagnostics", "digest", "secrets", "hardening")
)

USAGE = """usage: python3 dev.py COMMAND [ARGS...]
  up [ARGS]     start the local Azure stack and serve the app (python -m devstack up --help)
  test [ARGS]   run lint, type checks and the whole test suite (extra ARGS go to pytest)
  check         before anything runs: the code's SDK calls against access.toml and infra/, Azure's names
  compat        run the unit and integration tests on every other Python (3.11, 3.12) found here
  bench [ARGS]  start a private stack and print latency and throughput (bench/run.py --help)
  setup         only create .venv and install Python and npm dependencies
  python ARGS   run the venv's python"""


class SetupError(Exception):
    """What dev.py cannot do for you, in one line saying what to install or change."""


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except (SetupError, StartError) as error:
        print(f"dev.py: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while setting up: nothing half-started to report
        return 130


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    commands: dict[str, Callable[[str], int]] = {
        "setup": lambda python: 0,
        "up": lambda python: up(python, args),
        "test": lambda python: run_tests(python, args),
        "check": lambda python: run([python, "-m", "devstack", "check", *args]),
        "bench": lambda python: run([python, "-m", "bench.run", *args]),
        "compat": lambda python: run_compat(args),
        "python": lambda python: run([python, *args]),
    }
    if command not in commands:
        print(USAGE, file=sys.stderr)
        return 2
    python = ensure_venv()
    ensure_python_packages(python)
    if command != "python":
        check_node()
        try:
            ensure_node_packages()
        except SystemExit as missing:  # npm not found: its message says what to install
            raise SetupError(str(missing.code)) from None
    return commands[command](python)


def up(python: str, args: list[str]) -> int:
    """The stack in a session of its own, stopped only through dev.py: Ctrl-C reaches dev.py alone,
    which passes it on once and waits, and the stack watches its stdin pipe from dev.py, so it stops
    cleanly even if dev.py is killed outright."""
    command = [python, "-m", "devstack", "up", *args, "--exit-on-stdin-eof"]
    return run(command, own_session=True)


def run_tests(python: str, pytest_args: list[str]) -> int:
    # The infra tests run checkov from its own venv; naming it makes a missing install fail, not skip.
    os.environ["CHECKOV"] = ensure_checkov()
    steps = [
        [python, "-m", "ruff", "check", "."],
        [python, "-m", "ruff", "format", "--check", "."],
        [python, "-m", "mypy"],
        [python, "-m", "pytest", *pytest_args],
    ]
    for step in steps:
        code = run(step)
        if code != 0:
            return code
    return 0


def run_compat(pytest_args: list[str]) -> int:
    """The app targets 3.13 in Azure but must also run on 3.11 and 3.12 (azure-functions 1.x there).

    The venvs are set up one after the other; the two test runs then go side by side (each starts
    its own stack on free ports), and their output is printed one after the other when both end."""
    found = {minor: path for minor in COMPAT_MINORS if (path := find_python(minor))}
    if not found:
        print("no Python 3.11 or 3.12 found; nothing to check", flush=True)
        return 0
    pythons = {}
    for minor, base in found.items():
        venv = ROOT / f".venv-py3.{minor}"
        pythons[minor] = ensure_venv(venv, base)
        ensure_python_packages(pythons[minor], venv)
    logs = {minor: (ROOT / ".devstack" / f"compat-py3.{minor}.log") for minor in pythons}
    for log in logs.values():
        log.parent.mkdir(parents=True, exist_ok=True)
    running = {}
    for minor, python in pythons.items():
        cmd = [python, "-m", "pytest", "-q", "tests/unit", *COMPAT_INTEGRATION, *pytest_args]
        print("+", " ".join(cmd), f"> {logs[minor].relative_to(ROOT)}", flush=True)
        with logs[minor].open("wb") as out:
            running[minor] = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        codes = {minor: process.wait() for minor, process in running.items()}
    finally:
        for process in running.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    for minor, log in logs.items():
        print(f"--- Python 3.{minor} (exit {codes[minor]}) ---", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
    return next((code for code in codes.values() if code != 0), 0)


def run(cmd: list[str], *, own_session: bool = False) -> int:
    """Run `cmd` until it exits, passing on the signals that would stop dev.py.

    SIGTERM and SIGHUP are passed on (as SIGTERM) and dev.py keeps waiting, so nothing is left running
    behind it. Ctrl-C reaches a command in dev.py's own process group by itself; one in a session of
    its own (`own_session`, with a stdin pipe it watches) gets SIGINT from dev.py instead."""
    print("+", " ".join(cmd), flush=True)
    posix = os.name == "posix"
    process = subprocess.Popen(
        cmd,
        cwd=ROOT,
        start_new_session=own_session and posix,
        stdin=subprocess.PIPE if own_session else None,
    )

    def pass_on(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    passed_on = [signal.SIGTERM, *([signal.SIGHUP] if posix else [])]
    # SIGINT: a command in our process group has it from the terminal already; a second one would
    # interrupt its own clean-up (pytest's summary, for one).
    previous = {signum: signal.signal(signum, pass_on) for signum in passed_on}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, pass_on if own_session else signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if process.stdin is not None:
            process.stdin.close()


def ensure_venv(venv: Path = VENV, base: str | None = None) -> str:
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        base = base or find_base_python()
        print(f"creating {venv.name} with {base}", flush=True)
        try:
            subprocess.check_call([base, "-m", "venv", str(venv)])
        except subprocess.CalledProcessError:
            version = ".".join(map(str, version_of(base)))
            raise SetupError(
                f"{base} could not create {venv.name} (its venv module or ensurepip is missing): install them "
                f"(Debian/Ubuntu: apt install python{version}-venv), remove {venv.name} and run dev.py again"
            ) from None
    found = version_of(str(python))
    if found < MINIMUM:
        shown = ".".join(map(str, found)) if found > (0, 0) else "a Python that does not run"
        raise SetupError(
            f"{venv.name} has {shown}; the project needs {_wanted()}: remove {venv.name} and run dev.py again"
        )
    return str(python)


def _wanted() -> str:
    return f"Python {MINIMUM[0]}.{MINIMUM[1]}+ ({PREFERRED[0]}.{PREFERRED[1]} preferred, as in Azure)"


def find_base_python() -> str:
    """The app targets 3.13, else the running Python if it is new enough."""
    preferred = find_python(PREFERRED[1])
    if preferred:
        return preferred
    if sys.version_info[:2] >= MINIMUM:
        return sys.executable
    raise SetupError(
        f"{_wanted()} is required; found {sys.version.split()[0]} and no Python {PREFERRED[0]}.{PREFERRED[1]}: "
        f"install Python {PREFERRED[0]}.{PREFERRED[1]} (python.org, your package manager, or "
        f"`pyenv install {PREFERRED[0]}.{PREFERRED[1]}`)"
    )


def find_python(minor: int) -> str | None:
    """Python 3.<minor> on PATH or under pyenv (which installs versions without putting them on PATH)."""
    candidates = [shutil.which(f"python3.{minor}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.{minor}*/bin/python3.{minor}"), reverse=True)
    if sys.version_info[:2] == (3, minor):
        candidates.append(sys.executable)
    for candidate in filter(None, candidates):
        if version_of(candidate) == (3, minor):
            return candidate
    return None


def version_of(python: str) -> tuple[int, int]:
    try:
        out = subprocess.check_output([python, "-c", "import sys; print(*sys.version_info[:2])"], text=True)
    except (OSError, subprocess.CalledProcessError):
        return (0, 0)
    major, minor = out.split()
    return (int(major), int(minor))


def ensure_checkov() -> str:
    bin_dir = CHECKOV_VENV / ("Scripts" if os.name == "nt" else "bin")
    requirements = ROOT / "requirements-checkov.txt"
    stamp = CHECKOV_VENV / ".requirements.sha256"
    if not is_current(stamp, [requirements]):
        if not bin_dir.exists():
            ensure_venv(CHECKOV_VENV)
        pip_install(str(bin_dir / "python"), requirements)
        stamp.write_text(digest([requirements]))
    return str(bin_dir / ("checkov.cmd" if os.name == "nt" else "checkov"))


def ensure_python_packages(python: str, venv: Path = VENV) -> None:
    inputs = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt", TOOLING / "pyproject.toml"]
    stamp = venv / ".requirements.sha256"
    if is_current(stamp, inputs):
        return
    pip_install(python, ROOT / "requirements-dev.txt")
    stamp.write_text(digest(inputs))


def pip_install(python: str, requirements: Path) -> None:
    try:
        subprocess.check_call([python, "-m", "pip", "install", "--quiet", "-r", str(requirements)], cwd=ROOT)
    except subprocess.CalledProcessError as failed:
        raise SetupError(
            f"pip install -r {requirements.name} failed (exit {failed.returncode}): pip's output above says why"
        ) from None


def is_current(stamp: Path, inputs: list[Path]) -> bool:
    return stamp.exists() and stamp.read_text() == digest(inputs)


def digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
