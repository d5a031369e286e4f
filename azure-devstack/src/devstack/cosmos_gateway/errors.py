"""Cosmos DB's error answers, for every refusal the front end makes itself.

The shape is the service's: a JSON body `{"code": "<Reason>", "message": "..."}` with `x-ms-substatus`
where the service sets one, `x-ms-activity-id`, and a request charge of 0 (a refused request costs
nothing). Status codes and their meaning: "HTTP Status Codes for Azure Cosmos DB" (REST reference);
sub-status codes: the SDKs' status code tables (azure-sdk-for-java `docs/StatusCodes.md`) and the
troubleshooting pages named beside each constructor.

Messages follow what the service answers, as quoted in SDK issue threads:
  401 "Request blocked by Auth <account> : Provided AAD token has been expired since [...] ..."
  403/5300 "... The given request [POST /dbs] cannot be authorized by AAD token in data plane."
  403/5301 "... principal [<oid>] does not have required RBAC permissions to perform action [...]
           on resource [dbs/<db>]. Learn more: https://aka.ms/cosmos-native-rbac." (the resource is the
           request's resource link, "/" for the account; azure-cosmos-dotnet-v3#2891, #3638)
  401 "The input authorization token can't serve the request. The wrong key is being used ..."
Token text never appears in a message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

RBAC_HELP = "Learn more: https://aka.ms/cosmos-native-rbac."
SUBSTATUS_AAD_CONTROL_PLANE = 5300
SUBSTATUS_RBAC_DENIED = 5301
SUBSTATUS_OWNER_MISSING = 1003  # "Owner resource does not exist": the container (or database) is missing
SUBSTATUS_RU_BUDGET_EXCEEDED = 3200  # a 429 for a container (or database) over its provisioned RU/s
# The 429 text of "Diagnose and troubleshoot Azure Cosmos DB request rate too large (429) exceptions".
REQUEST_RATE_TOO_LARGE = (
    "Request rate is large. More Request Units may be needed, so no changes were made. Please retry this "
    "request later. Learn more: http://aka.ms/cosmosdb-error-429"
)
# The codes Cosmos writes in `code`, where they differ from the HTTP reason phrase without spaces.
_CODES = {413: "RequestEntityTooLarge", 424: "FailedDependency", 429: "TooManyRequests", 449: "RetryWith"}


def error_code(status: int) -> str:
    if status in _CODES:
        return _CODES[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "Error"


class CosmosError(Exception):
    def __init__(
        self, status: int, message: str, *, substatus: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.substatus = substatus
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        headers = {
            "x-ms-activity-id": str(uuid.uuid4()),
            "x-ms-request-charge": "0",
            **self.headers,
        }
        if self.substatus is not None:
            headers["x-ms-substatus"] = str(self.substatus)
        body = {"code": error_code(self.status), "message": self.message}
        return web.json_response(body, status=self.status, headers=headers)


def service_message(*errors: str) -> str:
    """How the service wraps what its back end says: `Message: {"Errors":["Request size is too large"]}`
    (the 413 quoted in Azure/azure-cosmosdb-node#65 and dotnet/efcore#36903)."""
    return "Message: " + json.dumps({"Errors": list(errors)}, separators=(",", ":"))


def blocked(account: str, reason: str) -> str:
    return f"Request blocked by Auth {account} : {reason}"


def unauthorized(account: str, reason: str) -> CosmosError:
    return CosmosError(401, blocked(account, reason))


def control_plane_refused(account: str, method: str, path: str) -> CosmosError:
    request = f"{method} {path.rstrip('/') or '/'}"
    reason = f"The given request [{request}] cannot be authorized by AAD token in data plane. {RBAC_HELP}"
    return CosmosError(403, blocked(account, reason), substatus=SUBSTATUS_AAD_CONTROL_PLANE)


def rbac_refused(account: str, principal_id: str, action: str, resource: str) -> CosmosError:
    reason = (
        f"Request is blocked because principal [{principal_id}] does not have required RBAC permissions to "
        f"perform action [{action}] on resource [{resource or '/'}]. {RBAC_HELP}"
    )
    return CosmosError(403, blocked(account, reason), substatus=SUBSTATUS_RBAC_DENIED)


def owner_missing() -> CosmosError:
    """An item (or container) request whose container (or database) does not exist ("Owner resource does not
    exist": azure-cosmos-dotnet-v2#584's answer, azure-sdk-for-java#47604 names sub-status 1003)."""
    return CosmosError(404, service_message("Owner resource does not exist"), substatus=SUBSTATUS_OWNER_MISSING)


def throttled(retry_after_ms: int) -> CosmosError:
    """429 with `x-ms-retry-after-ms`, as a provisioned container over its RU/s answers."""
    return CosmosError(
        429,
        service_message(REQUEST_RATE_TOO_LARGE),
        substatus=SUBSTATUS_RU_BUDGET_EXCEEDED,
        headers={"x-ms-retry-after-ms": str(retry_after_ms)},
    )


def bad_request(message: str) -> CosmosError:
    return CosmosError(400, service_message(message))


def too_large() -> CosmosError:
    """413: "The document size in the request exceeded the allowable document size for a request"
    (HTTP Status Codes for Azure Cosmos DB), which is 2 MB."""
    return CosmosError(413, service_message("Request size is too large"))


def engine_unavailable() -> CosmosError:
    """The engine did not answer: what the service says when a replica is unreachable."""
    return CosmosError(503, "The service is currently unavailable. Please retry the request.")
