"""The frame around every HTTP function: the deadline, the 503 that names what hung, and log levels."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import azure.functions as func
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos.exceptions import CosmosHttpResponseError

from frame import settings as settings_module
from frame.dependencies import (
    COSMOS_PARTITION_FULL,
    IDENTITY,
    KEY_VAULT,
    TokenUnavailable,
    Waits,
    calling,
    current_waits,
    problem_for_dependency_error,
    waiting_for,
)
from frame.invocation import problem_responses
from frame.problems import Problem, bad_request
from tests.unit.test_settings import VALID

DEADLINE = 0.3


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {**VALID, "REQUEST_DEADLINE_SECONDS": str(DEADLINE)}.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


def invoke(body: Callable[[], Awaitable[None]], url: str = "http://x/api/webhooks/github") -> func.HttpResponse:
    @problem_responses
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        await body()
        return func.HttpResponse("ok")

    return asyncio.run(handler(func.HttpRequest("POST", url, body=b"")))


def problem(response: func.HttpResponse) -> dict[str, object]:
    assert response.mimetype == "application/problem+json"
    document: dict[str, object] = json.loads(response.get_body())
    return document


async def hang() -> None:
    await asyncio.Event().wait()


def test_a_hanging_dependency_is_a_503_naming_it_at_the_deadline() -> None:
    async def body() -> None:
        with calling("cosmos"):
            await hang()

    started = time.monotonic()
    response = invoke(body)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert problem(response)["dependency"] == "cosmos"
    assert DEADLINE <= elapsed < DEADLINE + 1


def test_the_innermost_wait_is_named_a_token_request_inside_a_blob_call_is_identity() -> None:
    async def body() -> None:
        with calling("blob"), waiting_for(IDENTITY):
            await hang()

    assert problem(invoke(body))["dependency"] == "identity"


def test_concurrent_waits_inside_one_invocation_still_name_a_dependency() -> None:
    async def one(name: str) -> None:
        with calling(name):
            await hang()

    async def body() -> None:
        await asyncio.gather(one("blob"), one("cosmos"))

    assert problem(invoke(body))["dependency"] in {"blob", "cosmos"}


def test_a_request_queued_behind_another_names_what_that_one_waits_on() -> None:
    """Two deliveries for a cold source share one Key Vault round trip, stuck on the token endpoint."""
    lock = asyncio.Lock()
    holder: list[Waits | None] = []

    async def body() -> None:
        with waiting_for(KEY_VAULT, behind=holder[0] if holder else None):
            async with lock:
                holder.append(current_waits())
                with waiting_for(IDENTITY):
                    await hang()

    @problem_responses
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        await body()
        return func.HttpResponse("ok")

    async def both() -> list[func.HttpResponse]:
        request = func.HttpRequest("POST", "http://x/api/webhooks/github", body=b"")
        return list(await asyncio.gather(handler(request), handler(request)))

    assert [problem(r)["dependency"] for r in asyncio.run(both())] == ["identity", "identity"]


def test_a_hang_in_our_own_code_is_a_bug_not_a_dependency() -> None:
    response = invoke(hang)
    assert response.status_code == 500
    assert problem(response)["type"] == "urn:webhook-inbox:problem:internal-error"


def test_unexpected_errors_become_a_500_problem_without_details() -> None:
    async def body() -> None:
        raise RuntimeError("secret-looking internals")

    response = invoke(body)
    assert response.status_code == 500
    assert "internals" not in response.get_body().decode()


def test_dependency_errors_become_503_with_retry_after_and_no_service_message() -> None:
    response = problem_for_dependency_error(
        "cosmos", ServiceRequestError("connection refused to 10.0.0.1")
    ).to_response()
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = problem(response)
    assert body["dependency"] == "cosmos"
    assert "10.0.0.1" not in json.dumps(body)


def test_a_failed_token_request_is_named_identity_whichever_service_it_was_for() -> None:
    async def body() -> None:
        with calling("blob"):
            raise TokenUnavailable(message="no token for https://storage.azure.com/.default")

    assert problem(invoke(body))["dependency"] == "identity"


def test_log_levels_client_errors_info_dependencies_warning_bugs_error(caplog: pytest.LogCaptureFixture) -> None:
    async def client_error() -> None:
        raise bad_request("limit must be a whole number")

    async def dependency_down() -> None:
        with calling("blob"):
            raise ServiceRequestError("refused")

    async def bug() -> None:
        raise KeyError("oops")

    caplog.set_level(logging.DEBUG, logger="frame")
    url = "http://x/api/webhooks/github/events?code=function-key-value&limit=x"
    for body in (client_error, dependency_down, bug):
        invoke(body, url)
    records = [r for r in caplog.records if r.name == "frame.invocation"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING, logging.ERROR]
    assert [r.exc_info is not None for r in records] == [False, False, True]
    assert "400 bad-request" in records[0].getMessage()
    assert "503 dependency-unavailable (blob)" in records[1].getMessage()
    assert all("function-key-value" not in r.getMessage() for r in records)


def test_a_problem_raised_by_the_handler_keeps_its_status() -> None:
    async def body() -> None:
        raise Problem(413, "payload-too-large", "The payload is too large")

    assert invoke(body).status_code == 413


def test_a_full_cosmos_partition_is_not_reported_as_a_refused_identity() -> None:
    error = CosmosHttpResponseError(  # type: ignore[no-untyped-call]
        status_code=403, message="Partition key reached maximum size", sub_status=COSMOS_PARTITION_FULL
    )
    detail = str(problem(problem_for_dependency_error("cosmos", error).to_response())["detail"])
    assert "partition is full" in detail
    assert "identity" not in detail
