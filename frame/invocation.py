"""The frame around every HTTP function: one deadline, and the one place exceptions become answers.

- The whole invocation, retries included, runs under REQUEST_DEADLINE_SECONDS (8 s by default;
  GitHub stops waiting for a webhook at 10 s). Past it, the caller gets a 503 naming the dependency
  that was still being waited on, while the answer can still be seen. A write cut short is safe:
  both writes are create-only and a redelivery adopts whatever landed (webhooks/store.py, for example).
- `Problem`s become `application/problem+json`; anything else is a bug, answered 500 with no detail.
- What is logged, and at which level, is what an operator acts on: a client error is INFO without a
  traceback; a dependency failure WARNING; a bug ERROR with its traceback. The query string is never
  logged (it may carry the function key).
- Every answer leaves through `with_answer_headers`, which adds ANSWER_HEADERS: `X-Content-Type-Options:
  nosniff`, so no browser guesses an answer's type from its bytes (an archived payload included).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from frame.dependencies import deadline_watch
from frame.problems import Problem, dependency_unavailable, internal_error
from frame.settings import get_settings

log = logging.getLogger(__name__)

Handler = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]

# Headers on every answer the app gives. nosniff: a browser takes the declared Content-Type as it is
# and never sniffs a script out of JSON, a problem or a stored payload.
ANSWER_HEADERS = {"X-Content-Type-Options": "nosniff"}


def with_answer_headers(handler: Handler) -> Handler:
    """Wrap an HTTP function so that its answer carries ANSWER_HEADERS (problem_responses does it too)."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        response = await handler(req)
        for name, value in ANSWER_HEADERS.items():
            response.headers[name] = value
        return response

    return wrapper


def problem_responses(handler: Handler) -> Handler:
    """Wrap an HTTP function: answered within the deadline, every failure a problem+json answer, every
    answer with ANSWER_HEADERS."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await _within_deadline(handler, req, get_settings().request_deadline_seconds)
        except Problem as problem:
            _log_problem(req, problem)
            return problem.to_response()
        except Exception:
            log.exception("%s %s failed with an unhandled error", req.method, _path(req))
            return internal_error().to_response()

    return with_answer_headers(wrapper)


async def _within_deadline(handler: Handler, req: func.HttpRequest, seconds: float) -> func.HttpResponse:
    with deadline_watch() as waits:
        budget = asyncio.timeout(seconds)
        try:
            async with budget:
                return await handler(req)
        except TimeoutError:
            if not budget.expired() or waits.hung_on is None:
                raise  # not the deadline, or nothing outside was being awaited: our own code hung, a bug
            raise dependency_unavailable(
                waits.hung_on, f"{waits.hung_on} did not answer within the request's {seconds:g} s deadline"
            ) from None


def _log_problem(req: func.HttpRequest, problem: Problem) -> None:
    level = logging.WARNING if problem.status >= 500 else logging.INFO
    dependency = problem.extra.get("dependency")
    about = f" ({dependency})" if dependency else ""
    log.log(level, "%s %s answered %d %s%s", req.method, _path(req), problem.status, problem.slug, about)


def _path(req: func.HttpRequest) -> str:
    return str(urlsplit(req.url).path)
