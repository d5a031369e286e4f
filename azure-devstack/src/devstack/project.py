"""The app the tools serve, as it describes itself: the `[tool.devstack]` table of its pyproject.toml.

```toml
[tool.devstack]
function-app = "function_app.py"   # the entry point the Functions host indexes
infra = "infra"                    # main.bicep and main.parameters.json, as azd deploys them
access = "myapp/access.toml"       # the data actions the code performs (devstack/declaration.py)
grants = "myapp/grants.json"       # generated from the two above; the app reads it at run time
```

Paths are relative to the pyproject.toml. The tools find it from the working directory upwards, so
they work from anywhere inside the app's folder, and nothing in them names an app.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "devstack"
STATE_DIR = ".devstack"  # certificates, logs and env.json, beside the app (and in its .gitignore)


class ProjectError(ValueError):
    """The app's declaration is missing or wrong; the message says what to do, in one line."""


@dataclass(frozen=True)
class Project:
    root: Path
    function_app: Path
    infra_dir: Path
    access_file: Path
    grants_file: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file() and TABLE in _tool_tables(pyproject):
                return cls.load(pyproject)
        raise ProjectError(
            f"no pyproject.toml with a [tool.{TABLE}] table in {here} or above: run from your app's folder "
            f"(see the azure-devstack README for the table)"
        )

    @classmethod
    def load(cls, pyproject: Path) -> Project:
        table = _tool_tables(pyproject).get(TABLE)
        if not isinstance(table, dict):
            raise ProjectError(f"{pyproject} has no [tool.{TABLE}] table")
        root = pyproject.parent.resolve()
        project = cls(
            root=root,
            function_app=root / _text(table, "function-app", pyproject),
            infra_dir=root / _text(table, "infra", pyproject),
            access_file=root / _text(table, "access", pyproject),
            grants_file=root / _text(table, "grants", pyproject),
        )
        for path, what in (
            (project.function_app, "function-app"),
            (project.infra_dir / "main.bicep", "infra"),
            (project.access_file, "access"),
        ):
            if not path.exists():
                raise ProjectError(f"[tool.{TABLE}] {what} in {pyproject}: {path} does not exist")
        return project


def _tool_tables(pyproject: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(pyproject.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{pyproject} is not valid TOML: {error}") from None
    tool = document.get("tool", {})
    return tool if isinstance(tool, dict) else {}


def _text(table: dict[str, Any], key: str, pyproject: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ProjectError(f'[tool.{TABLE}] in {pyproject} needs {key} = "<path>"')
    return value
