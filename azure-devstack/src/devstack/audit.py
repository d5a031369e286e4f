"""The local services' access audit: one record per data-plane request, as Azure Monitor would log it.

In Azure, each service's diagnostic setting writes every request and its authorisation to a table of
the Log Analytics workspace: Key Vault to AZKVAuditLogs, the blob service to StorageBlobLogs, Cosmos DB
to CDBDataPlaneRequests. Locally the Key Vault fake, the Blob gateway and the Cosmos DB front end each
get this module's middleware (`AuditLog.middleware`), which sees every data-plane request they answer,
the RBAC decisions their `ObservedAuthorizer` took for it (devstack/refusals.py), and what they
answered, and writes it as one JSON line in
`<log dir>/audit/<table>.jsonl` under that table's own column names and meanings
(devstack/monitor_tables.py), filled where the stack knows the value: when, who (the token's object and
application ids), what (the service's operation name, and the data action where the table has a
column for it), where (the secret, blob or container), the answer, and the role assignment that
allowed it. A column whose value the stack cannot know (a region, a request charge, a workspace id) is
left out rather than invented.

The same queries therefore run over the local records as over the workspace (`python -m devstack
audit` prints them; tests run the app's alert query on them). What Azure writes that the stack cannot
see, and the values not confirmed against a live log, are in the README's "Monitoring access".

No token, key or SAS signature is written: claims are reduced to the ids, and a `sig` in a URL is
replaced. Records carry principal ids and resource names, so the files are the owner's only, like the
stack's other logs.
"""

from __future__ import annotations

import datetime
import http
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from infra_model.authorization import Decision

from devstack.blob_gateway.errors import StorageError
from devstack.blob_gateway.operations import parse_target
from devstack.blob_gateway.operations import resolve as blob_resolve
from devstack.children import private_log
from devstack.cosmos_gateway.resource import BadPath
from devstack.cosmos_gateway.resource import describe as describe_cosmos
from devstack.keyvault.errors import ServiceError
from devstack.keyvault.routes import Route
from devstack.keyvault.routes import origin as kv_origin
from devstack.keyvault.routes import resolve as kv_resolve
from devstack.monitor_tables import AZKV_AUDIT_LOGS, CDB_DATA_PLANE_REQUESTS, STORAGE_BLOB_LOGS, TABLES
from devstack.refusals import observed_decisions

AUDIT_FOLDER = "audit"
Record = dict[str, Any]

# Key Vault's operationName for each secrets operation ("Azure Key Vault logging", operation names:
# Secret<Verb>); a request refused before it names an operation (no token, a token refused) is
# "Authentication", as Key Vault logs the 401 it answers then.
KEYVAULT_OPERATION_NAMES: Mapping[str, str] = {
    "getSecret": "SecretGet",
    "getSecretVersions": "SecretListVersions",
    "getSecrets": "SecretList",
    "setSecret": "SecretSet",
    "updateSecret": "SecretUpdate",
    "deleteSecret": "SecretDelete",
    "getDeletedSecret": "SecretGetDeleted",
    "getDeletedSecrets": "SecretListDeleted",
    "recoverDeletedSecret": "SecretRecover",
    "purgeDeletedSecret": "SecretPurge",
    "backupSecret": "SecretBackup",
    "restoreSecret": "SecretRestore",
}
KEYVAULT_AUTHENTICATION = "Authentication"

# Cosmos DB's OperationName and RequestResourceType for the requests the local server tells apart
# (CDBDataPlaneRequests: "Read", "Create", "Query" ... and "Document", "Collection" ...).
COSMOS_OPERATION_NAMES: Mapping[str, str] = {
    "read": "Read",
    "create": "Create",
    "query": "Query",
    "upsert": "Upsert",
    "replace": "Replace",
    "delete": "Delete",
    "patch": "Patch",
    "batch": "Batch",
}
COSMOS_RESOURCE_TYPES: Mapping[str, str] = {
    "": "DatabaseAccount",
    "dbs": "Database",
    "colls": "Collection",
    "docs": "Document",
    "pkranges": "PartitionKeyRange",
    "sprocs": "StoredProcedure",
    "triggers": "Trigger",
    "udfs": "UserDefinedFunction",
    "conflicts": "Conflict",
    "offers": "Offer",
    "users": "User",
    "permissions": "Permission",
}

