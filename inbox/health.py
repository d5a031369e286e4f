"""Blueprint: liveness for load balancers, and diagnostics for operators.

`/api/health` touches nothing: it answers while any dependency is down, so a platform probe never
recycles a healthy instance because Cosmos had a bad minute.

`/api/diagnostics` (admin key) says which identity the app runs as and, per dependency, performs each
data action the app's code performs (inbox/permissions.py), with the same clients as real requests:
list and read the signing secrets, write and read a probe blob in each container, read the index's
metadata, read, create and query a probe item in a partition no source uses. The first refused
action of a check names itself, the role infra/ grants it with, and the command that grants it
(inbox/access_hints.py); when the service's network rules refused it instead (private networking),
the hint says so and points at the private endpoint and its DNS, since no role would help.
`secrets` says, per source, whether its signing secret exists and can be used, with the
`az keyvault secret set` command when not: right after `azd up` none exist, and deliveries are
answered 503 `source-not-configured` until they do. The report never contains a token or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from inbox import permissions
from inbox.access_hints import NetworkRefusal, hint, network_hint, network_refusal, secret_hint
from inbox.clients import Clients, get_clients
from inbox.identity import get_credential, identity_kind
from inbox.invocation import problem_responses
from inbox.permissions import Need
from inbox.problems import json_response
from inbox.secret_cache import created, usable
from inbox.settings import Settings, get_settings
from inbox.signing import secret_name

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions lacks annotations here

PROBE_BLOB = "_diagnostics/probe"
# Sources match [a-z0-9][a-z0-9-]*, so this partition never shows up in a source's queries.
PROBE_PARTITION = "_diagnostics"
PROBE_ITEM = {"id": PROBE_PARTITION, "source": PROBE_PARTITION, "ttl": 3600}
CHECK_MARGIN_SECONDS = 1.0
STORAGE_SCOPE = "https://storage.azure.com/.default"

Probe = Callable[[], Awaitable[None]]
Step = tuple[Need, Probe]


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "healthy"})


@bp.route(route="diagnostics", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@problem_responses
async def diagnostics(req: func.HttpRequest) -> func.HttpResponse:
    settings, clients = get_settings(), get_clients()
    # Each part reports its own timeout before the request's deadline would answer for all of them.
    budget = max(settings.request_deadline_seconds - CHECK_MARGIN_SECONDS, CHECK_MARGIN_SECONDS)
    secrets: dict[str, SecretState] = {}
    identity, *checks = await asyncio.gather(
        describe_identity(settings, budget),
        run_check("keyvault", keyvault_steps(clients, settings, secrets), budget),
        run_check("blob", blob_steps(clients), budget),
        run_check("cosmos", cosmos_steps(clients), budget),
    )
    principal = identity.get("principalId") or identity.get("clientId") or "<principal-id>"
    report = [check.as_json(settings, principal) for check in checks]
    # A source without a secret is not a broken role: the checks stay green, and `secrets` says what to set.
    healthy = all(check.ok for check in checks)
    document = {"identity": identity, "checks": report, "secrets": secrets_report(settings, secrets)}
    return json_response(document, status=200 if healthy else 503)


# --- the steps: one per data action the app performs -------------------------------------------------


@dataclass(frozen=True)
class SecretState:
    versions: int
    usable: str | None  # the newest version Key Vault will serve, if any


def keyvault_steps(clients: Clients, settings: Settings, found: dict[str, SecretState]) -> list[Step]:
    """List each source's secret versions, then read the newest usable one.

    A secret not set yet is an empty list (or a 404), which Key Vault answers only to a caller it
    authorised: the role works whether or not the secret exists, and `found` records which it is.
    """

    async def list_versions(source: str) -> None:
        listed = []
        with contextlib.suppress(ResourceNotFoundError):
            listed = [p async for p in clients.secrets.list_properties_of_secret_versions(secret_name(source))]
        served = sorted((p for p in listed if usable(p)), key=created, reverse=True)
        found[source] = SecretState(len(listed), served[0].version if served else None)

    async def read(source: str) -> None:
        state = found.get(source)
        if state is not None and state.usable is not None:
            await clients.secrets.get_secret(secret_name(source), state.usable)
        elif state is None or state.versions == 0:
            with contextlib.suppress(ResourceNotFoundError):  # authorised, and nothing there yet
                await clients.secrets.get_secret(secret_name(source))
        # Versions that are all disabled or expired: nothing to read, and no role question to ask.

    steps: list[Step] = [(permissions.LIST_SECRET_VERSIONS, _bind(list_versions, s)) for s in settings.sources]
    return steps + [(permissions.READ_SECRET, _bind(read, s)) for s in settings.sources]


def secrets_report(settings: Settings, found: dict[str, SecretState]) -> list[dict[str, Any]]:
    """Per source: whether its signing secret can be used, and if not, the command that sets it."""
    report = []
    for source in settings.sources:
        state = found.get(source)
        if state is None:  # Key Vault refused or failed before this source was listed
            report.append({"source": source, "secret": secret_name(source), "state": "unknown", "hint": None})
            continue
        ready = state.usable is not None
        hint = None if ready else secret_hint(source, settings, has_versions=state.versions > 0)
        status = "ready" if ready else ("no-usable-version" if state.versions else "missing")
        report.append({"source": source, "secret": secret_name(source), "state": status, "hint": hint})
    return report


def blob_steps(clients: Clients) -> list[Step]:
    events, digests = clients.events_blobs, clients.digests_blobs

    async def write(container: Any) -> None:
        await container.upload_blob(PROBE_BLOB, b"", overwrite=True)

    async def read(container: Any) -> None:
        await container.get_blob_client(PROBE_BLOB).get_blob_properties()

    return [
        (permissions.ARCHIVE_PAYLOAD, _bind(write, events)),
        (permissions.READ_PAYLOAD, _bind(read, events)),
        (permissions.WRITE_DIGEST, _bind(write, digests)),
        (permissions.READ_DIGEST, _bind(read, digests)),
    ]


def cosmos_steps(clients: Clients) -> list[Step]:
    index = clients.events_index

    async def read_metadata() -> None:
        await index.read()

    async def read_item() -> None:
        with contextlib.suppress(ResourceNotFoundError):  # authorised; the probe may not exist yet
            await index.read_item(PROBE_PARTITION, partition_key=PROBE_PARTITION)

    async def create_item() -> None:
        with contextlib.suppress(ResourceExistsError):  # authorised; an earlier run created it
            await index.create_item(dict(PROBE_ITEM))

    async def query() -> None:
        rows = index.query_items("SELECT VALUE COUNT(1) FROM c", partition_key=PROBE_PARTITION)
        async for _ in rows:
            break

    return [
        (permissions.READ_INDEX_METADATA, read_metadata),
        (permissions.READ_EVENT, read_item),
        (permissions.INDEX_EVENT, create_item),
        (permissions.QUERY_EVENTS, query),
    ]


def _bind(probe: Callable[[Any], Awaitable[None]], argument: Any) -> Probe:
    return lambda: probe(argument)


# --- running a check -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    status: int | None
    error: str | None
    refused: Need | None  # the data action that was refused, if one was
    network: NetworkRefusal | None = None  # set when the service's network rules refused it, not a role

    def as_json(self, settings: Settings, principal: str) -> dict[str, Any]:
        refused = self.refused if self.status in (401, 403) else None
        return {
            "name": self.name,
            "ok": self.ok,
            "latencyMs": round(self.latency_ms, 1),
            "status": self.status,
            "error": self.error,
            "action": None if refused is None else refused.action,
            "hint": None if refused is None else self._hint(refused, settings, principal),
        }

    def _hint(self, refused: Need, settings: Settings, principal: str) -> str:
        # A network refusal comes whatever the roles: granting one would change nothing.
        if self.network is not None:
            return network_hint(self.name, self.network, settings)
        return hint(refused, settings, principal)


async def run_check(name: str, steps: Sequence[Step], budget: float) -> CheckResult:
    started = time.perf_counter()
    current: list[Need] = []

    async def run_steps() -> None:
        for need, probe in steps:
            current[:] = [need]
            await probe()

    status, error, network = await _outcome(run_steps(), budget)
    elapsed = (time.perf_counter() - started) * 1000
    refused = current[0] if current and error is not None else None
    return CheckResult(
        name, ok=error is None, latency_ms=elapsed, status=status, error=error, refused=refused, network=network
    )


async def _outcome(work: Awaitable[None], budget: float) -> tuple[int | None, str | None, NetworkRefusal | None]:
    try:
        await asyncio.wait_for(work, budget)
    except ClientAuthenticationError as exc:
        refused = "the app's identity was refused"
        return exc.status_code, refused if exc.status_code else "the app could not get a token for its identity", None
    except HttpResponseError as exc:
        network = network_refusal(exc)
        if network is not None:
            return exc.status_code, network.summary, network
        return exc.status_code, f"the service answered {exc.status_code} {exc.reason or ''}".strip(), None
    except ServiceRequestError:
        return None, "the service could not be reached", None
    except TimeoutError:
        return None, f"no answer within {budget:g} s", None
    return 200, None, None


# --- identity and hints ----------------------------------------------------------------------------


async def describe_identity(settings: Settings, budget: float) -> dict[str, Any]:
    """Kind and client id from the settings; principal and tenant ids from a token's claims."""
    described: dict[str, Any] = {"kind": identity_kind(), "clientId": settings.client_id}
    try:
        token = await asyncio.wait_for(get_credential().get_token(STORAGE_SCOPE), budget)
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
