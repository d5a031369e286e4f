"""devstack.kql: Microsoft's Kusto language service checks queries offline against the vendored table
schemas (devstack.monitor_tables), and says which columns a query reads."""

from __future__ import annotations

from devstack import kql
from devstack.monitor_tables import TABLES


def test_a_valid_query_has_no_errors_and_names_the_columns_it_reads() -> None:
    query = 'StorageBlobLogs | where StatusCode == "403" | project TimeGenerated, RequesterObjectId'
    (report,) = kql.check({"q": query}).values()
    assert report.errors == ()
    assert report.columns == {"StorageBlobLogs": frozenset({"StatusCode", "TimeGenerated", "RequesterObjectId"})}


def test_a_column_the_table_lacks_and_a_query_that_does_not_parse_are_errors() -> None:
    found = kql.check(
        {
            "typo": "AZKVAuditLogs | where HttpStatuscode == 403",
            "grammar": "AZKVAuditLogs | wher HttpStatusCode == 403",
            "table": "KeyVaultLogs | take 1",
        }
    )
    assert any("KS142" in e and "HttpStatuscode" in e for e in found["typo"].errors)
    assert found["grammar"].errors
    assert any("KeyVaultLogs" in e for e in found["table"].errors)


def test_every_vendored_column_is_one_kusto_accepts() -> None:
    """Each table's schema notation parses, with every column readable by name."""
    queries = {
        name: f"{name} | project {', '.join(_quoted(c) for c in table.columns)}" for name, table in TABLES.items()
    }
    for name, report in kql.check(queries).items():
        assert report.errors == (), name
        assert report.columns[name] == frozenset(TABLES[name].columns), name


def _quoted(column: str) -> str:
    return f'["{column}"]'