# A Storage REST operation's log name is its title without spaces ("Put Blob" -> "PutBlob"), as the
# "Storage Analytics logged operations" list writes them, but for these.
_STORAGE_OPERATION_NAMES = {"Preflight Blob Request": "BlobPreflightRequest"}
_SAS_SIGNATURE = re.compile(r"(?i)([?&]sig=)[^&#]*")


@dataclass(frozen=True)
class Caller:
    """Who made a request, as far as its token says (None when there was no acceptable token)."""

    object_id: str = ""
    app_id: str = ""
    tenant_id: str = ""
    issuer: str = ""
    audience: str = ""

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any] | None) -> Caller | None:
        if claims is None:
            return None
        return cls(
            object_id=str(claims.get("oid", "")),
            app_id=str(claims.get("appid", "")),
            tenant_id=str(claims.get("tid", "")),
            issuer=str(claims.get("iss", "")),
            audience=str(claims.get("aud", "")),
        )


@dataclass(frozen=True)
class KeyVaultRequest:
    time: datetime.datetime
    duration_ms: float
    status: int
    operation: str  # a keyvault.routes operation id; "" when refused before one was known
    vault_id: str
    request_uri: str
    secret_id: str = ""
    api_version: str = ""
    caller_ip: str = ""
    client_request_id: str = ""
    caller: Caller | None = None
    decision: Decision | None = None
    message: str = ""  # the error message of a failed request


@dataclass(frozen=True)
class BlobRequest:
    time: datetime.datetime
    duration_ms: float
    status: int
    status_text: str  # the error code (x-ms-error-code), or "Success"
    operation: str  # the REST operation's title, "Put Blob"
    account_id: str
    account_name: str
    uri: str
    container: str = ""
    blob: str = ""
    authentication_type: str = "OAuth"
    version: str = ""
    caller_ip: str = ""
    client_request_id: str = ""
    user_agent: str = ""
    request_length: int | None = None
    caller: Caller | None = None
    decisions: Sequence[Decision] = ()


@dataclass(frozen=True)
class CosmosRequest:
    time: datetime.datetime
    duration_ms: float
    status: int
    operation: str  # the server's: read, create, query, upsert, replace, delete, patch, batch
    resource_type: str  # the path's: docs, colls, dbs, pkranges, ... or "" for the account
    feed: bool  # a read of a feed (ReadFeed) rather than of one resource
    account_id: str
    database: str = ""
    collection: str = ""
    caller_ip: str = ""
    user_agent: str = ""
    activity_id: str = ""
    request_length: int | None = None
    principal_id: str = ""
    assignment_id: str = ""  # the role assignment that allowed it


def assignment_guid(decision: Decision | None) -> str:
    """The id Azure logs for the role assignment that allowed a request: its name, a GUID."""
    granted = None if decision is None else decision.assignment
    return "" if granted is None or not granted.id else granted.id.rstrip("/").rsplit("/", 1)[-1]


def keyvault_record(request: KeyVaultRequest, *, subscription_id: str) -> Record:
    caller = request.caller
    succeeded = request.status < 400
    record: Record = {
        "TimeGenerated": _timestamp(request.time),
        "OperationName": KEYVAULT_OPERATION_NAMES.get(request.operation, KEYVAULT_AUTHENTICATION),
        "OperationVersion": request.api_version,
        "ResultType": "Success" if succeeded else "Failure",
        "ResultSignature": _reason(request.status),
        "ResultDescription": "" if succeeded else request.message,
        "HttpStatusCode": request.status,
        "DurationMs": round(request.duration_ms),
        "CallerIpAddress": request.caller_ip,
        "CorrelationId": request.client_request_id,
        "RequestUri": request.request_uri,
        "Id": request.secret_id,
        "_ResourceId": request.vault_id.lower(),
        "_SubscriptionId": subscription_id,
        "Type": AZKV_AUDIT_LOGS.name,
    }
    if caller is not None:
        record["Identity"] = {"claim": {"oid": caller.object_id, "appid": caller.app_id}}
    if request.decision is not None:
        record["IsRbacAuthorized"] = request.decision.allowed
        record["AppliedAssignmentId"] = assignment_guid(request.decision)
    return _checked(record)


