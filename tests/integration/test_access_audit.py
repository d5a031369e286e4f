"""The access alert, run locally: when a service refuses the app's own identity, the alert's query (the
text infra/ deploys, with the principal the local app runs as) finds it in the local stack's audit
records; a refusal of another identity it does not. And what the audit costs: records and bytes per
delivery.

The query runs on DuckDB through duckdb-kql (KQL translated to SQL; it refuses what it does not
support rather than guess), over tables typed from Microsoft's documented columns
(devstack.monitor_tables) and filled with the records (devstack.audit).
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import pytest
from azure.core.exceptions import HttpResponseError
from devstack import kql
from devstack.audit import AUDIT_FOLDER, read_records
from devstack.identities import LocalIdentities
from devstack.local_deployment import deploy
from devstack.monitor_tables import TABLES
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo
from devstack.tokens import Identity

from tests.integration.conftest import MintedCredential
from tests.integration.inbox_api import Inbox, new_id

ALERT_RULE = "Microsoft.Insights/scheduledQueryRules"
REPO = Path(__file__).resolve().parents[2]
# Kusto's column types as DuckDB holds them.
DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "dynamic": "JSON",
    "guid": "VARCHAR",
}
AUDITED = ("AZKVAuditLogs", "StorageBlobLogs", "CDBDataPlaneRequests")


def alert_query(stack: StackInfo) -> str:
    """The access alert's query as infra/ deploys it to this stack: its model, its identities."""
    identities = stack.env.devstack["identities"]
    people = LocalIdentities(
        **{name: Identity(i["clientId"], i["objectId"], i["kind"]) for name, i in identities.items()}
    )
    local = deploy(people, stack.env.devstack["tenantId"], infra_dir=REPO / "infra")
    (rule,) = local.deployment.of_type(ALERT_RULE)
    (condition,) = rule.properties["criteria"]["allOf"]
    return str(condition["query"])


