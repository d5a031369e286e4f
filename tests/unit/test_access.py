"""A refusal names itself: the log line for a 401/403 at run time, the diagnostics hint, and a 403 from a
service's network rules told apart from a missing role."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from frame import access
from frame.access import Location, NetworkRefusal, hint, network_hint, network_refusal, refusal_line
from frame.dependencies import COSMOS_PARTITION_FULL, problem_for_dependency_error
from tests.unit.conftest import BLOBS, COSMOS, GRANTS, READER_FIX, SECRETS, SETTINGS, use_grants_document
from tests.unit.service_errors import (
    CALLER,
    PRINCIPAL,
    STORAGE_MISMATCH,
    VAULT_ID,
    cosmos_error,
    cosmos_rbac_refusal,
    key_vault_error,
    key_vault_rbac_refusal,
    storage_error,
    storage_refused,
)

KEY_VAULT_PRIVATE_ONLY = key_vault_error(
    "ForbiddenByConnection",
    "Public network access is disabled and request is not from a trusted service nor via an approved "
    f"private link.\r\nCaller: {CALLER}\r\nVault: kv-inbox;location=westeurope",
)
KEY_VAULT_FIREWALL = key_vault_error(
    "ForbiddenByFirewall",
    "Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\n"
    f"Caller: {CALLER}\r\nVault: kv-inbox;location=westeurope",
)
KEY_VAULT_NO_ROLE = key_vault_rbac_refusal(f"{SECRETS}/getSecret/action", f"{VAULT_ID}/secrets/webhook-github")
STORAGE_NETWORK = storage_error("AuthorizationFailure", "This request is not authorized to perform this operation.")
STORAGE_NO_ROLE = storage_error("AuthorizationPermissionMismatch", STORAGE_MISMATCH)
COSMOS_FIREWALL = cosmos_error(
    "Request originated from IP 203.0.113.7 through public internet. This is blocked by your Cosmos DB account "
    "firewall settings. More info: https://aka.ms/cosmosdb-tsg-forbidden\r\nActivityId: 6c0d6f43-0000-0000-0000-0"
)
COSMOS_WRONG_ENDPOINT = cosmos_error("Request originated from client VNET through private endpoint. Blocked.")
COSMOS_NO_ROLE = cosmos_rbac_refusal(f"{COSMOS}/sqlDatabases/containers/executeQuery", "dbs/inbox/colls/events")


# ---- the refusal line ------------------------------------------------------------------------------


def test_a_key_vault_refusal_names_the_action_and_resource_from_its_message(grants_file: Path) -> None:
    assert refusal_line("keyvault", KEY_VAULT_NO_ROLE) == (
        f"keyvault refused the app's identity {SECRETS}/getSecret/action on {VAULT_ID}/secrets/webhook-github "
        "(403 ForbiddenByRbac); infra/ grants it with 'Key Vault Secrets User' at vault scope"
    )


def test_a_cosmos_refusal_names_the_action_and_resource_from_its_message(grants_file: Path) -> None:
    assert refusal_line("cosmos", COSMOS_NO_ROLE) == (
        f"cosmos refused the app's identity {COSMOS}/sqlDatabases/containers/executeQuery on dbs/inbox/colls/events "
        "(403 sub-status 5301); infra/ grants it with 'Inbox app: index and query events' at container scope"
    )


async def test_a_storage_refusal_names_the_action_of_the_sdk_method_that_was_refused(grants_file: Path) -> None:
    """Storage's answer names no action: the operations map does, for the method in the traceback."""
    refused = await storage_refused("stdatainbox", "events", "github/72d3162e", call="upload")
    assert refusal_line("blob", refused) == (
        f"blob refused the app's identity {BLOBS}/write (BlobClient.upload_blob) on /events/github/72d3162e "
        "(403 AuthorizationPermissionMismatch); "
        "infra/ grants it with 'Storage Blob Data Contributor' at container scope"
    )