def blob_record(request: BlobRequest, *, subscription_id: str) -> Record:
    caller = request.caller
    record: Record = {
        "TimeGenerated": _timestamp(request.time),
        "AccountName": request.account_name,
        "OperationName": _STORAGE_OPERATION_NAMES.get(request.operation, request.operation.replace(" ", "")),
        "Category": storage_category(request.operation),
        "StatusCode": str(request.status),
        "StatusText": request.status_text,
        "DurationMs": round(request.duration_ms, 3),
        "AuthenticationType": request.authentication_type,
        "Protocol": "HTTPS",
        "ServiceType": "blob",
        "Uri": _SAS_SIGNATURE.sub(r"\1XXXXX", request.uri),
        "OperationVersion": request.version,
        "CallerIpAddress": request.caller_ip,
        "ClientRequestId": request.client_request_id,
        "UserAgentHeader": request.user_agent,
        # "/<account>/<container>/<blob>", the key Storage logs for the object a request names.
        "ObjectKey": "/" + "/".join(p for p in (request.account_name, request.container, request.blob) if p),
        "_ResourceId": f"{request.account_id}/blobServices/default".lower(),
        "_SubscriptionId": subscription_id,
        "Type": STORAGE_BLOB_LOGS.name,
    }
    if request.request_length is not None:
        record["ContentLengthHeader"] = request.request_length
    if caller is not None:
        record.update(
            {
                "RequesterObjectId": caller.object_id,
                "RequesterAppId": caller.app_id,
                "RequesterTenantId": caller.tenant_id,
                "RequesterTokenIssuer": caller.issuer,
                "RequesterAudience": caller.audience,
            }
        )
    if request.decisions:
        record["AuthorizationDetails"] = [
            {
                "action": d.action,
                "result": "Granted" if d.allowed else "Denied",
                "roleAssignmentId": assignment_guid(d),
                "roleDefinitionId": "" if d.assignment is None else d.assignment.role.id,
            }
            for d in request.decisions
        ]
    return _checked(record)


def storage_category(operation: str) -> str:
    """StorageRead, StorageWrite or StorageDelete: which diagnostic category logs a REST operation."""
    verb = operation.split(" ", 1)[0]
    if verb == "Delete":
        return "StorageDelete"
    if verb in {"Get", "List", "Find", "Query", "Preflight"}:
        return "StorageRead"
    return "StorageWrite"


def cosmos_record(request: CosmosRequest, *, subscription_id: str) -> Record:
    operation = "ReadFeed" if request.operation == "read" and request.feed else request.operation
    record: Record = {
        "TimeGenerated": _timestamp(request.time),
        "AccountName": request.account_id.rsplit("/", 1)[-1],
        "OperationName": COSMOS_OPERATION_NAMES.get(operation, operation),
        "RequestResourceType": COSMOS_RESOURCE_TYPES.get(request.resource_type, request.resource_type),
        "StatusCode": request.status,
        "DurationMs": round(request.duration_ms, 3),
        "DatabaseName": request.database,
        "CollectionName": request.collection,
        "ClientIpAddress": request.caller_ip,
        "UserAgent": request.user_agent,
        "ActivityId": request.activity_id or str(uuid.uuid4()),
        "ConnectionMode": "Gateway",
        "AadPrincipalId": request.principal_id,
        "AadAppliedRoleAssignmentId": request.assignment_id.rstrip("/").rsplit("/", 1)[-1],
        "_ResourceId": request.account_id.lower(),
        "_SubscriptionId": subscription_id,
        "Type": CDB_DATA_PLANE_REQUESTS.name,
    }
    if request.request_length is not None:
        record["RequestLength"] = request.request_length
    return _checked(record)


