"""The files the stack writes: `.devstack/env.json` (for tests and tools), `local.settings.json` (for
`func start`) and `.env` (the host URL and keys, for a REST Client `.http` file). All are git-ignored;
env.json appears only once everything is ready.

`local.settings.json` and `.env` are the app's files too: the stack marks its own (a `"_devstack"` key,
a first comment line), rewrites them at every start, and leaves any other alone. Core Tools reads only
`IsEncrypted`, `Values`, `ConnectionStrings` and `Host` from local.settings.json (AppSettingsFile), so
the extra key changes nothing for `func start`; `func settings add` drops it, which makes the file
yours from then on."""

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


LOCAL_SETTINGS_MARKER = "_devstack"
LOCAL_SETTINGS_NOTE = (
    "written by python -m devstack up; rewritten on each start (remove this line to keep the file as yours)"
)


def write_local_settings(path: Path, settings: Mapping[str, str], *, force: bool) -> bool:
    """Write local.settings.json for `func start`: the stack's own file is rewritten at every start (its
    identity header, proxy and ports change each time); one you wrote is kept unless `force`."""
    if path.exists() and not force and not written_by_stack(path):
        print(
            f'kept your {path.name} (it has no "{LOCAL_SETTINGS_MARKER}" key): pass --force once to replace it '
            "with the local stack's settings",
            file=sys.stderr,
        )
        return False
    document = {
        LOCAL_SETTINGS_MARKER: LOCAL_SETTINGS_NOTE,
        "IsEncrypted": False,
        "Values": dict(settings),
        "Host": {"LocalHttpPort": LOCAL_HTTP_PORT},
    }
    _write_private_json(path, document)
    return True


def written_by_stack(path: Path) -> bool:
    """A local.settings.json the stack wrote: a JSON object with the marker key."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and LOCAL_SETTINGS_MARKER in document


DOTENV_MARKER = "# written by `python -m devstack up`: the local stack's URL and keys, replaced at each start"
# The first line of a .env written before the tooling had its own name: still the stack's.
_OLD_DOTENV_MARKER = "# written by `python3 dev.py up`:"


def write_dotenv(path: Path, env: EnvFile) -> bool:
    """`.env` for REST Client (`{{$dotenv NAME}}` in a .http file); a `.env` of your own is kept."""
    if path.exists() and not _dotenv_is_stacks(path):
        print(f"kept your {path.name}: .http files need DEVSTACK_HOST_URL and the keys in it", file=sys.stderr)
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
    if path.exists() and _dotenv_is_stacks(path):
        path.unlink()


def _dotenv_is_stacks(path: Path) -> bool:
    return path.read_text().startswith((DOTENV_MARKER, _OLD_DOTENV_MARKER))


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
