"""Install the stack's npm packages (Azurite, the Cosmos server) when they are missing or stale.

Standard library only: dev.py calls it before any virtual environment exists, and the stack calls it
before starting its Node children, so `python -m devstack up` works on a fresh clone too.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"


def ensure_node_packages(node_dir: Path = NODE_DIR) -> None:
    inputs = [node_dir / "package.json", node_dir / "package-lock.json"]
    stamp = node_dir / "node_modules" / ".lock.sha256"
    wanted = _digest(inputs)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm (Node.js 20+) is required for Azurite and the Cosmos server; install Node.js and retry")
    print("installing the local stack's npm packages (npm ci)", flush=True)
    subprocess.check_call([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node_dir)
    stamp.write_text(wanted)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()