class AuditLog:
    """Appends each record to its table's file under `directory`; safe to call from any thread."""

    def __init__(self, directory: Path, *, subscription_id: str) -> None:
        self.directory = directory
        self._subscription_id = subscription_id
        self._files: dict[str, BinaryIO] = {}
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def keyvault(self, request: KeyVaultRequest) -> None:
        self.write(keyvault_record(request, subscription_id=self._subscription_id))

    def blob(self, request: BlobRequest) -> None:
        self.write(blob_record(request, subscription_id=self._subscription_id))

    def cosmos(self, request: CosmosRequest) -> None:
        self.write(cosmos_record(request, subscription_id=self._subscription_id))

    def middleware(self, service: str, resource_id: str, resource_name: str = "") -> Middleware:
        """For the in-process app of `service` ("keyvault", "blob" or "cosmos"), built with an
        ObservedAuthorizer: `resource_id` is the vault's, the storage account's or the Cosmos DB
        account's ARM id, `resource_name` the storage account's name."""
        if service not in {"keyvault", "blob", "cosmos"}:
            raise ValueError(f"no audit table for service {service!r}")

        @web.middleware
        async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
            if _not_data_plane(request.path):
                return await handler(request)
            started, began = now(), time.perf_counter()
            with observed_decisions() as decisions:
                response = await handler(request)
            seen = _Seen(request, response, started, (time.perf_counter() - began) * 1000, decisions())
            record = self._record_of(service, seen, resource_id, resource_name)
            if record is not None:
                self.write(record)
            return response

        return audit

    def _record_of(self, service: str, seen: _Seen, resource_id: str, resource_name: str) -> Record | None:
        subscription = self._subscription_id
        if service == "keyvault":
            vault = _keyvault_request(seen, resource_id)
            return None if vault is None else keyvault_record(vault, subscription_id=subscription)
        if service == "blob":
            blob = _blob_request(seen, resource_id, resource_name)
            return None if blob is None else blob_record(blob, subscription_id=subscription)
        cosmos = _cosmos_request(seen, resource_id)
        return None if cosmos is None else cosmos_record(cosmos, subscription_id=subscription)

    def write(self, record: Record) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        table = str(record["Type"])
        with self._lock:
            file = self._files.get(table)
            if file is None:
                file = self._files[table] = private_log(self.directory / f"{table}.jsonl")
            file.write(line)  # unbuffered: a reader sees each record as soon as it is written

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()


# ---- what each service's request was, from the request, the answer and the decisions --------------


@dataclass(frozen=True)
class _Seen:
    request: web.Request
    response: web.StreamResponse
    time: datetime.datetime
    duration_ms: float
    decisions: list[Decision]


def _not_data_plane(path: str) -> bool:
    """The services' own test routes, which Azure does not have."""
    return path == "/stats" or path.startswith("/_devstack/")


def _caller(seen: _Seen) -> Caller | None:
    """The token's ids, read only once the service has verified it: it took a decision for the caller,
    or refused it for its permissions (403 comes after authentication in all three services)."""
    if not seen.decisions and seen.response.status != 403:
        return None
    header = seen.request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else parse_qs(unquote(header)).get("sig", [""])[0]
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return Caller.from_claims(claims)


def _error_message(response: web.StreamResponse) -> str:
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return ""
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return ""
    return str(error.get("message", "")) if isinstance(error, dict) else ""


def _keyvault_request(seen: _Seen, vault_id: str) -> KeyVaultRequest | None:
    request, status = seen.request, seen.response.status
    try:
        route: Route | None = kv_resolve(request.method, request.rel_url.raw_path)
        host = kv_origin(request)
    except ServiceError:
        route, host = None, f"https://{request.host}"
    if route is None and status != 401:
        return None  # no operation and no authentication to log (a path Key Vault does not serve)
    secret_id = f"{host}/secrets/{route.name}" if route is not None and route.name else ""
    if secret_id and route is not None and route.version:
        secret_id += f"/{route.version}"
    return KeyVaultRequest(
        time=seen.time,
        duration_ms=seen.duration_ms,
        status=status,
        operation="" if route is None or status == 401 else route.operation,
        vault_id=vault_id,
        request_uri=f"{host}{request.rel_url.raw_path_qs}",
        secret_id=secret_id,
        api_version=request.query.get("api-version", ""),
        caller_ip=request.remote or "",
        client_request_id=request.headers.get("x-ms-client-request-id", ""),
        caller=_caller(seen),
        decision=seen.decisions[-1] if seen.decisions else None,
        message="" if status < 400 else _error_message(seen.response),
    )


