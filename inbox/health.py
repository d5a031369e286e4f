"""Blueprint: liveness for load balancers, and diagnostics for operators.

`/api/health` touches nothing: it answers while any dependency is down, so a platform probe never
recycles a healthy instance because Cosmos had a bad minute.

`/api/diagnostics` (admin key) says which identity the app runs as and exercises each role the app
needs, with the same clients and the same permissions as real requests: list secret versions (Key
Vault Secrets User), write a probe blob in each container (Storage Blob Data Contributor), point-read
the index (Cosmos DB Built-in Data Contributor). A refused check carries the command that grants the
missing role. It never returns a token or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from inbox.clients import Clients, get_clients
from inbox.identity import get_credential, identity_kind
from inbox.problems import json_response, problem_responses
from inbox.secret_cache import secret_name
from inbox.settings import Settings, get_settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions lacks annotations here

PROBE_BLOB = "_diagnostics/probe"
PROBE_ID = "_diagnostics"
CHECK_TIMEOUT_SECONDS = 15
STORAGE_SCOPE = "https://storage.azure.com/.default"


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "healthy"})


@bp.route(route="diagnostics", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@problem_responses
async def diagnostics(req: func.HttpRequest) -> func.HttpResponse:
    settings, clients = get_settings(), get_clients()
    identity = await describe_identity(settings)
    checks = await asyncio.gather(
        run_check("keyvault", lambda: check_keyvault(clients, settings)),
        run_check("blob", lambda: check_blob(clients)),
        run_check("cosmos", lambda: check_cosmos(clients)),
    )
    principal = identity.get("principalId") or identity.get("clientId") or "<principal-id>"
    report = [check.as_json(settings, principal) for check in checks]
    healthy = all(check.ok for check in checks)
    return json_response({"identity": identity, "checks": report}, status=200 if healthy else 503)


# --- the checks ------------------------------------------------------------------------------------


async def check_keyvault(clients: Clients, settings: Settings) -> None:
    async for _ in clients.secrets.list_properties_of_secret_versions(secret_name(settings.sources[0])):
        break


async def check_blob(clients: Clients) -> None:
    for container in (clients.events_blobs, clients.digests_blobs):
        await container.upload_blob(PROBE_BLOB, b"", overwrite=True)


async def check_cosmos(clients: Clients) -> None:
    # A 404 means the read was authorised: that is all this check asks.
    with contextlib.suppress(ResourceNotFoundError):
        await clients.events_index.read_item(PROBE_ID, partition_key=PROBE_ID)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    status: int | None
    error: str | None

    def as_json(self, settings: Settings, principal: str) -> dict[str, Any]:
        hint = grant_hint(self.name, settings, principal) if self.status in (401, 403) else None
        return {
            "name": self.name,
            "ok": self.ok,
            "latencyMs": round(self.latency_ms, 1),
            "status": self.status,
            "error": self.error,
            "hint": hint,
        }


async def run_check(name: str, check: Callable[[], Awaitable[None]]) -> CheckResult:
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        status = 200
    except ClientAuthenticationError as exc:
        status = exc.status_code
        error = "the app's identity was refused" if status else "the app could not get a token for its identity"
    except HttpResponseError as exc:
        status, error = exc.status_code, f"the service answered {exc.status_code} {exc.reason or ''}".strip()
    except ServiceRequestError:
        error = "the service could not be reached"
    except TimeoutError:
        error = f"no answer within {CHECK_TIMEOUT_SECONDS} s"
    elapsed = (time.perf_counter() - started) * 1000
    return CheckResult(name, ok=error is None, latency_ms=elapsed, status=status, error=error)


# --- identity and hints ----------------------------------------------------------------------------


async def describe_identity(settings: Settings) -> dict[str, Any]:
    """Kind and client id from the settings; principal and tenant ids from a token's claims."""
    described: dict[str, Any] = {"kind": identity_kind(), "clientId": settings.client_id}
    try:
        token = await asyncio.wait_for(get_credential().get_token(STORAGE_SCOPE), CHECK_TIMEOUT_SECONDS)
    except Exception:
        described["tokenError"] = "could not get a token for the app's identity"
        return described
    claims = _unverified_claims(token.token)
    described.update(
        principalId=claims.get("oid"),
        tenantId=claims.get("tid"),
        clientId=settings.client_id or claims.get("appid"),
    )
    return described


def _unverified_claims(token: str) -> dict[str, Any]:
    # Only to read our own ids back; the services verify tokens, the app never relies on this.
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def grant_hint(check: str, settings: Settings, principal: str) -> str:
    vault = _first_label(settings.key_vault_endpoint)
    account = _first_label(settings.blob_endpoint)
    cosmos = _first_label(settings.cosmos_endpoint)
    if check == "keyvault":
        return (
            f"The identity needs 'Key Vault Secrets User' on the vault '{vault}': "
            f"az role assignment create --assignee {principal} --role 'Key Vault Secrets User' "
            f"--scope $(az keyvault show --name {vault} --query id -o tsv)"
        )
    if check == "blob":
        scope = f"$(az storage account show --name {account} --query id -o tsv)/blobServices/default/containers/"
        return (
            f"The identity needs 'Storage Blob Data Contributor' on the containers '{settings.events_container}' and "
            f"'{settings.digests_container}' of account '{account}': "
            f"az role assignment create --assignee {principal} --role 'Storage Blob Data Contributor' "
            f"--scope {scope}{settings.events_container} (and again for {settings.digests_container})"
        )
    return (
        f"The identity needs 'Cosmos DB Built-in Data Contributor' on database '{settings.cosmos_database}' of "
        f"account '{cosmos}': az cosmosdb sql role assignment create --account-name {cosmos} "
        f"--resource-group <resource-group> --role-definition-id 00000000-0000-0000-0000-000000000002 "
        f"--principal-id {principal} --scope /dbs/{settings.cosmos_database}"
    )


def _first_label(endpoint: str) -> str:
    return (urlsplit(endpoint).hostname or "").split(".")[0]
