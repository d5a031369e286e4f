"""Right after `azd up` no source has a signing secret yet: the whole path from there to accepting deliveries.

The stack starts with every source unseeded, as a fresh deployment's vault is empty. Diagnostics must
say so per source without calling the roles broken, ingest must answer 503 `source-not-configured`,
and once an operator sets the secret, deliveries are accepted without a restart.
"""

from __future__ import annotations

import secrets
import time

import pytest
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo

from tests.integration.conftest import inbox_for
from tests.integration.inbox_api import Inbox, assert_problem, new_id
from webhooks.secret_cache import FAILED_REFRESH_BACKOFF_SECONDS

SOURCES = ("github", "demo")
BODY = b'{"zen": "Keep it logically awesome."}'


@pytest.fixture(scope="module")
def fresh(start_stack: StartStack) -> Inbox:
    stack: StackInfo = start_stack("--env", f"WEBHOOK_SOURCES={','.join(SOURCES)}", "--unseeded", ",".join(SOURCES))
    return inbox_for(stack)


def test_diagnostics_names_each_missing_secret_and_the_command_that_sets_it(fresh: Inbox) -> None:
    response = fresh.get("diagnostics", key="master")
    assert response.status_code == 200, response.text  # the roles work; only the secrets are missing
    report = response.json()
    assert all(check["ok"] for check in report["checks"])
    vault = fresh.stack.settings["AZURE_KEY_VAULT_ENDPOINT"].split("//")[1].split(".")[0]
    by_source = {row["source"]: row for row in report["secrets"]}
    assert set(by_source) == set(SOURCES)
    for source, row in by_source.items():
        assert row["state"] == "missing"
        assert f"az keyvault secret set --vault-name {vault} --name webhook-{source} --value" in row["hint"]


def test_deliveries_wait_for_the_secret_then_are_accepted_without_a_restart(fresh: Inbox) -> None:
    assert_problem(fresh.deliver("github", BODY, event_id=new_id(), secret="x"), 503, "source-not-configured")

    secret = secrets.token_urlsafe(32)
    fresh.vault.set_secret("webhook-github", secret)  # what the operator runs after azd up
    deadline = time.monotonic() + FAILED_REFRESH_BACKOFF_SECONDS + 5
    while (status := fresh.deliver("github", BODY, event_id=new_id(), secret=secret).status_code) == 503:
        assert time.monotonic() < deadline, "the new secret was not picked up within the backoff"
        time.sleep(0.5)
    assert status == 202

    report = fresh.get("diagnostics", key="master").json()
    states = {row["source"]: row["state"] for row in report["secrets"]}
    assert states == {"github": "ready", "demo": "missing"}


def test_a_source_whose_every_version_is_disabled_is_reported_as_such(fresh: Inbox) -> None:
    properties = fresh.vault.set_secret("webhook-demo", secrets.token_urlsafe(32)).properties
    fresh.vault.update_secret_properties("webhook-demo", properties.version, enabled=False)
    response = fresh.get("diagnostics", key="master")
    assert response.status_code == 200, response.text
    row = next(r for r in response.json()["secrets"] if r["source"] == "demo")
    assert row["state"] == "no-usable-version"
    assert "disabled or expired" in row["hint"]
