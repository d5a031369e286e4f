"""The app's code performs only the data actions its declaration (`access` in [tool.devstack]) lists:
every Azure SDK call in it, typed by mypy, mapped to its actions and checked as `python -m devstack
check` does. No stack runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from devstack import checks, code_scan
from devstack.code_scan import default_cache_dir
from devstack.project import Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mypy_cache() -> Path:
    """The user's cache, as the command uses it: it holds only the SDKs' and the standard library's
    analyses (the app's files are always re-checked), so sharing it changes no verdict."""
    return default_cache_dir()


def test_the_apps_code_performs_only_declared_actions(mypy_cache: Path) -> None:
    project = Project.load(ROOT / "pyproject.toml")
    scanned = code_scan.scan(project, cache_dir=mypy_cache)
    findings = checks.check_calls(project, scanned.calls)
    counts = code_scan.count_by_service(scanned.calls)
    print(checks.summary(project, scanned) if not findings else "\n".join(f.line() for f in findings))
    assert [f.line() for f in findings] == []
    # The app reads secrets, archives payloads and indexes events: each service's calls were mapped.
    assert all(counts[service] > 0 for service in ("keyvault", "blob", "cosmos")), counts


def test_devstack_check_in_the_app_exits_0_with_its_one_line_summary(mypy_cache: Path) -> None:
    # As a developer runs it, from the app's folder; the shared cache only spares a second analysis.
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "check", "--cache-dir", str(mypy_cache)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (summary,) = done.stdout.splitlines()
    access = Project.load(ROOT / "pyproject.toml").access_file.relative_to(ROOT).as_posix()
    pattern = rf"\d+ SDK calls, all declared in {re.escape(access)} \([^;]+; \d+ files scanned in \d+\.\d s\)"
    assert re.fullmatch(pattern, summary), summary