async def test_without_an_operations_map_a_storage_refusal_is_an_action_on_the_request_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_grants_document({k: v for k, v in GRANTS.items() if k != "operations"}, tmp_path, monkeypatch)
    refused = await storage_refused("stdatainbox", "events", "github/72d3162e", call="upload")
    assert refusal_line("blob", refused) == (
        "blob refused the app's identity an action on /events/github/72d3162e (403 AuthorizationPermissionMismatch); "
        "neither the answer nor the operations map names the action: /api/diagnostics probes each declared one"
    )
    access.grants.cache_clear()


def test_an_action_infra_grants_to_no_role_comes_with_the_fix(grants_file: Path) -> None:
    refused = cosmos_rbac_refusal(f"{COSMOS}/sqlDatabases/containers/items/delete", "dbs/inbox/colls/events")
    assert refusal_line("cosmos", refused).endswith("; no role in infra/ grants it; extend the role")


def test_an_undeclared_action_says_so(grants_file: Path) -> None:
    refused = key_vault_rbac_refusal(f"{SECRETS}/list/action", VAULT_ID)
    assert refusal_line("keyvault", refused).endswith(
        f"; {SECRETS}/list/action is not declared in grants.json: declare it, then regenerate that file"
    )


async def test_an_action_granted_differently_per_resource_names_each_way(grants_file: Path) -> None:
    refused = await storage_refused("stdatainbox", "exports", "2026-12-01.json", call="download")
    assert refusal_line("blob", refused) == (
        f"blob refused the app's identity {BLOBS}/read (BlobClient.download_blob) on /exports/2026-12-01.json "
        "(403 AuthorizationPermissionMismatch); for archive: infra/ grants it with 'Storage Blob Data Contributor' "
        f"at container scope; for exports: no role in infra/ grants it; {READER_FIX}"
    )


def test_a_refusal_line_is_one_line_without_the_query_string(grants_file: Path) -> None:
    url = "https://stdatainbox.blob.core.windows.net/events/a?sig=secret&sv=1"
    refused = storage_error("AuthorizationPermissionMismatch", STORAGE_MISMATCH, url)
    line = refusal_line("blob", refused)
    assert " on /events/a (" in line
    assert "sig" not in line
    assert "\n" not in refusal_line("keyvault", KEY_VAULT_NO_ROLE)


def test_without_a_grants_file_the_line_still_names_the_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "_grants_file", None)
    access.grants.cache_clear()
    line = refusal_line("cosmos", COSMOS_NO_ROLE)
    assert line.startswith(f"cosmos refused the app's identity {COSMOS}/sqlDatabases/containers/executeQuery on")
    assert line.endswith("no grants file was given: function_app.py calls frame.access.use_grants(path)")
    access.grants.cache_clear()


@pytest.mark.parametrize(
    ("dependency", "error"),
    [("keyvault", KEY_VAULT_NO_ROLE), ("blob", STORAGE_NO_ROLE), ("cosmos", COSMOS_NO_ROLE)],
)
def test_a_refused_identity_is_logged_once_and_answered_503(
    dependency: str, error: HttpResponseError, grants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="frame")
    problem = problem_for_dependency_error(dependency, error)
    assert (problem.status, problem.extra["dependency"]) == (503, dependency)
    assert "refused the app's identity" in str(problem.detail)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == refusal_line(dependency, error)


@pytest.mark.parametrize(
    ("dependency", "error"),
    [
        ("blob", STORAGE_NETWORK),
        ("cosmos", COSMOS_FIREWALL),
        ("cosmos", cosmos_error("Partition key reached maximum size", substatus=COSMOS_PARTITION_FULL)),
    ],
    ids=["network rules", "cosmos firewall", "cosmos partition full"],
)
def test_a_403_that_is_not_about_roles_logs_no_refusal(
    dependency: str, error: HttpResponseError, grants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="frame")
    assert problem_for_dependency_error(dependency, error).status == 503
    assert caplog.records == []


# ---- the diagnostics hint --------------------------------------------------------------------------


