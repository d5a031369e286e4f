"""The tooling's own tests serve their own app (minimal_app/), never the template's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.pytest_plugin import serve
from devstack.testing import StackInfo

MINIMAL_APP = Path(__file__).resolve().parent / "minimal_app"


@pytest.fixture(scope="session")
def devstack_project() -> Path:
    return MINIMAL_APP


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The minimal app's session stack: a fixture of its own, so a session that also runs the app's
    tests starts one stack per app (see devstack.pytest_plugin.serve)."""
    yield from serve(tmp_path_factory, [], MINIMAL_APP)
