"""HTTP answers: JSON documents and RFC 9457 problem details.

Domain code raises `Problem` for anything the caller should be told (a bad request, a missing event, a
dependency that is down); inbox/invocation.py turns it into `application/problem+json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import azure.functions as func

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
