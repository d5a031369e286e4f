"""The `.env` the stack writes for test.http: its own is replaced and removed, a developer's is kept."""

from __future__ import annotations

import stat
from pathlib import Path

from devstack.settings_files import EnvFile, remove_dotenv, write_dotenv

ENV = EnvFile("http://127.0.0.1:7071", "function-key", "master-key", "", "", "", {})


def test_the_stacks_dotenv_holds_the_url_and_keys_for_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert write_dotenv(path, ENV)
    lines = path.read_text().splitlines()
    assert lines[1:] == [
        "DEVSTACK_HOST_URL=http://127.0.0.1:7071",
        "DEVSTACK_FUNCTION_KEY=function-key",
        "DEVSTACK_MASTER_KEY=master-key",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write_dotenv(path, EnvFile("http://127.0.0.1:7072", "k2", "m2", "", "", "", {}))  # next start
    remove_dotenv(path)
    assert not path.exists()


def test_a_dotenv_of_the_developers_own_is_never_replaced_or_removed(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("MY_SETTING=1\n")
    assert not write_dotenv(path, ENV)
    remove_dotenv(path)
    assert path.read_text() == "MY_SETTING=1\n"
