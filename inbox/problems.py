"""HTTP answers: JSON documents, RFC 9457 problem details, and the one place exceptions become statuses.

Domain code raises `Problem` (something the caller did or asked for) or lets an Azure SDK error
through (a dependency failed); `problem_responses` turns both into `application/problem+json`, so no
handler has its own try/except and no caller ever sees a stack trace.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:webhook-inbox:problem:"
RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    """An answer for the caller: status, a stable type slug, a title and an optional detail."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {slug}: {detail or title}")
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def to_response(self) -> func.HttpResponse:
        body: dict[str, Any] = {"type": TYPE_PREFIX + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        return func.HttpResponse(json.dumps(body), status_code=self.status, headers=self.headers, mimetype=CONTENT_TYPE)


def json_response(document: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(document), status_code=status, headers=headers, mimetype="application/json")


def bad_request(detail: str) -> Problem:
    return Problem(400, "bad-request", "The request is not valid", detail)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def dependency_unavailable(dependency: str, detail: str | None = None) -> Problem:
    return Problem(
        503,
        "dependency-unavailable",
        "A service the inbox depends on is unavailable; retry later",
        detail or f"{dependency} did not answer in time or answered with an error",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        extra={"dependency": dependency},
    )


def problem_for_dependency_error(dependency: str, error: AzureError) -> Problem:
    """Any failure of Key Vault, Blob or Cosmos, including the app's identity being refused."""
    status = getattr(error, "status_code", None)
    if isinstance(error, ClientAuthenticationError) or status in (401, 403):
        detail = f"{dependency} refused the app's identity; an operator can see why at /api/diagnostics"
    elif isinstance(error, ServiceRequestError):
        detail = f"{dependency} could not be reached"
    elif isinstance(error, HttpResponseError) and status is not None:
        detail = f"{dependency} answered {status}"
    else:
        detail = None
    return dependency_unavailable(dependency, detail)


Handler = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]


def problem_responses(handler: Handler) -> Handler:
    """Wrap an HTTP function so every failure is a problem+json answer."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except Problem as problem:
            if problem.status >= 500:
                log.warning("answered %s %s", problem.status, problem.slug, extra={"problem": problem.slug})
            return problem.to_response()
        except Exception:
            # A bug, not the caller's fault: log it with its traceback, answer without details.
            log.exception("unhandled error in %s", handler.__name__)
            return Problem(500, "internal-error", "The inbox failed to handle the request").to_response()

    return wrapper
