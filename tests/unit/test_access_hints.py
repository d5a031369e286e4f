"""A 403 from a service's network rules is told apart from a missing role, and hinted as such.

Each error is built the way its SDK raises it, from a response shaped as the service answers: Key
Vault's JSON error with an inner error code (azure-core's HttpResponseError parses it), Storage's
XML error run through azure-storage-blob's own `process_storage_error`, and Cosmos DB's body as the
message of a CosmosHttpResponseError, with x-ms-substatus when the service sends one. The bodies
follow what the services document and answer (see inbox/access_hints.py for the sources).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.utils import CaseInsensitiveDict
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.storage.blob._shared.response_handlers import process_storage_error

from inbox import permissions
from inbox.access_hints import NetworkRefusal, network_hint, network_refusal
from inbox.dependencies import problem_for_dependency_error
from inbox.health import CheckResult, run_check
from inbox.settings import Settings

SETTINGS = Settings.from_environment(
    {
        "AZURE_KEY_VAULT_ENDPOINT": "https://kv-inbox.vault.azure.net/",
        "AZURE_STORAGE_BLOB_ENDPOINT": "https://stdatainbox.blob.core.windows.net/",
        "AZURE_COSMOS_ENDPOINT": "https://cosmos-inbox.documents.azure.com:443/",
        "COSMOS_DATABASE": "inbox",
        "COSMOS_CONTAINER": "events",
        "WEBHOOK_SOURCES": "github",
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }
)
PRINCIPAL = "00000000-0000-0000-0000-0000000000a1"
CALLER = "appid=11111111-1111-1111-1111-111111111111;oid=00000000-0000-0000-0000-0000000000a1"


class Response:
    """The part of azure-core's HTTP response that its and the SDKs' error handling reads."""

    def __init__(self, status: int, body: str, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status
        self.reason = "Forbidden" if status == 403 else "Error"
        self.content_type = content_type
        self.headers = CaseInsensitiveDict({"Content-Type": content_type, **(headers or {})})
        self._body = body

    def text(self, encoding: str | None = None) -> str:
        return self._body

    def body(self) -> bytes:
        return self._body.encode()


def key_vault_error(inner: str, message: str) -> HttpResponseError:
    body = {"error": {"code": "Forbidden", "message": message, "innererror": {"code": inner}}}
    return HttpResponseError(response=Response(403, json.dumps(body), "application/json; charset=utf-8"))  # type: ignore[arg-type]


def storage_error(code: str, message: str) -> HttpResponseError:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}\nRequestId:5b1c7e2a-001e-0044-1a2b-3c4d5e000000\n"
        "Time:2026-12-01T10:00:00.0000000Z</Message></Error>"
    )
    response = Response(403, body, "application/xml", {"x-ms-error-code": code})
    try:
        process_storage_error(HttpResponseError(response=response))  # type: ignore[arg-type]
    except HttpResponseError as raised:
        return raised
    raise AssertionError("process_storage_error did not raise")


def cosmos_error(message: str, substatus: int | None = None) -> CosmosHttpResponseError:
    headers = {} if substatus is None else {"x-ms-substatus": str(substatus)}
    body = json.dumps({"code": "Forbidden", "message": message})
    response = Response(403, body, "application/json", headers)
    return CosmosHttpResponseError(message=body, response=response)  # type: ignore[no-untyped-call]


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
KEY_VAULT_NO_ROLE = key_vault_error(
    "ForbiddenByRbac",
    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role "
    f"definitions were changed recently, please observe propagation time.\r\nCaller: {CALLER}\r\n"
    "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"
    "Resource: '/subscriptions/.../secrets/webhook-github'",
)
STORAGE_NETWORK = storage_error("AuthorizationFailure", "This request is not authorized to perform this operation.")
STORAGE_NO_ROLE = storage_error(
    "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission."
)
COSMOS_FIREWALL = cosmos_error(
    "Request originated from IP 203.0.113.7 through public internet. This is blocked by your Cosmos DB account "
    "firewall settings. More info: https://aka.ms/cosmosdb-tsg-forbidden\r\nActivityId: 6c0d6f43-0000-0000-0000-0"
)
COSMOS_WRONG_ENDPOINT = cosmos_error("Request originated from client VNET through private endpoint. Blocked.")
COSMOS_NO_ROLE = cosmos_error(
    "Request blocked by Auth cosmos-inbox : Request is blocked because principal "
    f"[{PRINCIPAL}] does not have required RBAC permissions to perform action "
    "[Microsoft.DocumentDB/databaseAccounts/readMetadata] on resource [/]. Learn more: https://aka.ms/cosmos-native-rbac.",
    substatus=5301,
)


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


@pytest.mark.parametrize(
    ("name", "need", "error"),
    [
        ("keyvault", permissions.READ_SECRET, KEY_VAULT_PRIVATE_ONLY),
        ("blob", permissions.ARCHIVE_PAYLOAD, STORAGE_NETWORK),
        ("cosmos", permissions.READ_INDEX_METADATA, COSMOS_FIREWALL),
    ],
)
async def test_a_check_refused_by_the_network_gets_the_network_hint(
    name: str, need: permissions.Need, error: HttpResponseError
) -> None:
    async def refused() -> None:
        raise error

    result = await run_check(name, [(need, refused)], budget=1.0)
    report = result.as_json(SETTINGS, PRINCIPAL)
    assert report["ok"] is False
    assert report["status"] == 403
    assert report["action"] == need.action
    assert "network rules refused the request" in str(report["error"])
    assert "not for a missing role" in str(report["hint"])
    assert "--role" not in str(report["hint"])


@pytest.mark.parametrize(
    ("name", "need", "error"),
    [
        ("keyvault", permissions.READ_SECRET, KEY_VAULT_NO_ROLE),
        ("blob", permissions.ARCHIVE_PAYLOAD, STORAGE_NO_ROLE),
        ("cosmos", permissions.READ_INDEX_METADATA, COSMOS_NO_ROLE),
    ],
)
async def test_a_check_refused_for_a_role_keeps_the_role_hint(
    name: str, need: permissions.Need, error: HttpResponseError
) -> None:
    async def refused() -> None:
        raise error

    result = await run_check(name, [(need, refused)], budget=1.0)
    assert result.network is None
    hint = str(result.as_json(SETTINGS, PRINCIPAL)["hint"])
    assert need.action in hint
    assert "--role" in hint or "--role-definition" in hint


def test_a_check_result_built_without_the_network_field_still_means_a_role_refusal() -> None:
    result = CheckResult("blob", ok=False, latency_ms=1.0, status=403, error="x", refused=permissions.ARCHIVE_PAYLOAD)
    assert "--role" in str(result.as_json(SETTINGS, PRINCIPAL)["hint"])


def test_a_request_refused_by_network_rules_is_answered_503_without_blaming_the_identity() -> None:
    network = str(problem_for_dependency_error("blob", STORAGE_NETWORK).detail)
    assert "network rules" in network
    assert "identity" not in network
    role = str(problem_for_dependency_error("blob", STORAGE_NO_ROLE).detail)
    assert "refused the app's identity" in role
