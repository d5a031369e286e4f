"""Every shell block in the README is either run here, run by CI itself, or marked as needing Azure.

A block's info string says which: ```bash local (run below, against the session's stack, exactly as
written except for where the stack's state lives), ```sh ci (what `.ci/run` and `dev.py` run: checked
against them), ```sh azure (needs a subscription; not run).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from devstack.testing import StackInfo

ROOT = Path(__file__).resolve().parents[2]  # the repository root

README = ROOT / "README.md"
SHELLS = {"bash", "sh", "shell", "console"}
KINDS = {"local", "ci", "azure"}
# The other commands of the ci blocks: the venv's pytest, and the checkov run dev.py does for the tests.
CI_PROGRAMS = {".venv/bin/python", "python3", "BC_SKIP_MAPPING=TRUE", "--external-checks-dir"}
BLOCK = re.compile(r"^```(\S*)[ \t]*(\S*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_blocks() -> list[tuple[str, str]]:
    """(kind, text) of every shell block; kind is '' when the block is not marked."""
    return [(kind, text) for lang, kind, text in BLOCK.findall(README.read_text()) if lang in SHELLS]


def test_every_shell_block_says_whether_it_runs_here_in_ci_or_needs_azure() -> None:
    blocks = shell_blocks()
    assert len(blocks) >= 5
    assert [kind for kind, _ in blocks if kind not in KINDS] == []


def test_the_ci_blocks_are_what_ci_and_dev_py_run() -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    dev_py = (ROOT / "dev.py").read_text()
    checkov_pin = (ROOT / "requirements-checkov.txt").read_text()
    for kind, text in shell_blocks():
        if kind != "ci":
            continue
        for line in filter(None, (ln.split("#")[0].strip() for ln in text.splitlines())):
            words = shlex.split(line.rstrip("\\"))
            if words[:2] == ["python3", "dev.py"]:
                assert f'"{words[2]}":' in dev_py, line  # a dev.py command that exists
                assert words[2] in ("up", *re.findall(r"python3 dev\.py (\w+)", ci_run)), line
            elif "checkov==" in line:
                pinned = re.search(r"checkov==\S+", line)
                assert pinned is not None, line
                assert pinned.group() in checkov_pin, line
            else:
                assert words[0] in {".venv/bin/python", "python3", "BC_SKIP_MAPPING=TRUE", "--external-checks-dir"}, (
                    line
                )


def test_the_local_block_runs_against_the_stack_as_written(devstack: StackInfo, tmp_path: Path) -> None:
    (script,) = [text for kind, text in shell_blocks() if kind == "local"]
    assert script.startswith("STATE=.devstack ")
    script = script.replace("STATE=.devstack ", f"STATE={shlex.quote(str(devstack.state_dir))} ", 1)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert re.search(r"^HTTP/1\.1 20[02] ", out, re.MULTILINE)  # the delivery: 202, or 200 when rerun
    assert '"id": "demo-1"' in out
    assert '"Design for failure."' in out  # the payload, byte for byte
    assert '{"status": "healthy"}' in out
    assert '"checks": [' in out
    assert "HTTP/1.1 202 Accepted" in out.split('"checks": [')[-1]  # the timer run, after diagnostics
