"""`python -m devstack check`: every Azure SDK call in the app's code against the data actions it declares.

Prints one line per finding (the call, the action, where to declare it, the role that would grant it)
and exits 1, or prints a one-line summary and exits 0. Runs no service: the code is read and
type-checked (devstack/code_scan.py), infra/ evaluated only to name roles (devstack/checks.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack import checks, code_scan
from devstack.project import Project, ProjectError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack check", description=__doc__)
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="a folder inside the app (default: the working directory); its pyproject.toml has [tool.devstack]",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="mypy's cache (default: .devstack/mypy-cache)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        project = Project.find(args.project)
        scanned = code_scan.scan(project, cache_dir=args.cache_dir)
        findings = checks.check_calls(project, scanned.calls)
    except ProjectError as error:
        print(f"devstack check: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding.line())
    note = checks.unresolved_note(scanned)
    if note:
        print(note, file=sys.stderr)
    if findings:
        return 1
    print(checks.summary(project, scanned))
    return 0


if __name__ == "__main__":
    sys.exit(main())