def _blob_request(seen: _Seen, account_id: str, account_name: str) -> BlobRequest | None:
    request, response = seen.request, seen.response
    try:
        target = parse_target(request.host, request.rel_url.raw_path, account_name)
        operation = blob_resolve(
            request.method, target, request.query, request.headers, account_id=account_id, account_name=account_name
        )
    except StorageError:
        return None  # no operation Storage serves: nothing it would log as one
    return BlobRequest(
        time=seen.time,
        duration_ms=seen.duration_ms,
        status=response.status,
        status_text=response.headers.get("x-ms-error-code", "Success" if response.status < 400 else ""),
        operation=operation.name,
        account_id=account_id,
        account_name=account_name,
        uri=request_uri(f"https://{request.host}{request.rel_url.raw_path_qs}"),
        container=target.container,
        blob=target.blob,
        authentication_type=_storage_authentication(request),
        version=request.headers.get("x-ms-version", ""),
        caller_ip=f"{request.remote}:{_peer_port(request)}" if request.remote else "",
        client_request_id=request.headers.get("x-ms-client-request-id", ""),
        user_agent=request.headers.get(hdrs.USER_AGENT, ""),
        request_length=request.content_length,
        caller=_caller(seen),
        decisions=tuple(seen.decisions),
    )


def _storage_authentication(request: web.Request) -> str:
    """AuthenticationType as Storage logs it: OAuth (a bearer token), AccountKey, SAS or Anonymous."""
    scheme = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")[0].lower()
    if scheme == "bearer":
        return "OAuth"
    if scheme in {"sharedkey", "sharedkeylite"}:
        return "AccountKey"
    return "SAS" if "sig" in request.query else "Anonymous"


def _peer_port(request: web.Request) -> int | str:
    peer = None if request.transport is None else request.transport.get_extra_info("peername")
    return peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else ""


def _cosmos_request(seen: _Seen, account_id: str) -> CosmosRequest | None:
    request = seen.request
    if "type=master" in unquote(request.headers.get(hdrs.AUTHORIZATION, "")).lower():
        # The account key stands in for what Azure Resource Manager does (provisioning), which Cosmos DB
        # logs as control-plane requests, not data-plane ones.
        return None
    try:
        target = describe_cosmos(request.method, request.rel_url.raw_path, request.headers)
    except BadPath:
        return None
    caller = _caller(seen)
    allowed = [d for d in seen.decisions if d.allowed]
    return CosmosRequest(
        time=seen.time,
        duration_ms=seen.duration_ms,
        status=seen.response.status,
        operation=target.operation.value,
        resource_type=target.resource_type,
        feed=target.is_feed,
        account_id=account_id,
        database=target.database or "",
        collection=target.container or "",
        caller_ip=request.remote or "",
        user_agent=request.headers.get(hdrs.USER_AGENT, ""),
        activity_id=seen.response.headers.get("x-ms-activity-id", ""),
        request_length=request.content_length,
        principal_id="" if caller is None else caller.object_id,
        assignment_id=assignment_guid(allowed[-1]) if allowed and len(allowed) == len(seen.decisions) else "",
    )


def read_records(directory: Path, tables: Sequence[str] = ()) -> Iterator[Record]:
    """Every record under `directory` (of `tables`, or all), oldest first."""
    records: list[Record] = []
    for path in sorted(directory.glob("*.jsonl")):
        if tables and path.stem not in tables:
            continue
        with path.open() as lines:
            records.extend(json.loads(line) for line in lines if line.strip())
    return iter(sorted(records, key=lambda r: str(r.get("TimeGenerated", ""))))


def refused(record: Mapping[str, Any]) -> bool:
    """Whether a record is of a request refused for who asked (401 or 403)."""
    status = record.get("HttpStatusCode", record.get("StatusCode"))
    return str(status) in {"401", "403"}


def _checked(record: Record) -> Record:
    """A record whose every column its table documents: a typo here would write a column no query finds."""
    unknown = set(record) - set(TABLES[str(record["Type"])].columns)
    if unknown:
        raise ValueError(f"{record['Type']} has no column {', '.join(sorted(unknown))}")
    return record


def _timestamp(moment: datetime.datetime) -> str:
    """ISO 8601 in UTC with 7 fractional digits and a Z, as Log Analytics exports datetimes."""
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _reason(status: int) -> str:
    """Key Vault's ResultSignature: the HTTP status as words ("OK", "Forbidden", "Unauthorized")."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def request_uri(url: str) -> str:
    """A request URL as logged: scheme, host, path and query, a SAS signature replaced."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return _SAS_SIGNATURE.sub(r"\1XXXXX", f"{parts.scheme}://{parts.netloc}{parts.path}{query}")
