"""`python -m devstack check`: what Azure would refuse, before anything runs.

- infra/ as `up` deploys it: every name against Azure's naming rules (infra_model/naming.py), in the
  words `up` refuses it with;
- the app's declaration against infra/: each declared action no role grants the app's identity, with
  the fix (devstack/grants.py);
- every Azure SDK call in the app's code against the data actions it declares (devstack/checks.py).

Prints one line per finding and exits 1, or prints a one-line summary and exits 0. Runs no service:
the code is read and type-checked (devstack/code_scan.py), infra/ is evaluated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra_model.deployment import EvaluationError
from infra_model.resources import ModelError

from devstack import checks, code_scan, grants
from devstack.identities import LocalIdentities
from devstack.local_deployment import deploy
from devstack.project import Project, ProjectError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack check", description=__doc__)
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="a folder inside the app (default: the working directory); its pyproject.toml has [tool.devstack]",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="mypy's cache (default: ~/.cache/azure-devstack/mypy)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        project = Project.find(args.project)
        refused = infra_problems(project)
        scanned = code_scan.scan(project, cache_dir=args.cache_dir)
        findings = [finding.line() for finding in checks.check_calls(project, scanned.calls)]
    except (ProjectError, EvaluationError) as error:
        print(f"devstack check: {error}", file=sys.stderr)
        return 2
    for line in (*refused, *findings):
        print(line)
    note = checks.unresolved_note(scanned)
    if note:
        print(note, file=sys.stderr)
    if refused or findings:
        return 1
    print(checks.summary(project, scanned))
    return 0


def infra_problems(project: Project) -> list[str]:
    """What Azure would refuse in infra/ itself (the lines `up` refuses to start with), else each
    declared action infra/ grants the app no role for."""
    try:
        deploy(LocalIdentities(), "check", infra_dir=project.infra_dir)
    except ModelError as error:
        return str(error).splitlines()
    return grants.ungranted(project)


if __name__ == "__main__":
    sys.exit(main())
