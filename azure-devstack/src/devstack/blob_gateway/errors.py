"""Azure Storage's error answers, as the service writes them, for every refusal the gateway makes itself.

The shape comes from real answers recorded in Microsoft's SDK test suites:
- 403 AuthorizationPermissionMismatch, from the Blob service
  (Azure/azure-sdk-for-js sdk/storage/storage-blob/recordings, e.g.
  `recording_generateaccountsasqueryparameters_should_not_work_with_invalid_permission.js`):
  `<?xml version="1.0" encoding="utf-8"?><Error><Code>..</Code><Message>..\\nRequestId:<id>\\nTime:<UTC,
  7 fractional digits>Z</Message></Error>`, with `Content-Type: application/xml`, `x-ms-request-id`,
  `x-ms-error-code`, `x-ms-version` (the request's), `x-ms-client-request-id` (echoed) and
  `Server: Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0`;
- 401 InvalidAuthenticationInfo, from the front end before the Blob service sees the request
  (Azure/azure-sdk-for-js sdk/storage/storage-file-datalake/recordings/node/datalakefilesystemclient_nodejs_only/
  `recording_datalakefilesystemclient_bearer_token_challenge_should_work.js`): the same body plus
  `<AuthenticationErrorDetail>`, `WWW-Authenticate`, `Server: Microsoft-HTTPAPI/2.0` and no `x-ms-version`.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from aiohttp import hdrs, web

BLOB_SERVER = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"  # the Blob service's own answers
FRONT_END_SERVER = "Microsoft-HTTPAPI/2.0"  # answers given before the Blob service (authentication)
AUTHORITY_HOST = "https://login.microsoftonline.com"
STORAGE_RESOURCE = "https://storage.azure.com"
# "Server failed to authenticate ..." (both 401 answers, recording above and the REST page
# "Authorize with Microsoft Entra ID", section "Sample response to bearer challenge").
AUTHENTICATE_MESSAGE = (
    "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."
)


class StorageError(Exception):
    """A refusal in Azure Storage's XML error shape; `extra` holds additional elements (name -> text)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        front_end: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.front_end = front_end

    def response(self, request: web.Request) -> web.Response:
        request_id = new_request_id()
        headers = {
            hdrs.CONTENT_TYPE: "application/xml",
            hdrs.SERVER: FRONT_END_SERVER if self.front_end else BLOB_SERVER,
            "x-ms-request-id": request_id,
            "x-ms-error-code": self.code,
            **self.headers,
        }
        if not self.front_end:
            headers.update(_echoed(request))
        return web.Response(status=self.status, body=self._body(request_id).encode(), headers=headers)

    def _body(self, request_id: str) -> str:
        details = "".join(f"<{name}>{escape(text)}</{name}>" for name, text in self.extra.items())
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}\n"
            f"RequestId:{request_id}\nTime:{service_time()}</Message>{details}</Error>"
        )


def new_request_id() -> str:
    """A GUID like the service's, whose last six hex digits are zero (every recorded id ends so)."""
    return str(uuid.uuid4())[:-6] + "000000"


def service_time(now: datetime.datetime | None = None) -> str:
    """`2019-04-30T22:41:08.2434635Z`: the service writes seven fractional digits; Python has six."""
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _echoed(request: web.Request) -> dict[str, str]:
    """The request headers the Blob service repeats in its answer."""
    echoed = ("x-ms-version", "x-ms-client-request-id")
    return {name: request.headers[name] for name in echoed if name in request.headers}


def bearer_challenge(tenant_id: str) -> dict[str, str]:
    """The `WWW-Authenticate` header of every 401: where to get a token, and for which resource."""
    uri = f"{AUTHORITY_HOST}/{tenant_id}/oauth2/authorize"
    return {hdrs.WWW_AUTHENTICATE: f"Bearer authorization_uri={uri} resource_id={STORAGE_RESOURCE}"}


def invalid_authentication_info(tenant_id: str, detail: str) -> StorageError:
    return StorageError(
        401,
        "InvalidAuthenticationInfo",
        AUTHENTICATE_MESSAGE,
        extra={"AuthenticationErrorDetail": detail},
        headers=bearer_challenge(tenant_id),
        front_end=True,
    )


def no_authentication_information(tenant_id: str) -> StorageError:
    """An anonymous request at a version that knows the bearer challenge (2019-12-12 and later)."""
    return StorageError(
        401, "NoAuthenticationInformation", AUTHENTICATE_MESSAGE, headers=bearer_challenge(tenant_id), front_end=True
    )


def public_access_not_permitted() -> StorageError:
    """An anonymous request at an older version, on an account with `allowBlobPublicAccess: false`."""
    return StorageError(409, "PublicAccessNotPermitted", "Public access is not permitted on this storage account.")


def key_based_authentication_not_permitted() -> StorageError:
    """Shared Key or a key-signed SAS, on an account with `allowSharedKeyAccess: false`."""
    return StorageError(
        403, "KeyBasedAuthenticationNotPermitted", "Key based authentication is not permitted on this storage account."
    )


def authorization_permission_mismatch() -> StorageError:
    return StorageError(
        403,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
    )


def unauthorized_blob_overwrite() -> StorageError:
    """A write to an existing blob by a caller that may only create blobs (`blobs/add/action`, an add-only
    SAS or ACL). The code and message as Azure answered them in Azure/azure-cli#19203 (an add-only SAS)
    and MicrosoftDocs/azure-docs#50936; an RBAC role without `blobs/write` is taken to answer the same."""
    return StorageError(403, "UnauthorizedBlobOverwrite", "This request is not authorized to perform blob overwrites.")


def user_delegation_sas_not_served() -> StorageError:
    """Azure accepts a user delegation SAS on such an account; this gateway cannot verify one, so it says so."""
    return StorageError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        "correctly including the signature.",
        extra={"AuthenticationErrorDetail": "The local blob gateway does not verify user delegation SAS."},
    )


def invalid_query_parameter(name: str, value: str) -> StorageError:
    """An operation the gateway cannot map to a permission: refused, never forwarded unauthorised."""
    return StorageError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        extra={"QueryParameterName": name, "QueryParameterValue": value, "Reason": "Not served by the local gateway."},
    )


def unsupported_http_verb(method: str) -> StorageError:
    return StorageError(
        405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.", extra={"Verb": method}
    )


def invalid_uri() -> StorageError:
    return StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")


def internal_error() -> StorageError:
    """Azurite could not be reached; the service's own words for a failure on its side."""
    return StorageError(500, "InternalError", "Server encountered an internal error. Please try again after some time.")
