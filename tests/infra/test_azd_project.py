"""azure.yaml deploys this folder as a Python function app and runs its cross-platform hooks;
.funcignore keeps development tooling out of the deployment package."""

from __future__ import annotations

import ast
import fnmatch
import re
from typing import Any

import pytest
from infra_model.syntax import Infra, Node, text

from . import rules
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


SERVICE_TAG = "azd-service-name"


def service_tags() -> list[str]:
    """The azd service names infra/'s function apps are tagged with (azd deploys a service to the
    resource whose `azd-service-name` tag is that service's name)."""
    found = []
    for file, site in rules.function_apps(Infra(INFRA)):
        tags = site.get("tags")
        for node in [] if tags is None else _walk(tags):
            if node.type == "object_property" and file.literal(node.named_children[0]) == SERVICE_TAG:
                found.append(str(file.literal(node.named_children[-1]) or text(node.named_children[-1])))
    return found


def _walk(node: Node) -> list[Node]:
    return [node, *(n for child in node.named_children for n in _walk(child))]


def test_the_one_service_is_a_python_function_app_at_the_root(azure_yaml: dict[str, Any]) -> None:
    services = azure_yaml["services"]
    assert len(services) == 1, f"azure.yaml declares services {sorted(services)}; this project deploys one function app"
    ((name, service),) = services.items()
    assert service == {"project": ".", "language": "python", "host": "function"}, (
        f"azure.yaml service {name!r} is {service}; deploy the repository root as a Python function app "
        "(project: ., language: python, host: function)"
    )
    assert (REPO / "function_app.py").is_file(), "function_app.py, which the Functions host indexes, is missing"
    assert service_tags() == [name], (
        f"infra/'s function app is tagged {SERVICE_TAG} {service_tags()}, azure.yaml's service is {name!r}; "
        f"azd deploys only to a resource tagged with the service's name, so make them the same"
    )


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


def imported_packages() -> set[str]:
    """The top-level folders and modules of this repository that function_app.py imports: the app's code."""
    tree = ast.parse((REPO / "function_app.py").read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    tops = {name.split(".")[0] for name in names}
    return {t for t in tops if (REPO / t).is_dir()} | {f"{t}.py" for t in tops if (REPO / f"{t}.py").is_file()}


# What the Functions host needs: the entry point, the host's configuration, the runtime dependencies
# (Flex builds them remotely) and the app's own code.
SHIPPED = {"function_app.py", "host.json", "requirements.txt", *imported_packages()}


def test_the_app_code_is_found() -> None:
    assert imported_packages(), "function_app.py imports no package of this repository; the app's code is not shipped"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_funcignore_ships_the_app(name: str) -> None:
    assert not funcignored(name, is_dir=(REPO / name).is_dir()), (
        f".funcignore leaves {name} out of the deployment package, and the app needs it; remove its pattern"
    )


def test_funcignore_keeps_every_other_top_level_entry_out() -> None:
    """A new tool folder (bench/, docs/) is development tooling until someone decides otherwise."""
    shipped_by_accident = [
        entry.name
        for entry in REPO.iterdir()
        if entry.name not in SHIPPED and not funcignored(entry.name, is_dir=entry.is_dir())
    ]
    assert not shipped_by_accident, (
        f"{', '.join(sorted(shipped_by_accident))} would be deployed with the app; add them to .funcignore "
        "(or import them from function_app.py if the app needs them)"
    )


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
    assert funcignored(name, is_dir=is_dir), f"{name} would be deployed with the app; add it to .funcignore"
