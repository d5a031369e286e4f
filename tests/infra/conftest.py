"""Fixtures for the infra checks: the parsed infra/ directory and broken copies of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from devstack.declaration import Declaration
from devstack.project import Project
from infra_model.syntax import BicepFile, Infra

from frame.settings import AppSettings
from function_app import SETTINGS

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# The app as it describes itself, which the checks compare infra/ against (never a copied name): its
# settings classes, as function_app.py lists them, and its declaration of the resources it uses and
# the app settings that locate them ([tool.devstack] access in pyproject.toml).
APP_SETTINGS: tuple[type[AppSettings], ...] = SETTINGS
DECLARATION = Declaration.load(Project.load(REPO / "pyproject.toml").access_file)


def required_setting_names() -> frozenset[str]:
    """App settings without a default: every deployment must set them."""
    return frozenset(name for settings in APP_SETTINGS for name in settings.required_names())


def all_setting_names() -> frozenset[str]:
    return frozenset(name for settings in APP_SETTINGS for name in settings.names())


Mutate = Callable[..., Infra]


@pytest.fixture(scope="session")
def infra() -> Infra:
    return Infra(INFRA)


def copy_infra(destination: Path) -> Path:
    shutil.copytree(INFRA, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def replace_text(path: Path, old: str, new: str, *, expect: int = 1) -> None:
    """Replace every `old` in the file, insisting it occurs `expect` times: a mutation that
    silently matched nothing would make its test pass for the wrong reason."""
    source = path.read_text()
    found = source.count(old)
    if found != expect:
        raise AssertionError(f"{path.name}: expected {expect} occurrence(s) of {old!r}, found {found}")
    path.write_text(source.replace(old, new))


def drop_resource(path: Path, symbol: str) -> None:
    """Delete one resource declaration, located through the syntax tree rather than by text."""
    file = BicepFile(path)
    resource = file.resources[symbol]
    node = next(n for n in file.root.named_children if n.start_point.row + 1 == resource.line)
    path.write_bytes(file.source[: node.start_byte] + file.source[node.end_byte :])


@pytest.fixture
def mutant(tmp_path: Path) -> Mutate:
    """mutant('modules/x.bicep', old, new[, expect=n]) or mutant('modules/x.bicep', drop='symbol'):
    a copy of infra/ with that one mistake, parsed."""

    def make(relative: str, old: str = "", new: str = "", *, expect: int = 1, drop: str = "") -> Infra:
        root = copy_infra(tmp_path / "infra")
        if drop:
            drop_resource(root / relative, drop)
        else:
            replace_text(root / relative, old, new, expect=expect)
        return Infra(root)

    return make