def workspace(stack: StackInfo) -> duckdb.DuckDBPyConnection:
    """The stack's audit records as a Log Analytics workspace would hold them: one table each, every
    documented column, typed."""
    connection = duckdb_kql.connect()
    folder = stack.state_dir / "logs" / AUDIT_FOLDER
    for name in AUDITED:
        columns = TABLES[name].columns
        connection.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {DUCK_TYPES[t]}' for c, t in columns.items())})")
        rows = [[_value(record.get(c), t) for c, t in columns.items()] for record in read_records(folder, [name])]
        if rows:
            marks = ", ".join("?" for _ in columns)
            connection.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608 (table names are Azure's)
    return connection


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "dynamic":
        return json.dumps(value)
    if kind == "datetime":
        # Log Analytics' 7 fractional digits; Python and DuckDB take 6.
        return datetime.datetime.fromisoformat(str(value)[:26] + "+00:00")
    return value


def fired(stack: StackInfo) -> list[tuple[str, str]]:
    """(Service, Action) of every row the alert's query returns now."""
    rows = duckdb_kql.kql(workspace(stack), alert_query(stack)).fetchall()
    columns = alert_columns(stack)
    return sorted({(row[columns.index("Service")], row[columns.index("Action")]) for row in rows})


def alert_columns(stack: StackInfo) -> list[str]:
    relation = duckdb_kql.kql(workspace(stack), alert_query(stack))
    return [c for c in relation.columns]


@pytest.fixture(scope="module")
def refusing_stack(start_stack: StartStack) -> StackInfo:
    """A stack of its own: the refusals this module provokes as the app's identity must not reach the
    session stack, whose records other tests read (every call the app makes there is one infra/ grants)."""
    return start_stack()


@pytest.fixture(scope="module")
def as_app(refusing_stack: StackInfo) -> Inbox:
    """The stack's clients acting as the app's own identity, with tokens the stack mints for it."""
    return Inbox(refusing_stack, MintedCredential(refusing_stack, "app"))


def refused(call: Any) -> int:
    try:
        call()
    except HttpResponseError as error:
        return int(error.status_code or 0)
    return 0


def test_the_alert_fires_on_the_apps_own_refusals_and_not_on_anyone_elses(
    refusing_stack: StackInfo, as_app: Inbox
) -> None:
    devstack = refusing_stack
    outsider = Inbox(devstack, MintedCredential(devstack, "outsider"))
    name = f"audit-{new_id()}"
    # Things the app's identity may not do (infra/ grants it none of them): each service refuses it.
    assert refused(lambda: as_app.vault.set_secret(name, "x")) == 403
    assert refused(lambda: as_app.container("events").delete_blob(f"github/{name}")) == 403
    assert refused(lambda: as_app.index.delete_item(name, partition_key="github")) == 403
    # And someone else refused: not the app's problem, not the alert's.
    assert refused(lambda: outsider.vault.get_secret("webhook-github")) == 403
    time.sleep(0.2)  # records are written as the answers leave
    found = fired(devstack)
    assert ("keyvault", "SecretSet") in found
    assert ("blob", "DeleteBlob") in found
    assert ("cosmos", "Delete Document") in found
    assert ("keyvault", "SecretGet") not in found, "the outsider's refusal must not fire the app's alert"


def test_every_column_the_alert_reads_is_in_the_local_records(refusing_stack: StackInfo, as_app: Inbox) -> None:
    """Beside running it: the columns the alert's query reads (as Kusto's analyser binds them) are ones
    the local records fill, so a local refusal can match it as Azure's would."""
    devstack = refusing_stack
    name = f"columns-{new_id()}"  # one record in each table, whatever ran before
    assert refused(lambda: as_app.vault.set_secret(name, "x")) == 403
    assert refused(lambda: as_app.container("events").delete_blob(f"github/{name}")) == 403
    assert refused(lambda: as_app.index.delete_item(name, partition_key="github")) == 403
    time.sleep(0.2)  # records are written as the answers leave
    (report,) = kql.check({"alert": alert_query(devstack)}).values()
    assert report.errors == ()
    folder = devstack.state_dir / "logs" / AUDIT_FOLDER
    for table, columns in report.columns.items():
        filled = set().union(*(set(r) for r in read_records(folder, [table])))
        assert columns <= filled, (table, sorted(columns - filled))


def test_what_the_audit_costs_per_delivery(devstack: StackInfo, inbox: Inbox) -> None:
    """Records and bytes the audit writes per delivery (README, "Monitoring access": the cost)."""
    folder = devstack.state_dir / "logs" / AUDIT_FOLDER
    inbox.deliver("logs", b'{"warm": true}', event_id=new_id())  # the app's clients and secrets loaded
    time.sleep(0.2)
    before = {t: sum(1 for _ in read_records(folder, [t])) for t in AUDITED}
    sizes = {t: (folder / f"{t}.jsonl").stat().st_size if (folder / f"{t}.jsonl").exists() else 0 for t in AUDITED}
    deliveries = 20
    for _ in range(deliveries):
        assert inbox.deliver("logs", b'{"zen": "Keep it logically awesome."}', event_id=new_id()).status_code == 202
    time.sleep(0.3)
    per_delivery = {}
    for table in AUDITED:
        count = sum(1 for _ in read_records(folder, [table])) - before[table]
        grown = (folder / f"{table}.jsonl").stat().st_size - sizes[table] if count else 0
        per_delivery[table] = (count / deliveries, grown / count if count else 0)
    print(f"audit records per delivery and bytes per record: {per_delivery}")
    # One blob write and one index write per delivery. Key Vault's share depends on the secret cache's
    # TTL: this session's is 2 s (tests/conftest.py), the app's default 300 s.
    assert per_delivery["StorageBlobLogs"][0] == 1
    assert per_delivery["CDBDataPlaneRequests"][0] == 1
