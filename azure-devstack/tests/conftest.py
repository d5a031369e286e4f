"""The tooling's own tests serve their own app (minimal_app/), never the template's."""

from __future__ import annotations

from pathlib import Path

import pytest

MINIMAL_APP = Path(__file__).resolve().parent / "minimal_app"


@pytest.fixture(scope="session")
def devstack_project() -> Path:
    return MINIMAL_APP
