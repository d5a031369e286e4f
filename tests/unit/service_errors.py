"""Service answers as the SDKs raise them, for tests of refusals, hints and diagnostics without a stack.

Each error is built the way its SDK raises it, from a response shaped as the service answers: Key
Vault's JSON error with an inner error code (azure-core's HttpResponseError parses it), Storage's XML
error run through azure-storage-blob's own `process_storage_error` (or a real `BlobClient` call over a
transport that answers it), and Cosmos DB's body as the message of a CosmosHttpResponseError, with
x-ms-substatus when the service sends one. The bodies follow what the services document and answer
(frame/access.py names the sources; the local stack's services answer the same words).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import AsyncHttpResponse, AsyncHttpTransport, HttpRequest
from azure.core.utils import CaseInsensitiveDict
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.storage.blob._shared.response_handlers import process_storage_error
from azure.storage.blob.aio import BlobClient

PRINCIPAL = "00000000-0000-0000-0000-0000000000a1"
CALLER = "appid=11111111-1111-1111-1111-111111111111;oid=00000000-0000-0000-0000-0000000000a1"
VAULT_ID = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg-inbox"
    "/providers/microsoft.keyvault/vaults/kv-inbox"
)
STORAGE_MISMATCH = "This request is not authorized to perform this operation using this permission."


class Response:
    """The part of azure-core's HTTP response that its and the SDKs' error handling reads."""

    def __init__(
        self,
        status: int,
        body: str,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> None:
        self.request = HttpRequest("GET", url) if url else None
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
    return HttpResponseError(response=Response(403, json.dumps(body), "application/json; charset=utf-8"))


def key_vault_rbac_refusal(action: str, resource: str) -> HttpResponseError:
    """Key Vault's 403 ForbiddenByRbac, in its words and line breaks."""
    return key_vault_error(
        "ForbiddenByRbac",
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role "
        f"definitions were changed recently, please observe propagation time.\r\nCaller: {CALLER}\r\n"
        f"Action: '{action}'\r\nResource: '{resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\n"
        "DecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: kv-inbox;location=westeurope\r\n",
    )


def storage_body(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}\nRequestId:5b1c7e2a-001e-0044-1a2b-3c4d5e000000\n"
        "Time:2026-12-01T10:00:00.0000000Z</Message></Error>"
    )


def storage_error(code: str, message: str, url: str | None = None) -> HttpResponseError:
    response = Response(403, storage_body(code, message), "application/xml", {"x-ms-error-code": code}, url)
    try:
        process_storage_error(HttpResponseError(response=response))
    except HttpResponseError as raised:
        return raised
    raise AssertionError("process_storage_error did not raise")


def cosmos_error(message: str, substatus: int | None = None, status: int = 403) -> CosmosHttpResponseError:
    headers = {} if substatus is None else {"x-ms-substatus": str(substatus)}
    body = json.dumps({"code": "Forbidden", "message": message})
    response = Response(status, body, "application/json", headers)
    return CosmosHttpResponseError(message=body, response=response)  # type: ignore[no-untyped-call]


def cosmos_rbac_refusal(action: str, resource: str) -> CosmosHttpResponseError:
    """Cosmos DB's 403/5301, in its words."""
    return cosmos_error(
        "Request blocked by Auth cosmos-inbox : Request is blocked because principal "
        f"[{PRINCIPAL}] does not have required RBAC permissions to perform action "
        f"[{action}] on resource [{resource}]. Learn more: https://aka.ms/cosmos-native-rbac.\r\n"
        "ActivityId: 6c0d6f43-0000-0000-0000-000000000000, Microsoft.Azure.Documents.Common/2.14.0",
        substatus=5301,
    )


class _Answer(AsyncHttpResponse):
    def __init__(self, request: HttpRequest, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(request, None)
        self.status_code = status
        self.headers = CaseInsensitiveDict(headers)
        self.reason = "Forbidden"
        self.content_type = headers.get("Content-Type")
        self._body = body

    def body(self) -> bytes:
        return self._body

    async def load_body(self) -> None:
        return None

    async def read(self) -> bytes:
        return self._body


class Answering(AsyncHttpTransport[HttpRequest, AsyncHttpResponse]):
    """A transport that answers every request with one fixed response, as the service would."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self._answer = (status, dict(headers), body)

    async def send(self, request: HttpRequest, **kwargs: Any) -> AsyncHttpResponse:
        status, headers, body = self._answer
        return _Answer(request, status, headers, body)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None


async def storage_refused(account: str, container: str, blob: str, *, call: str) -> HttpResponseError:
    """What `BlobClient.upload_blob` (`call="upload"`) or `.download_blob` raises when Storage answers
    403 AuthorizationPermissionMismatch."""
    code = "AuthorizationPermissionMismatch"
    transport = Answering(
        403, {"Content-Type": "application/xml", "x-ms-error-code": code}, storage_body(code, STORAGE_MISMATCH).encode()
    )
    async with BlobClient(f"https://{account}.blob.core.windows.net", container, blob, transport=transport) as client:
        try:
            if call == "upload":
                await client.upload_blob(b"{}", overwrite=False)
            else:
                await client.download_blob()
        except HttpResponseError as raised:
            return raised
    raise AssertionError("the upload did not fail")
