"""The two files the stack writes: `.devstack/env.json` (for tests and tools) and `local.settings.json`
(for `func start`). Both are git-ignored; env.json appears only once everything is ready."""

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


def _write_private_json(path: Path, document: Mapping[str, Any]) -> None:
    # Readable by the owner only (it holds local keys), and renamed into place so a reader never sees
    # half a file: the existence of env.json is the readiness signal.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)