def test_a_hint_names_the_role_scope_and_command(grants_file: Path) -> None:
    (declared, _) = access.grants().of_resource("archive")
    text = hint(declared, Location(container="events"), SETTINGS, PRINCIPAL)
    assert text == (
        f"The identity may not perform {BLOBS}/write (to archive a payload). infra/ grants it with "
        "'Storage Blob Data Contributor' at container scope: az role assignment create --assignee-object-id "
        f"{PRINCIPAL} --assignee-principal-type ServicePrincipal --role 'Storage Blob Data Contributor' --scope "
        "$(az storage account show --name stdatainbox --query id -o tsv)/blobServices/default/containers/events"
    )


def test_a_cosmos_hint_scopes_the_custom_role_to_the_container(grants_file: Path) -> None:
    (declared, *_) = access.grants().of_resource("index")
    text = hint(declared, Location(database="inbox", container="events"), SETTINGS, PRINCIPAL)
    assert text.endswith(
        "az cosmosdb sql role assignment create --account-name cosmos-inbox --resource-group <resource-group> "
        f"--role-definition-name 'Inbox app: index and query events' --principal-id {PRINCIPAL} "
        "--scope /dbs/inbox/colls/events"
    )


def test_a_hint_for_an_ungranted_action_gives_the_fix(grants_file: Path) -> None:
    (declared,) = access.grants().of_resource("exports")
    assert hint(declared, Location(container="exports"), SETTINGS, PRINCIPAL).endswith(
        f"No role in infra/ grants it; {READER_FIX}."
    )


# ---- refused by the network, not by a role ---------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "origin"),
    [
        (KEY_VAULT_PRIVATE_ONLY, "ForbiddenByConnection", None),
        (KEY_VAULT_FIREWALL, "ForbiddenByFirewall", "client address 203.0.113.7"),
        (STORAGE_NETWORK, "AuthorizationFailure", None),
        (COSMOS_FIREWALL, "firewall", "IP 203.0.113.7 through public internet"),
        (COSMOS_WRONG_ENDPOINT, "firewall", "client VNET through private endpoint"),
    ],
    ids=["key vault private only", "key vault firewall", "storage", "cosmos public internet", "cosmos other endpoint"],
)
def test_a_network_refusal_is_recognised_with_where_the_request_came_from(
    error: HttpResponseError, code: str, origin: str | None
) -> None:
    assert network_refusal(error) == NetworkRefusal(code, origin)


@pytest.mark.parametrize(
    "error",
    [KEY_VAULT_NO_ROLE, STORAGE_NO_ROLE, COSMOS_NO_ROLE],
    ids=["key vault ForbiddenByRbac", "storage AuthorizationPermissionMismatch", "cosmos 5301"],
)
def test_a_missing_role_is_not_a_network_refusal(error: HttpResponseError) -> None:
    assert network_refusal(error) is None


def test_only_a_403_can_be_a_network_refusal() -> None:
    not_found = storage_error("AuthorizationFailure", "This request is not authorized to perform this operation.")
    not_found.status_code = 404
    assert network_refusal(not_found) is None
    assert network_refusal(ValueError("AuthorizationFailure")) is None


def test_the_network_hint_names_the_service_the_host_and_what_to_check_not_a_role() -> None:
    text = network_hint("cosmos", NetworkRefusal("firewall", "IP 203.0.113.7 through public internet"), SETTINGS)
    assert text.startswith("Cosmos DB refused the request on its network rules (firewall), not for a missing role")
    assert "Cosmos DB saw it come from IP 203.0.113.7 through public internet." in text
    assert "cosmos-inbox.documents.azure.com" in text
    assert "private DNS zone group" in text
    assert "az role assignment" not in text


def test_a_request_refused_by_network_rules_is_answered_503_without_blaming_the_identity(grants_file: Path) -> None:
    network = str(problem_for_dependency_error("blob", STORAGE_NETWORK).detail)
    assert "network rules" in network
    assert "identity" not in network
    role = str(problem_for_dependency_error("blob", STORAGE_NO_ROLE).detail)
    assert "refused the app's identity" in role
