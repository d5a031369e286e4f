"""Every refusal of the app's identity, shown on the `up` terminal in the words the app logs.

The app logs `<service> refused the app's identity: <action> on <scope>; <role or fix>` when a
service refuses it; the stack prints the same line the moment the service refuses, so a missing grant
shows on the terminal even when the app swallows the error. The fix is devstack/role_advice.py's, the
words of the grants file and `python -m devstack check`, for the infra/ the stack serves and the scope
refused; for an action the app does not declare, with a note that it does not.

Where the decisions come from: Key Vault, the Blob gateway and the Cosmos DB front end run in-process.
They decide with an `ObservedAuthorizer`, which notes each decision taken while a request is served,
and get a middleware that reports the refused one when the answer is 403 (the gateway tries more than
one permission for some operations, so a refused decision alone does not mean a refused request).

Only the app's own identity is reported (the one the site uses, `resources.identity.kind`); tests
that probe refusals with other identities do not clutter the terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from infra_model.authorization import Authorizer, Decision
from infra_model.resources import AppResources

from devstack import grants
from devstack.children import Echo
from devstack.console import render_notice
from devstack.identities import LocalIdentities
from devstack.project import Project
from devstack.role_advice import RoleAdvisor

# Storage's code for a write to an existing blob by a caller that may only create (blob_gateway/errors.py).
OVERWRITE_REFUSED = "UnauthorizedBlobOverwrite"
# The decisions taken while the current request is served; None outside a request.
_taken: contextvars.ContextVar[list[Decision] | None] = contextvars.ContextVar("devstack_decisions", default=None)


class ObservedAuthorizer(Authorizer):
    """The same decisions as `inner`, noted for the request being served."""

    def __init__(self, inner: Authorizer) -> None:
        super().__init__(inner.assignments)

    def decide(self, principal_id: str, action: str, scope: str, *, data_action: bool = True) -> Decision:
        decision = super().decide(principal_id, action, scope, data_action=data_action)
        taken = _taken.get()
        if taken is not None:
            taken.append(decision)
        return decision


@contextlib.contextmanager
def observed_decisions() -> Iterator[Callable[[], list[Decision]]]:
    """Notes the decisions an ObservedAuthorizer takes while the block runs, and yields what returns them.
    Observers of one request (this module's middleware, the audit's) share one list, in either order."""
    outer = _taken.get()
    taken: list[Decision] = [] if outer is None else outer
    start = len(taken)
    token = _taken.set(taken) if outer is None else None
    try:
        yield lambda: taken[start:]
    finally:
        if token is not None:
            _taken.reset(token)


def refused_decision(taken: list[Decision]) -> Decision | None:
    """The decision that refused a request: the first refused one at the scope checked last (the
    alternatives of one requirement share its scope; an earlier requirement was met)."""
    refused = [d for d in taken if not d.allowed]
    if not refused:
        return None
    scope = refused[-1].scope
    return next(d for d in refused if d.scope == scope)


class Fixes:
    """What to change in infra/ so that the app may perform an action at a scope: `role_advice`'s
    answer, found for the local deployment's scopes (it reasons over a deployment of its own)."""

    def __init__(
        self, project: Project, infra_dir: Path | None, environment: Mapping[str, str], local: AppResources
    ) -> None:
        self._advisor = RoleAdvisor.for_project(project, infra_dir, environment)
        self._grants = grants.resolve_with(self._advisor)
        resources = self._advisor.resources
        # Local resource id -> the same resource in the advisor's deployment.
        self._ids = {
            local.vault.id.lower(): resources.vault.id,
            local.data_account.id.lower(): resources.data_account.id,
            local.cosmos.id.lower(): resources.cosmos.id,
        }
        self._access_file = project.access_file.relative_to(project.root)

    def for_refusal(self, service: str, action: str, scope: str) -> str:
        translated = self._translate(scope)
        fix = self._advisor.advise(action, (translated,), service).text
        declared = any(
            grant.resource.service == service
            and grant.declared.action.lower() == action.lower()
            and any(s.lower() == translated.lower() for s in grant.scopes)
            for grant in self._grants
        )
        return fix if declared else f"{fix} (the app does not declare it in {self._access_file})"

    def _translate(self, scope: str) -> str:
        lowered = scope.lower()
        for local_id, other_id in self._ids.items():
            if lowered == local_id or lowered.startswith(local_id + "/"):
                return other_id + scope[len(local_id) :]
        return scope


class Refusals:
    """Reports refusals of one principal to `out`, one line each."""

    def __init__(self, principal_id: str, fixes: Fixes, out: Echo, *, colour: bool = False) -> None:
        self._principal = principal_id.lower()
        self._fixes = fixes
        self._out = out
        self._colour = colour

    @classmethod
    def for_app(
        cls,
        project: Project,
        *,
        infra_dir: Path | None,
        environment: Mapping[str, str],
        resources: AppResources,
        people: LocalIdentities,
        out: Echo,
        colour: bool = False,
    ) -> Refusals:
        """For the identity the site uses (infra/'s identity type) and the Bicep the stack serves."""
        identity = people.app if resources.identity.kind == "user" else people.system
        return cls(identity.object_id, Fixes(project, infra_dir, environment, resources), out, colour=colour)

    def report(self, service: str, principal_id: str, action: str, scope: str) -> None:
        if principal_id.lower() != self._principal:
            return
        message = refusal_line(service, action, scope, self._fixes.for_refusal(service, action, scope))
        self._out.write(render_notice("WARNING", message, colour=self._colour) + "\n")
        self._out.flush()

    def middleware(self, service: str) -> Middleware:
        """For an in-process service built with an `ObservedAuthorizer`."""

        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            with observed_decisions() as decisions:
                response = await handler(request)
            taken = decisions()
            # A create-only role meeting an existing blob is that role working as written, not a grant
            # infra/ lacks: the app handles it (its redeliveries meet it), so it is not shown.
            if response.status == 403 and response.headers.get("x-ms-error-code") != OVERWRITE_REFUSED:
                decision = refused_decision(taken)
                if decision is not None:
                    self.report(service, decision.principal_id, decision.action, decision.scope)
            return response

        return observe


def refusal_line(service: str, action: str, scope: str, fix: str) -> str:
    """The app's words for a refusal (it logs the same line)."""
    return f"{service} refused the app's identity: {action} on {scope}; {fix}"
