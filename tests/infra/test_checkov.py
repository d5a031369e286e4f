"""checkov's Bicep checks and the project's own policies (tests/infra/checkov/*.yaml) pass on infra/.

checkov runs offline (--skip-download, BC_SKIP_MAPPING) once per session over two copies of infra/:
the real one, which must parse completely and fail nothing, and one with shared keys turned back
on, which the project's policy must catch. checkov exits 0 even when a file does not parse, so the
JSON summary's parsing_errors is what is checked. Skipped when checkov is not installed (see
find_checkov and the README, "Infrastructure").
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

from .conftest import REPO, copy_infra, replace_text

POLICIES = Path(__file__).resolve().parent / "checkov"
REAL = "/real/"
SHARED_KEY_ON = "/shared-key-on/"


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


def records(report: dict[str, Any], kind: str, under: str) -> list[dict[str, Any]]:
    return [r for r in report["results"].get(kind, []) if r["file_path"].startswith(under)]


def test_checkov_parses_every_bicep_file(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0
    checked = {r["file_path"] for r in records(report, "passed_checks", REAL) + records(report, "skipped_checks", REAL)}
    assert f"{REAL}modules/function-app.bicep" in checked
    assert f"{REAL}modules/access.bicep" in checked


def test_no_check_fails_on_infra(report: dict[str, Any]) -> None:
    failed = [(r["check_id"], r["file_path"], r["resource"]) for r in records(report, "failed_checks", REAL)]
    assert failed == []


def test_every_project_policy_ran(report: dict[str, Any]) -> None:
    """A policy checkov cannot load is dropped with only a warning; make that visible."""
    passed = {r["check_id"] for r in records(report, "passed_checks", REAL)}
    assert project_policy_ids() <= passed
    assert len(project_policy_ids()) >= 8


def test_every_skipped_check_is_justified_inline(report: dict[str, Any]) -> None:
    for skipped in records(report, "skipped_checks", REAL):
        reason = skipped["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided", skipped["check_id"]
        assert len(reason.split()) >= 5, (skipped["check_id"], reason)


def test_project_policy_catches_shared_key_access(report: dict[str, Any]) -> None:
    failed = {(r["check_id"], r["file_path"]) for r in records(report, "failed_checks", SHARED_KEY_ON)}
    assert failed == {("CKV2_INBOX_1", f"{SHARED_KEY_ON}modules/host-storage.bicep")}
