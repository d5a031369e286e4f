"""Microsoft's azure-keyvault-secrets test suite, run against the local vault: the fake's conformance test.

The suite comes from the sdist of the installed SDK (suite_source.py) and runs in a pytest process of
its own, live, against a stack started for it (suite_run.py). Live, it runs its vault tests at the
SDK's default api-version only and skips the others ("This test only uses the default API version
for live tests"), and skips its playback-only tests; its unit tests (challenge auth, polling, id
parsing) run too. Every test must pass, with one exception that is Azure's own behaviour:

infra/ declares the vault with purge protection (key-vault.bicep, `enablePurgeProtection: true`), and
a vault with purge protection refuses every purge with 403 Forbidden. The suite's tests that purge a
deleted secret therefore fail against the vault as infra/ declares it, exactly as they would against
the Azure vault `azd up` creates; they must pass against a vault started without purge protection
(`--vault-purge-protection off`), which is the second run. (The async `test_purge` is not among them:
it empties its list of names before the loop that purges them, so it purges nothing.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.keyvault.secrets._shared.client_base import DEFAULT_VERSION
from devstack.pytest_plugin import CERTS
from devstack.testing import StackInfo, StackProcess

from tests.conformance.suite_run import SuiteResults, keyvault_environment, run_suite, summary
from tests.conformance.suite_source import installed_version, suite_tests

pytestmark = pytest.mark.stack

DEFAULT = DEFAULT_VERSION.value  # the api-version the suite's vault tests run at, live

PURGE_REFUSED = 'Operation "purge" is not allowed because purge protection is enabled for this vault.'
PURGING_TESTS = frozenset(
    f"{test}[{DEFAULT}]"
    for test in (
        "test_secrets_client.TestSecretClient.test_purge",
        "test_secrets_client.TestSecretClient.test_backup_restore",
        "test_secrets_async.TestKeyVaultSecret.test_backup_restore",
        "test_samples_secrets.TestExamplesKeyVault.test_example_secrets_backup_restore",
        "test_samples_secrets_async.TestExamplesKeyVault.test_example_secrets_backup_restore",
    )
)
# Among the vault tests, sync and async, one per group of operations: these at least must have run.
CORE_VAULT_TESTS = frozenset(
    f"{module}.{test}[{DEFAULT}]"
    for module in ("test_secrets_client.TestSecretClient", "test_secrets_async.TestKeyVaultSecret")
    for test in (
        "test_secret_crud_operations",
        "test_secret_list",
        "test_list_versions",
        "test_list_deleted_secrets",
        "test_recover",
        "test_purge",
        "test_backup_restore",
        "test_get_secret_accepts_out_content_type",
    )
) | {f"test_samples_secrets.TestExamplesKeyVault.test_example_secret_list_operations[{DEFAULT}]"}
MIN_VAULT_TESTS = 30  # 33 in azure-keyvault-secrets 4.12.0
SKIP_REASONS = ("This test only uses the default API version for live tests", "playback test only")


PACKAGE = "azure-keyvault-secrets"


@pytest.fixture(scope="module")
def suite() -> Path:
    return suite_tests(PACKAGE, installed_version(PACKAGE))


@contextlib.contextmanager
def stack_for_the_suite(folder: Path, *args: str) -> Iterator[StackInfo]:
    """A stack of its own (the suite leaves secrets deleted and purged), without the function host."""
    folder.mkdir()
    process = StackProcess(folder, ["--certs-dir", str(CERTS.folder), "--no-host", *args])
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def run_against(suite: Path, folder: Path, capsys: pytest.CaptureFixture[str], *args: str) -> SuiteResults:
    with stack_for_the_suite(folder / "stack", *args) as stack:
        results = run_suite(suite, keyvault_environment(stack), folder / "suite-report.xml")
    with capsys.disabled():
        print(f"\n{summary(results, PACKAGE, ' '.join(args) or 'vault as infra/ declares it')}")
    assert results.outcomes, f"the suite reported no tests:\n{results.log}"
    return results


def unexpected_failures(results: SuiteResults, expected: frozenset[str]) -> dict[str, str]:
    return {test: results.outcomes[test].detail[:3000] for test in sorted(results.named("failed") - expected)}


def assert_every_vault_test_ran(results: SuiteResults, failed_as_expected: frozenset[str]) -> None:
    vault_tests = {test for test in results.outcomes if test.endswith(f"[{DEFAULT}]") and "test_multi_api." not in test}
    assert len(vault_tests) >= MIN_VAULT_TESTS, sorted(vault_tests)
    assert vault_tests >= CORE_VAULT_TESTS
    assert vault_tests - failed_as_expected <= results.named("passed")
    unexplained = {
        test: outcome.detail
        for test, outcome in results.outcomes.items()
        if outcome.status == "skipped" and not outcome.detail.startswith(SKIP_REASONS)
    }
    assert not unexplained


def test_suite_passes_against_the_vault_as_infra_declares_it_except_purges(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_against(suite, tmp_path, capsys)
    assert not unexpected_failures(results, PURGING_TESTS)
    refused = results.named("failed")
    assert refused == PURGING_TESTS, "each purging test must fail, and only on the purge"
    assert all(PURGE_REFUSED in results.outcomes[test].detail for test in refused)
    assert_every_vault_test_ran(results, PURGING_TESTS)


def test_suite_passes_entirely_against_a_vault_without_purge_protection(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_against(suite, tmp_path, capsys, "--vault-purge-protection", "off")
    assert not unexpected_failures(results, frozenset())
    assert results.named("passed") >= PURGING_TESTS
    assert_every_vault_test_ran(results, frozenset())
