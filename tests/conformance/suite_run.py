"""One run of Microsoft's azure-keyvault-secrets suite against a local stack's vault, and its results.

The suite runs in a pytest process of its own: its conftest.py and ours must not meet, and it needs
`devtools_testutils`, which the stand-in in keyvault_suite_support/ provides. It runs live without
recording, as Microsoft runs it against a real vault (AZURE_TEST_RUN_LIVE, AZURE_SKIP_LIVE_RECORDING,
AZURE_KEYVAULT_URL), reaches the vault by its Azure name through the stack's proxy with the local CA,
and gets tokens for the developer identity (Key Vault Secrets Officer in infra/) from the stack's
managed-identity endpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from devstack.testing import IDENTITY_VARIABLES, StackInfo

SUPPORT = Path(__file__).resolve().parent / "keyvault_suite_support"
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


def suite_environment(stack: StackInfo) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED_ON}
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
            "PYTHONPATH": str(SUPPORT),
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the cached suite
        }
    )
    return environment


def run_suite(tests: Path, stack: StackInfo, report: Path) -> SuiteResults:
    command = [
        *(sys.executable, "-m", "pytest", str(tests)),
        *("-c", str(SUPPORT / "pytest.ini"), "--rootdir", str(tests), "--confcutdir", str(tests)),
        *("-p", "live_suite_plugin", "-p", "no:cacheprovider"),
        *("--junitxml", str(report), "-o", "junit_family=xunit2", "-q", "-rN", "--no-header"),
    ]
    started = time.monotonic()
    finished = subprocess.run(
        command,
        cwd=tests,
        env=suite_environment(stack),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
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


def summary(results: SuiteResults, label: str) -> str:
    counts: Mapping[str, int] = results.counts()
    return (
        f"azure-keyvault-secrets suite, {label}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped in {results.seconds:.1f} s"
    )
