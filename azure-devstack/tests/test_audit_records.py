"""devstack.audit's records, without a stack: Azure's columns only, no secret, one file per table."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest
from devstack import audit, audit_cli
from devstack.audit import BlobRequest, Caller, CosmosRequest, KeyVaultRequest
from devstack.monitor_tables import TABLES

WHEN = datetime.datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=datetime.UTC)
VAULT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1"
ACCOUNT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"
COSMOS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/cosmos1"
CALLER = Caller(object_id="oid-1", app_id="app-1", tenant_id="t", issuer="https://sts/t/", audience="aud")


def refused_secret() -> KeyVaultRequest:
    return KeyVaultRequest(
        time=WHEN, duration_ms=1.4, status=403, operation="getSecret", vault_id=VAULT,
        request_uri="https://kv1.vault.azure.net/secrets/s1?api-version=7.5", secret_id="https://kv1.vault.azure.net/secrets/s1",
        api_version="7.5", caller=CALLER, message="Caller is not authorized",
    )  # fmt: skip


def test_each_record_uses_only_its_tables_columns() -> None:
    records = [
        audit.keyvault_record(refused_secret(), subscription_id="s"),
        audit.blob_record(
            BlobRequest(
                WHEN, 2.0, 201, "Success", "Put Blob", ACCOUNT, "st1", "https://st1/c/b", "c", "b", caller=CALLER
            ),
            subscription_id="s",
        ),
        audit.cosmos_record(
            CosmosRequest(WHEN, 1.0, 201, "create", "docs", False, COSMOS, "db", "c", principal_id="oid-1"),
            subscription_id="s",
        ),
    ]
    for record in records:
        assert set(record) <= set(TABLES[record["Type"]].columns), record["Type"]


def test_a_refused_secret_read_reads_as_key_vault_logs_it() -> None:
    record = audit.keyvault_record(refused_secret(), subscription_id="s")
    assert record["OperationName"] == "SecretGet"
    assert (record["HttpStatusCode"], record["ResultSignature"], record["ResultType"]) == (403, "Forbidden", "Failure")
    assert record["Identity"] == {"claim": {"oid": "oid-1", "appid": "app-1"}}
    assert record["TimeGenerated"] == "2026-12-04T12:00:00.1234560Z"
    assert record["_ResourceId"] == VAULT.lower()


def test_a_column_the_table_lacks_is_refused_before_it_is_written() -> None:
    with pytest.raises(ValueError, match="AZKVAuditLogs has no column Tokens"):
        audit._checked({"Type": "AZKVAuditLogs", "Tokens": "x"})


def test_a_sas_signature_never_reaches_a_record() -> None:
    request = BlobRequest(WHEN, 1.0, 403, "KeyBasedAuthenticationNotPermitted", "Get Blob", ACCOUNT, "st1",
                          "https://st1.blob.core.windows.net/c/b?sv=2025&sig=SECRETSIG%3D&se=x", "c", "b",
                          authentication_type="SAS")  # fmt: skip
    record = audit.blob_record(request, subscription_id="s")
    assert "SECRETSIG" not in str(record)
    assert "sig=XXXXX" in record["Uri"]


def test_categories_and_operation_names_are_storage_and_cosmos_dbs_own() -> None:
    assert [audit.storage_category(o) for o in ("Get Blob", "List Blobs", "Put Blob", "Delete Blob")] == [
        "StorageRead", "StorageRead", "StorageWrite", "StorageDelete",
    ]  # fmt: skip
    feed = audit.cosmos_record(CosmosRequest(WHEN, 1.0, 200, "read", "docs", True, COSMOS), subscription_id="s")
    assert (feed["OperationName"], feed["RequestResourceType"]) == ("ReadFeed", "Document")


def test_records_go_one_file_per_table_readable_by_the_owner_only(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path / "audit", subscription_id="s")
    log.keyvault(refused_secret())
    log.cosmos(CosmosRequest(WHEN, 1.0, 201, "create", "docs", False, COSMOS, "db", "c", principal_id="oid-1"))
    log.close()
    files = sorted(p.name for p in (tmp_path / "audit").iterdir())
    assert files == ["AZKVAuditLogs.jsonl", "CDBDataPlaneRequests.jsonl"]
    for path in (tmp_path / "audit").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [r["Type"] for r in audit.read_records(tmp_path / "audit")] == ["AZKVAuditLogs", "CDBDataPlaneRequests"]


def test_the_command_prints_refusals_only_with_denied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = audit.AuditLog(tmp_path / "logs" / audit.AUDIT_FOLDER, subscription_id="s")
    log.keyvault(refused_secret())
    log.cosmos(CosmosRequest(WHEN, 1.0, 201, "create", "docs", False, COSMOS, "db", "c", principal_id="oid-1"))
    log.close()
    assert audit_cli.main(["--state-dir", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert audit_cli.main(["--state-dir", str(tmp_path), "--denied"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "keyvault  403 Forbidden  oid-1  SecretGet  https://kv1.vault.azure.net/secrets/s1" in line


def test_the_command_without_records_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_cli.main(["--state-dir", str(tmp_path)]) == 2
    assert "start the stack" in capsys.readouterr().err
