"""The frame never imports a feature: a new service keeps frame/ as it is and replaces webhooks/.

Read from the source (every import statement, at any depth, including those inside functions), so an
import added for a quick fix fails here before it couples the two.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the repository root
FEATURES = ("webhooks", "function_app")  # function_app.py is where frame and feature meet


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add("." * node.level + (node.module or ""))
    return found


FRAME_MODULES = sorted((ROOT / "frame").glob("*.py"))


@pytest.mark.parametrize("path", FRAME_MODULES, ids=lambda path: path.name)
def test_no_frame_module_imports_a_feature(path: Path) -> None:
    imports = imported_modules(path)
    assert not {name for name in imports if name.split(".")[0] in FEATURES}, f"frame/{path.name} imports a feature"
    assert not {name for name in imports if name.startswith(".")}, "relative imports hide which package they reach"


def test_the_frame_is_all_there() -> None:
    """The layout the README describes, so the test above cannot pass by finding nothing."""
    names = {path.stem for path in FRAME_MODULES}
    assert {"settings", "identity", "clients", "dependencies", "access", "diagnostics", "invocation"} <= names


def test_importing_the_frame_alone_loads_no_feature() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    modules = ", ".join(f"frame.{path.stem}" for path in FRAME_MODULES if path.stem != "__init__")
    probe = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] in {FEATURES!r}))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
