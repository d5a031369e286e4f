"""The postdeploy smoke check (infra/hooks/postdeploy.py) against the local stack: real HTTP through the
local host, real bearer tokens, and the RBAC of infra/ (or of a copy with one grant removed).

The stack's own master key stands in for `az functionapp keys list`; a fake clock stands in for the
minutes of waiting, so a deployment that never becomes healthy gives up at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo

from tests.conftest import SOURCE_WITHOUT_SECRET
from tests.infra.conftest import copy_infra, drop_resource
from tests.infra.test_postdeploy import HOOK, FakeTime, load_hook

if TYPE_CHECKING:
    from infra.hooks import postdeploy
else:
    postdeploy = load_hook()


def smoke(base_url: str, master_key: str, *, timeout: float = 60) -> tuple[int, list[str], FakeTime]:
    time, lines = FakeTime(), list[str]()
    code = postdeploy.smoke(
        base_url,
        get_master_key=lambda: master_key,
        http_get=postdeploy.http_get,
        sleep=time.sleep,
        clock=time.clock,
        out=lines.append,
        timeout=timeout,
    )
    return code, lines, time


@pytest.fixture(scope="module")
def healthy(devstack: StackInfo) -> tuple[int, list[str], FakeTime]:
    return smoke(devstack.env.host_url, devstack.env.master_key)


def test_a_healthy_stack_passes_at_once_with_each_check_printed(healthy: tuple[int, list[str], FakeTime]) -> None:
    code, lines, time = healthy
    assert code == 0, "\n".join(lines)
    assert time.sleeps == []
    assert "[ ok ] health: /api/health answered 200" in lines
    assert any(line.startswith("[ ok ] identity: user-assigned, principal ") for line in lines)
    for name in ("keyvault", "blob", "cosmos"):
        assert any(line.startswith(f"[ ok ] {name} (") for line in lines), lines
    assert "[ ok ] secret webhook-github: ready" in lines


def test_a_source_without_its_secret_is_printed_as_the_next_step(
    devstack: StackInfo, healthy: tuple[int, list[str], FakeTime]
) -> None:
    code, lines, _ = healthy
    assert code == 0
    vault = devstack.settings["AZURE_KEY_VAULT_ENDPOINT"].split("//")[1].split(".")[0]
    (line,) = [line for line in lines if line.startswith(f"[next] secret webhook-{SOURCE_WITHOUT_SECRET}: ")]
    assert line.startswith(f"[next] secret webhook-{SOURCE_WITHOUT_SECRET}: missing. ")
    assert f"az keyvault secret set --vault-name {vault} --name webhook-{SOURCE_WITHOUT_SECRET} --value" in line
    assert "Next step: set the signing secret of" in lines[-1]


def test_the_master_key_never_appears_in_the_output(
    devstack: StackInfo, healthy: tuple[int, list[str], FakeTime]
) -> None:
    assert devstack.env.master_key not in "\n".join(healthy[1])


# --- the hook as azd runs it -----------------------------------------------------------------------


def fake_az(folder: Path) -> Path:
    """An `az` that answers `functionapp keys list` as the real one does, with the key it is handed."""
    folder.mkdir()
    script = folder / "az"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "expected = ['functionapp', 'keys', 'list', '-g', 'rg-smoke', '-n', 'func-smoke',\n"
        "            '--query', 'masterKey', '-o', 'tsv']\n"
        "if sys.argv[1:] != expected:\n"
        "    sys.exit(f'unexpected az call: {sys.argv[1:]}')\n"
        "print(os.environ['FAKE_AZ_MASTER_KEY'])\n"
    )
    script.chmod(0o755)
    return folder


@pytest.mark.skipif(os.name == "nt", reason="the fake az is a POSIX script")
def test_the_hook_as_azd_runs_it_uses_the_cli_key_and_only_the_standard_library(
    devstack: StackInfo, tmp_path: Path
) -> None:
    env = {
        "PATH": f"{fake_az(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZURE_FUNCTION_APP_URI": devstack.env.host_url,
        "AZURE_RESOURCE_GROUP": "rg-smoke",
        "AZURE_FUNCTION_APP_NAME": "func-smoke",
        "POSTDEPLOY_TIMEOUT_SECONDS": "0",
        "FAKE_AZ_MASTER_KEY": devstack.env.master_key,
    }
    # -I -S: no site-packages at all, as with a bare Python 3.11+ on PATH.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("[ ok ] cosmos (") for line in result.stdout.splitlines())
    assert devstack.env.master_key not in result.stdout + result.stderr


# --- what does not work ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def without_digests_role(start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory) -> StackInfo:
    root = copy_infra(tmp_path_factory.mktemp("infra") / "infra")
    drop_resource(root / "modules" / "access.bicep", "appDigestsContributor")
    return start_stack("--infra-dir", str(root))


def test_a_removed_role_fails_after_the_bound_with_the_check_and_its_hint(without_digests_role: StackInfo) -> None:
    stack = without_digests_role
    code, lines, time = smoke(stack.env.host_url, stack.env.master_key, timeout=30)
    assert code == 1
    assert time.sleeps == [5, 10, 15]
    waiting = [line for line in lines if line.startswith("  waiting:")]
    assert len(waiting) == 3
    assert all("blob 403" in line for line in waiting)
    (failing,) = [line for line in lines if line.startswith("[FAIL] ")]
    assert failing.startswith("[FAIL] blob: the service answered 403 Forbidden, refused ")
    assert "refused Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write" in failing
    assert "Hint: " in failing
    assert "'Storage Blob Data Contributor' at container scope" in failing
    assert f"az role assignment create --assignee-object-id {stack.object_id('app')}" in failing
    assert "/containers/digests" in failing
    assert any(line.startswith("[ ok ] keyvault (") for line in lines)
    assert lines[-1].startswith("postdeploy: FAILED: blob still failing after 30 s.")
    assert stack.env.master_key not in "\n".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_app_that_is_not_up_is_waited_for_then_fails() -> None:
    code, lines, time = smoke(f"http://127.0.0.1:{free_port()}", "unused", timeout=10)
    assert code == 1
    assert time.sleeps == [5, 5]
    assert lines[-2].startswith("[FAIL] health: /api/health got no answer (")


def test_a_404_from_the_host_is_waited_for(devstack: StackInfo) -> None:
    code, lines, _ = smoke(f"{devstack.env.host_url}/not-the-app", devstack.env.master_key, timeout=5)
    assert code == 1
    assert "[FAIL] health: /api/health answered 404" in lines
