"""One run of a Microsoft SDK test suite against a local service, and its results.

A suite runs in a pytest process of its own: its conftest.py and ours must not meet. Each suite has
a support folder (its pytest.ini and a plugin); all of them share the stand-in for
`devtools_testutils` in sdk_suite_support/, which Microsoft's suites import and which is not on PyPI.

azure-keyvault-secrets runs live without recording, as Microsoft runs it against a real vault
(AZURE_TEST_RUN_LIVE, AZURE_SKIP_LIVE_RECORDING, AZURE_KEYVAULT_URL), reaches the vault by its Azure
name through the stack's proxy with the local CA, and gets tokens for the developer identity (Key
Vault Secrets Officer in infra/) from the stack's managed-identity endpoint. azure-cosmos is set up in
test_cosmos_suite.py (its own server, an account key).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from devstack.testing import IDENTITY_VARIABLES, StackInfo

HERE = Path(__file__).resolve().parent
SDK_SUPPORT = HERE / "sdk_suite_support"  # devtools_testutils, for every suite
KEYVAULT_SUPPORT = HERE / "keyvault_suite_support"
RUN_TIMEOUT_SECONDS = 300
# Variables of the caller's environment that would change how the suite's pytest or SDK behave.
_NOT_PASSED_ON = (
    *IDENTITY_VARIABLES,
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTHONPATH",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_HTTP_USER_AGENT",
)


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed" (a failure or an error) or "skipped"
    detail: str = ""  # the failure's message and traceback, or the reason for the skip


@dataclass
class SuiteResults:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # test id -> outcome
    seconds: float = 0.0
    log: str = ""  # the suite's pytest output, for the assertion message when something is off

    def named(self, status: str) -> set[str]:
        return {test for test, outcome in self.outcomes.items() if outcome.status == status}

    def counts(self) -> dict[str, int]:
        return {status: len(self.named(status)) for status in ("passed", "failed", "skipped")}


def suite_environment(support: Path) -> dict[str, str]:
    """The caller's environment without what would change the suite's pytest or SDK, with the suite's
    support folder and the devtools_testutils stand-in on its path."""
    environment = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED_ON}
    environment["PYTHONPATH"] = os.pathsep.join((str(support), str(SDK_SUPPORT)))
    environment["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written into the cached suite
    return environment


def keyvault_environment(stack: StackInfo) -> dict[str, str]:
    environment = suite_environment(KEYVAULT_SUPPORT)
    settings = stack.settings
    environment.update(
        {
            "AZURE_TEST_RUN_LIVE": "true",
            "AZURE_SKIP_LIVE_RECORDING": "true",
            "AZURE_KEYVAULT_URL": settings["AZURE_KEY_VAULT_ENDPOINT"],
            # The suite's preparer moves these to AZURE_CLIENT_ID / AZURE_TENANT_ID for the credential.
            "KEYVAULT_CLIENT_ID": stack.client_id("developer"),
            "KEYVAULT_TENANT_ID": str(stack.env.devstack["tenantId"]),
            **stack.identity_environment("app_service"),
            **stack.network_environment(),
            "SSL_CERT_FILE": stack.ca,
            "REQUESTS_CA_BUNDLE": stack.ca,
        }
    )
    return environment


def run_suite(
    tests: Path,
    environment: Mapping[str, str],
    report: Path,
    *,
    support: Path = KEYVAULT_SUPPORT,
    plugin: str = "live_suite_plugin",
    files: Sequence[str] = (),
    deselect: Sequence[str] = (),
    timeout: float = RUN_TIMEOUT_SECONDS,
) -> SuiteResults:
    """Runs `files` of the suite in `tests` (all of it when empty), but not the tests `deselect` names
    (pytest node ids), with `support`'s pytest.ini and plugin."""
    command = [
        *(sys.executable, "-m", "pytest", *([str(tests / name) for name in files] or [str(tests)])),
        *(argument for node_id in deselect for argument in ("--deselect", node_id)),
        *("-c", str(support / "pytest.ini"), "--rootdir", str(tests), "--confcutdir", str(tests)),
        *("-p", plugin, "-p", "no:cacheprovider"),
        *("--junitxml", str(report), "-o", "junit_family=xunit2", "-q", "-rN", "--no-header"),
    ]
    started = time.monotonic()
    finished = subprocess.run(
        command,
        cwd=tests,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results = SuiteResults(seconds=time.monotonic() - started, log=finished.stdout[-6000:] + finished.stderr[-3000:])
    if report.exists():
        results.outcomes = outcomes(report)
    return results


def outcomes(report: Path) -> dict[str, Outcome]:
    """Each test case of a junit report as `module.Class.test[params]` (or `module.test[params]`)."""
    # The report was written by the suite's run just now, on this machine: not untrusted XML.
    root = ElementTree.parse(report).getroot()  # noqa: S314
    found: dict[str, Outcome] = {}
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname')}.{case.get('name')}"
        found[test_id] = _outcome(case)
    return found


def _outcome(case: ElementTree.Element) -> Outcome:
    for status, tags in (("failed", ("failure", "error")), ("skipped", ("skipped",))):
        for tag in tags:
            element = case.find(tag)
            if element is not None:
                return Outcome(status, f"{element.get('message', '')}\n{element.text or ''}")
    return Outcome("passed")


def summary(results: SuiteResults, package: str, label: str) -> str:
    counts: Mapping[str, int] = results.counts()
    return (
        f"{package} suite, {label}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped in {results.seconds:.1f} s"
    )
