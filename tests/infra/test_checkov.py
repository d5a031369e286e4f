"""checkov's Bicep checks and the project's own policies (tests/infra/checkov/*.yaml) pass on infra/.

checkov runs offline (--skip-download, BC_SKIP_MAPPING) once per session over four copies of infra/:
- the real one, which must parse completely and fail nothing;
- one copy per network mode, because checkov reads Bicep statically and cannot evaluate a ternary
  on a parameter: in each, every `vnetEnabled ? a : b` is replaced by the branch that mode deploys
  (in every file: the modules take vnetEnabled too). The vnetEnabled true copy also loses every skip
  whose reason says it holds for `vnetEnabled false (the default)`, and must pass those checks
  without them; the false copy keeps them, so the skips are shown to be needed and to be the only
  thing the public mode needs;
- one with shared keys turned back on, which the project's policy must catch.
checkov exits 0 even when a file does not parse, so the JSON summary's parsing_errors is what is
checked. Skipped when checkov is not installed (see find_checkov and the README, "Infrastructure").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_model.syntax import BicepFile, Node, text

from .conftest import INFRA, REPO, copy_infra, replace_text

POLICIES = Path(__file__).resolve().parent / "checkov"
REAL = "/real/"
PUBLIC = "/vnet-off/"
PRIVATE = "/vnet-on/"
SHARED_KEY_ON = "/shared-key-on/"
SWITCH = "vnetEnabled"
# An inline skip whose reason starts so holds for the public mode only.
PUBLIC_ONLY = "vnetEnabled false (the default)"


def find_checkov() -> str | None:
    """$CHECKOV, else a checkov next to this Python, in .venv-checkov (its many pinned dependencies
    conflict with the project's, so it may live in a venv of its own), or on PATH."""
    explicit = os.environ.get("CHECKOV", "").strip()
    if explicit:
        return explicit
    own_venv = REPO / ".venv-checkov" / ("Scripts" if os.name == "nt" else "bin")
    for directory in (Path(sys.executable).parent, own_venv):
        found = shutil.which("checkov", path=str(directory))
        if found:
            return found
    return shutil.which("checkov")


def project_policy_ids() -> set[str]:
    return {
        match.group(1)
        for path in POLICIES.glob("*.yaml")
        for match in re.finditer(r"^\s+id:\s*(\S+)\s*$", path.read_text(), flags=re.MULTILINE)
    }


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    checkov = find_checkov()
    if checkov is None:
        pytest.skip("checkov is not installed; set CHECKOV=/path/to/checkov (see the README, 'Infrastructure')")
    root = tmp_path_factory.mktemp("checkov")
    copy_infra(root / REAL.strip("/"))
    in_mode(copy_infra(root / PUBLIC.strip("/")), enabled=False)
    in_mode(copy_infra(root / PRIVATE.strip("/")), enabled=True)
    mutant = copy_infra(root / SHARED_KEY_ON.strip("/"))
    replace_text(mutant / "modules/host-storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true")
    command = [
        checkov,
        "--directory",
        str(root),
        "--framework",
        "bicep",
        "--skip-download",
        "--external-checks-dir",
        str(POLICIES),
        "--output",
        "json",
        "--compact",
    ]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        parsed = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not print a JSON report (exit {result.returncode}):\n{result.stderr[-2000:]}")
    (bicep,) = [r for r in (parsed if isinstance(parsed, list) else [parsed]) if r["check_type"] == "bicep"]
    assert isinstance(bicep, dict)
    return bicep


def in_mode(infra_dir: Path, *, enabled: bool) -> None:
    """Rewrite every .bicep file as one network mode deploys it: each ternary on vnetEnabled (or its
    negation) replaced by its chosen branch. With private networking, public-only skips are dropped."""
    for path in infra_dir.rglob("*.bicep"):
        file = BicepFile(path)
        root = file.root
        source = file.source[: root.start_byte] + _resolved(file, root, enabled) + file.source[root.end_byte :]
        if enabled:
            lines = source.decode().splitlines(keepends=True)
            source = "".join(line for line in lines if not _public_only_skip(line)).encode()
        path.write_bytes(source)


def _resolved(file: BicepFile, node: Node, enabled: bool) -> bytes:
    if node.type == "ternary_expression":
        condition, when_true, when_false = node.named_children
        chosen = _switch(condition, enabled)
        if chosen is not None:
            return _resolved(file, when_true if chosen else when_false, enabled)
    out, position = b"", node.start_byte
    for child in node.children:
        out += file.source[position : child.start_byte] + _resolved(file, child, enabled)
        position = child.end_byte
    return out + file.source[position : node.end_byte]


def _switch(condition: Node, enabled: bool) -> bool | None:
    if condition.type == "parenthesized_expression":
        return _switch(condition.named_children[0], enabled)
    if condition.type == "identifier" and text(condition) == SWITCH:
        return enabled
    if condition.type == "unary_expression" and condition.children[0].type == "!":
        inner = _switch(condition.named_children[0], enabled)
        return None if inner is None else not inner
    return None


def _public_only_skip(line: str) -> bool:
    return bool(re.match(rf"\s*// checkov:skip=[A-Z0-9_]+: {re.escape(PUBLIC_ONLY)}", line))


def records(report: dict[str, Any], kind: str, under: str) -> list[dict[str, Any]]:
    return [r for r in report["results"].get(kind, []) if r["file_path"].startswith(under)]


def test_checkov_parses_every_bicep_file(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0
    checked = {r["file_path"] for r in records(report, "passed_checks", REAL) + records(report, "skipped_checks", REAL)}
    assert f"{REAL}modules/function-app.bicep" in checked
    assert f"{REAL}modules/access.bicep" in checked


@pytest.mark.parametrize("copy", [REAL, PUBLIC, PRIVATE], ids=["as written", "vnetEnabled false", "vnetEnabled true"])
def test_no_check_fails_on_infra(report: dict[str, Any], copy: str) -> None:
    failed = [(r["check_id"], r["file_path"], r["resource"]) for r in records(report, "failed_checks", copy)]
    assert failed == []


def test_the_mode_copies_resolve_every_network_switch() -> None:
    """Nothing in either copy still branches on vnetEnabled, so checkov judged literal values."""
    for path in INFRA.rglob("*.bicep"):
        file = BicepFile(path)
        for enabled in (False, True):
            resolved = _resolved(file, file.root, enabled).decode()
            assert not re.search(rf"\b{SWITCH}\s*\?", resolved), (path.name, enabled)


def test_public_only_skips_hold_for_the_public_mode_only(report: dict[str, Any]) -> None:
    """The skips that say "vnetEnabled false (the default)" are what the public mode needs (they
    apply there), and with private networking the same checks pass with no skip at all."""

    def key(record: dict[str, Any], copy: str) -> tuple[str, str, str]:
        return (record["check_id"], record["file_path"].removeprefix(copy), record["resource"])

    public_only = {
        key(r, PUBLIC)
        for r in records(report, "skipped_checks", PUBLIC)
        if r["check_result"].get("suppress_comment", "").strip().startswith(PUBLIC_ONLY)
    }
    network_checks = {check for check, _file, _resource in public_only}
    assert {"CKV_AZURE_35", "CKV_AZURE_59", "CKV_AZURE_109", "CKV_AZURE_189", "CKV_AZURE_101"} <= network_checks
    passed_private = {key(r, PRIVATE) for r in records(report, "passed_checks", PRIVATE)}
    assert public_only <= passed_private, sorted(public_only - passed_private)
    skipped_private = [r for r in records(report, "skipped_checks", PRIVATE) if PUBLIC_ONLY in str(r["check_result"])]
    assert skipped_private == []


def test_every_project_policy_ran(report: dict[str, Any]) -> None:
    """A policy checkov cannot load is dropped with only a warning; make that visible."""
    passed = {r["check_id"] for r in records(report, "passed_checks", REAL)}
    assert project_policy_ids() <= passed
    assert len(project_policy_ids()) >= 8


def test_every_skipped_check_is_justified_inline(report: dict[str, Any]) -> None:
    for skipped in records(report, "skipped_checks", "/"):
        reason = skipped["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided", skipped["check_id"]
        assert len(reason.split()) >= 5, (skipped["check_id"], reason)


def test_project_policy_catches_shared_key_access(report: dict[str, Any]) -> None:
    failed = {(r["check_id"], r["file_path"]) for r in records(report, "failed_checks", SHARED_KEY_ON)}
    assert failed == {("CKV2_INBOX_1", f"{SHARED_KEY_ON}modules/host-storage.bicep")}
