"""azure.yaml deploys this folder as a Python function app and runs its cross-platform hooks;
.funcignore keeps development tooling out of the deployment package."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from .conftest import INFRA, REPO

AZURE_YAML = REPO / "azure.yaml"
FUNCIGNORE = REPO / ".funcignore"


def load_block_yaml(source: str) -> dict[str, Any]:
    """Parse the subset azure.yaml uses: nested `key: value` mappings and comments. No YAML library
    is a dependency of this project; anything outside the subset is an error, not a guess."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"( *)([A-Za-z_][\w-]*):(?: +(\S.*?))?\s*", line)
        if match is None:
            raise ValueError(f"azure.yaml:{number}: not a `key: value` line: {line!r}")
        indent, key, value = len(match.group(1)), match.group(2), match.group(3)
        while indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value is None:
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append((indent, child))
        else:
            parent[key] = value
    return root


@pytest.fixture(scope="module")
def azure_yaml() -> dict[str, Any]:
    return load_block_yaml(AZURE_YAML.read_text())


def test_service_api_is_a_python_function_app_at_the_root(azure_yaml: dict[str, Any]) -> None:
    assert azure_yaml["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert (REPO / "function_app.py").is_file()


def test_infra_points_at_main_bicep(azure_yaml: dict[str, Any]) -> None:
    infra = azure_yaml["infra"]
    assert infra["provider"] == "bicep"
    assert (REPO / infra["path"] / f"{infra['module']}.bicep") == INFRA / "main.bicep"


@pytest.mark.parametrize("event", ["postprovision", "postdeploy"])
def test_each_hook_runs_the_same_python_script_everywhere(azure_yaml: dict[str, Any], event: str) -> None:
    hook = azure_yaml["hooks"][event]
    assert set(hook) == {"posix", "windows"}
    assert hook["posix"]["shell"] == "sh"
    assert hook["windows"]["shell"] == "pwsh"
    scripts = set()
    for platform in hook.values():
        interpreter, script = platform["run"].split()
        assert interpreter in {"python", "python3"}
        scripts.add(script)
        assert platform.get("continueOnError", "false") == "false"
    assert scripts == {f"infra/hooks/{event}.py"}
    assert (REPO / f"infra/hooks/{event}.py").is_file()
    assert not list((INFRA / "hooks").glob("*.sh")) + list((INFRA / "hooks").glob("*.ps1"))


def test_the_postdeploy_check_is_shown_on_the_console(azure_yaml: dict[str, Any]) -> None:
    """Without `interactive`, `azd up` sends a postdeploy hook's output nowhere (Azure/azure-dev#9073).
    The hook never reads stdin, so binding it to the console cannot make it wait for input."""
    for platform in azure_yaml["hooks"]["postdeploy"].values():
        assert platform["interactive"] == "true"


def test_block_yaml_subset_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(ValueError, match="not a `key: value` line"):
        load_block_yaml("services:\n  - api\n")


def funcignored(name: str, *, is_dir: bool) -> bool:
    """Whether a top-level entry matches .funcignore (gitignore-style; the file uses no negations
    and no nested paths, which test_funcignore_is_simple keeps true)."""
    for pattern in patterns():
        if pattern.endswith("/") and not is_dir:
            continue
        if fnmatch.fnmatchcase(name, pattern.rstrip("/")):
            return True
    return False


def patterns() -> list[str]:
    lines = (line.strip() for line in FUNCIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_funcignore_is_simple() -> None:
    assert all(not p.startswith("!") and "/" not in p.rstrip("/") for p in patterns())


SHIPPED = {"function_app.py", "host.json", "requirements.txt", "inbox"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_funcignore_ships_the_app(name: str) -> None:
    assert not funcignored(name, is_dir=(REPO / name).is_dir())


def test_funcignore_keeps_every_other_top_level_entry_out() -> None:
    """A new tool folder (bench/, docs/) is development tooling until someone decides otherwise."""
    shipped_by_accident = [
        entry.name
        for entry in REPO.iterdir()
        if entry.name not in SHIPPED and not funcignored(entry.name, is_dir=entry.is_dir())
    ]
    assert shipped_by_accident == []


@pytest.mark.parametrize(
    ("name", "is_dir"),
    [
        (".venv", True),
        (".azure", True),
        ("devstack", True),
        ("tests", True),
        ("infra", True),
        ("docs", True),
        ("dev.py", False),
        ("local.settings.json", False),
        ("requirements-dev.txt", False),
        ("pyproject.toml", False),
        (".git", True),
        ("__pycache__", True),
    ],
)
def test_funcignore_leaves_tooling_and_secrets_out(name: str, is_dir: bool) -> None:
    assert funcignored(name, is_dir=is_dir)
