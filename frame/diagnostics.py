"""Blueprint: liveness for load balancers, and diagnostics for operators.

`/api/health` touches nothing: it answers while any dependency is down, so a platform probe never
recycles a healthy instance because Cosmos had a bad minute.

`/api/diagnostics` (admin key) says which identity the app runs as and, per service, performs each
data action the grants file declares (frame/access.py), with the same clients as real requests: for
each declared resource in declaration order, the probe a feature registered for each of its actions
(`register`). A check is named by its service (`keyvault`, `blob`, `cosmos`, as in 503 problems) and
stops at the first failure; a refused action names itself, the role infra/ grants it with, and the
command that grants it. When the service's network rules refused it instead (private networking),
the hint says so and points at the private endpoint and its DNS, since no role would help. A feature
may add sections of its own after the checks (the webhook feature: `secrets`). The report never
contains a token or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from frame import access
from frame.access import DeclaredAction, Location, NetworkRefusal
from frame.identity import get_credential, identity_kind
from frame.invocation import problem_responses, with_answer_headers
from frame.problems import json_response
from frame.settings import Settings, get_settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions lacks annotations here

CHECK_MARGIN_SECONDS = 1.0
STORAGE_SCOPE = "https://storage.azure.com/.default"

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Checkup:
    """What a feature gives one diagnostics run; made afresh per run, so probes may share state."""

    # (declared resource name, data action) -> a call that performs that action on that resource and
    # raises the SDK's error if the service refuses it. "Not found" answers mean it was authorised.
    probes: Mapping[tuple[str, str], Probe]
    # Declared resource name -> where it lives, for the hints' commands.
    locations: Mapping[str, Location] = field(default_factory=dict)
    # Sections after the checks, read once the checks are done: {"secrets": [...]}.
    report: Callable[[], Mapping[str, Any]] = dict


_checkups: list[Callable[[], Checkup]] = []


def register(checkup: Callable[[], Checkup]) -> None:
    """A feature's probes (from function_app.py, at import: `checkup` itself runs per diagnostics call)."""
    _checkups.append(checkup)


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@with_answer_headers  # not problem_responses: health reads no setting, so a bad one cannot fail it
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "healthy"})


@bp.route(route="diagnostics", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@problem_responses
async def diagnostics(req: func.HttpRequest) -> func.HttpResponse:
    settings, grants = get_settings(), access.grants()
    checkups = [make() for make in _checkups]
    probes = {key: probe for checkup in checkups for key, probe in checkup.probes.items()}
    locations = {name: where for checkup in checkups for name, where in checkup.locations.items()}
    # Each part reports its own timeout before the request's deadline would answer for all of them.
    budget = max(settings.request_deadline_seconds - CHECK_MARGIN_SECONDS, CHECK_MARGIN_SECONDS)
    services = list(dict.fromkeys(service for _, service in grants.resources()))
    identity, *checks = await asyncio.gather(
        describe_identity(settings, budget),
        *(run_check(service, steps(grants, service, probes), budget) for service in services),
    )
    principal = identity.get("principalId") or identity.get("clientId") or "<principal-id>"
    document: dict[str, Any] = {
        "identity": identity,
        "checks": [check.as_json(settings, locations, principal) for check in checks],
    }
    for checkup in checkups:
        document.update(checkup.report())
    # A feature's own findings (a source without a secret) are not broken roles: only checks decide.
    healthy = all(check.ok for check in checks)
    return json_response(document, status=200 if healthy else 503)


# --- running a check -----------------------------------------------------------------------------------

Step = tuple[DeclaredAction, Probe]


class NoProbe(Exception):
    """A declared action no feature registered a probe for (tests/unit catch this before it ships)."""


def steps(grants: access.Grants, service: str, probes: Mapping[tuple[str, str], Probe]) -> list[Step]:
    """The service's declared resources in declaration order, each action's probe in its order."""
    found: list[Step] = []
    for resource, of_service in grants.resources():
        if of_service != service:
            continue
        for declared in grants.of_resource(resource):
            found.append((declared, probes.get((resource, declared.action)) or _missing(declared)))
    return found


def _missing(declared: DeclaredAction) -> Probe:
    async def probe() -> None:
        raise NoProbe(f"no probe is registered for {declared.action} on {declared.resource}")

    return probe


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    status: int | None
    error: str | None
    refused: DeclaredAction | None  # the step that failed, if one did
    network: NetworkRefusal | None = None  # set when the service's network rules refused it, not a role

    def as_json(self, settings: Settings, locations: Mapping[str, Location], principal: str) -> dict[str, Any]:
        refused = self.refused if self.status in (401, 403) else None
        return {
            "name": self.name,
            "ok": self.ok,
            "latencyMs": round(self.latency_ms, 1),
            "status": self.status,
            "error": self.error,
            "action": None if refused is None else refused.action,
            "hint": None if refused is None else self._hint(refused, settings, locations, principal),
        }

    def _hint(
        self, refused: DeclaredAction, settings: Settings, locations: Mapping[str, Location], principal: str
    ) -> str:
        # A network refusal comes whatever the roles: granting one would change nothing.
        if self.network is not None:
            return access.network_hint(self.name, self.network, settings)
        return access.hint(refused, locations.get(refused.resource, Location()), settings, principal)


async def run_check(name: str, steps: Sequence[Step], budget: float) -> CheckResult:
    started = time.perf_counter()
    current: list[DeclaredAction] = []

    async def run_steps() -> None:
        for declared, probe in steps:
            current[:] = [declared]
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
        network = access.network_refusal(exc)
        if network is not None:
            return exc.status_code, network.summary, network
        return exc.status_code, f"the service answered {exc.status_code} {exc.reason or ''}".strip(), None
    except (ServiceRequestError, NoProbe) as exc:
        return None, str(exc) if isinstance(exc, NoProbe) else "the service could not be reached", None
    except TimeoutError:
        return None, f"no answer within {budget:g} s", None
    return 200, None, None


# --- identity ----------------------------------------------------------------------------------------


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
