"""The files the stack writes: `.devstack/env.json` (for tests and tools), `local.settings.json` (for
`func start`) and `.env` (the host URL and keys, for test.http's REST Client). All are git-ignored;
env.json appears only once everything is ready."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOCAL_HTTP_PORT = 7071


@dataclass(frozen=True)
class EnvFile:
    host_url: str
    function_key: str
    master_key: str
    token_stats_url: str
    keyvault_stats_url: str
    ca_bundle: str
    settings: Mapping[str, str]
    devstack: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> EnvFile:
        return cls("", "", "", "", "", "", {})

    @classmethod
    def load(cls, path: Path) -> EnvFile:
        return cls(**json.loads(path.read_text()))


def write_env_file(path: Path, env: EnvFile) -> None:
    _write_private_json(path, asdict(env))


def write_local_settings(path: Path, settings: Mapping[str, str], *, force: bool) -> bool:
    """Write local.settings.json for `func start`; an existing file is kept unless `force`."""
    if path.exists() and not force:
        print(
            f"kept your {path.name} (pass --force to replace it with the local stack's settings)",
            file=sys.stderr,
        )
        return False
    document = {"IsEncrypted": False, "Values": dict(settings), "Host": {"LocalHttpPort": LOCAL_HTTP_PORT}}
    _write_private_json(path, document)
    return True


DOTENV_MARKER = "# written by `python3 dev.py up`: the local stack's URL and keys, replaced at each start"


def write_dotenv(path: Path, env: EnvFile) -> bool:
    """`.env` for test.http (REST Client reads it with {{$dotenv NAME}}); a `.env` of your own is kept."""
    if path.exists() and not path.read_text().startswith(DOTENV_MARKER):
        print(f"kept your {path.name}: test.http needs DEVSTACK_HOST_URL and the keys in it", file=sys.stderr)
        return False
    lines = [
        DOTENV_MARKER,
        f"DEVSTACK_HOST_URL={env.host_url}",
        f"DEVSTACK_FUNCTION_KEY={env.function_key}",
        f"DEVSTACK_MASTER_KEY={env.master_key}",
    ]
    _write_private_text(path, "\n".join(lines) + "\n")
    return True


def remove_dotenv(path: Path) -> None:
    """At stop: the keys it holds die with the stack; a `.env` of your own is left alone."""
    if path.exists() and path.read_text().startswith(DOTENV_MARKER):
        path.unlink()


def _write_private_json(path: Path, document: Mapping[str, Any]) -> None:
    _write_private_text(path, json.dumps(document, indent=2) + "\n")


def _write_private_text(path: Path, text: str) -> None:
    # Readable by the owner only (it holds local keys), and renamed into place so a reader never sees
    # half a file: the existence of env.json is the readiness signal.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
