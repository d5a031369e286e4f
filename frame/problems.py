"""HTTP answers: JSON documents and RFC 9457 problem details, with every problem type catalogued here.

Code raises `Problem` for anything the caller should be told (a bad request, a missing event, a
dependency that is down); frame/invocation.py turns it into `application/problem+json`. Each type is
a stable `urn:webhook-inbox:problem:<slug>` with one status and title, listed once below (and in the
README's table and openapi.yaml, which the tests hold to this list).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:webhook-inbox:problem:"
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str

    def __call__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Problem:
        return Problem(self.status, self.slug, self.title, detail, headers=headers, extra=extra)


# --- the catalogue --------------------------------------------------------------------------------
# The frame's: any service answers with these.
BAD_REQUEST = ProblemType("bad-request", 400, "The request is not valid")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
DEPENDENCY_UNAVAILABLE = ProblemType(
    "dependency-unavailable", 503, "A service the inbox depends on is unavailable; retry later"
)
INTERNAL_ERROR = ProblemType("internal-error", 500, "The inbox failed to handle the request")
# The webhook feature's (webhooks/): a new service replaces these with its own.
INVALID_SIGNATURE = ProblemType("invalid-signature", 401, "The signature is missing or does not match")
DELIVERY_CONFLICT = ProblemType(
    "delivery-conflict", 409, "A different payload was already stored under this delivery id"
)
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", 413, "The payload is too large")
SOURCE_NOT_CONFIGURED = ProblemType("source-not-configured", 503, "This source has no signing secret yet; retry later")

CATALOGUE: tuple[ProblemType, ...] = (
    BAD_REQUEST,
    NOT_FOUND,
    DEPENDENCY_UNAVAILABLE,
    INTERNAL_ERROR,
    INVALID_SIGNATURE,
    DELIVERY_CONFLICT,
    PAYLOAD_TOO_LARGE,
    SOURCE_NOT_CONFIGURED,
)


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
    return BAD_REQUEST(detail)


def not_found(detail: str) -> Problem:
    return NOT_FOUND(detail)


def dependency_unavailable(dependency: str, detail: str | None = None) -> Problem:
    return DEPENDENCY_UNAVAILABLE(
        detail or f"{dependency} did not answer in time or answered with an error",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        extra={"dependency": dependency},
    )


def internal_error() -> Problem:
    """A bug: logged with its traceback by frame/invocation.py, never described to the caller."""
    return INTERNAL_ERROR()
