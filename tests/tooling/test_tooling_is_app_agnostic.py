"""The local Azure tooling (azure-devstack/) knows nothing of this app: no import of it, and none of its
names. What it must know, it reads from [tool.devstack], the app's declaration and infra/."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

from devstack import role_advice
from devstack.declaration import Declaration
from devstack.project import Project

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ROOT / "azure-devstack" / "src"
# The tooling's own files: its Python and the Node wrappers it ships (not the npm packages or lock file).
SOURCE_SUFFIXES = (".py", ".js")


def tooling_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", str(TOOLING)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if name.endswith(SOURCE_SUFFIXES)]


def app_packages() -> set[str]:
    """The app's top-level modules: the entry point and every package beside it that it imports."""
    entry = ROOT / tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["devstack"]["function-app"]
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(entry.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    return {entry.stem} | {name for name in imported if (ROOT / name).is_dir()}


def app_names() -> set[str]:
    """The names this app gives things: its settings, and the values infra/ gives them (containers,
    database, sources), and its secrets' prefix."""
    project = Project.find(ROOT)
    _, resources = role_advice.evaluate(project)
    names: set[str] = set()
    for resource in Declaration.load(project.access_file).resources:
        names |= set(resource.settings_used())
        names |= {str(resources.settings[s]) for s in (resource.container_setting, resource.database_setting) if s}
        for name, value in resource.secrets(resources.settings).items():
            names |= {value, name.replace(value, "")}
    return {name for name in names if len(name) > 2}


def test_the_tooling_never_imports_the_app() -> None:
    packages = app_packages()
    offenders = []
    for path in tooling_files():
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            offenders += [f"{where} imports {m}" for m in modules if m.split(".")[0] in packages]
    assert offenders == [], "\n".join(offenders)


def test_the_tooling_names_none_of_the_apps_names() -> None:
    names = app_names()
    assert {"WEBHOOK_SOURCES", "webhook-", "github"} <= names  # the test looks for something real
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(n)}(?![\w])" for n in sorted(names, key=len, reverse=True)))
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for path in tooling_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in pattern.finditer(line)
    ]
    assert found == [], "\n".join(found)
