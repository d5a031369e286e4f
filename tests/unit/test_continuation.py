"""Continuation tokens: only a token `list_events` issued for this very query reaches Cosmos DB.

Every property runs the registered function itself (problem_responses, the query parser, the MAC
check), with the source's signing secret in a stand-in cache and a store that fails the test if a
token it did not issue gets through. Anything else a caller can send as `continuation` is a 400
`bad-request`: arbitrary text, arbitrary bytes as the host would decode them, base64 of arbitrary
bytes, and well-formed documents whose MAC is not ours (CR, LF and NUL in the Cosmos token included:
one such token used to reach the SDK's headers and answer 500).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, cast
from urllib.parse import unquote, urlencode

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frame import settings as frame_settings
from tests.unit.test_settings import VALID
from webhooks import continuation, routes
from webhooks import settings as webhook_settings
from webhooks.store import EventFilter, Page

SECRET = "the-signing-secret-of-github"
ISSUED = '{"token":"-RID:~abc==#RT:1#TRC:3","range":{"min":"","max":"FF"}}'
Handler = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]
list_events = cast("Handler", routes.list_events._function.get_user_function())


class Secrets:
    async def secrets_for(self, source: str) -> tuple[str, ...]:
        assert source == "github"
        return (SECRET,)


class Store:
    """Pages of one event; records every Cosmos token it is asked to resume from."""

    def __init__(self) -> None:
        self.resumed: list[str | None] = []

    async def query(self, where: EventFilter, *, limit: int, continuation: str | None) -> Page:
        self.resumed.append(continuation)
        assert continuation in (None, ISSUED), f"a token the API did not issue reached Cosmos DB: {continuation!r}"
        return Page([], ISSUED)


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    frame_settings.get_settings.cache_clear()
    webhook_settings.get_webhook_settings.cache_clear()
    store = Store()
    monkeypatch.setattr(routes, "get_secret_cache", Secrets)
    monkeypatch.setattr(routes, "get_event_store", lambda: store)
    yield store
    frame_settings.get_settings.cache_clear()
    webhook_settings.get_webhook_settings.cache_clear()


def call(params: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET",
        f"http://localhost/api/webhooks/github/events?{urlencode(params)}",
        params=params,
        route_params={"source": "github"},
        body=b"",
    )
    return asyncio.run(list_events(request))


def assert_bad_request(response: func.HttpResponse) -> None:
    assert response.status_code == 400, response.get_body()[:300]
    assert json.loads(response.get_body())["type"] == "urn:webhook-inbox:problem:bad-request"


def test_a_token_the_api_issued_resumes_the_same_query(app: Store) -> None:
    first = json.loads(call({"limit": "5"}).get_body())["continuation"]
    assert isinstance(first, str)
    assert call({"limit": "5", "continuation": first}).status_code == 200
    assert app.resumed == [None, ISSUED]
    assert_bad_request(call({"limit": "6", "continuation": first}))


def bare_hash_token(token: str, limit: int) -> str:
    """A token as the API issued them before the MAC was keyed: anyone could compute its fingerprint."""
    fingerprint = hashlib.sha256(json.dumps(["github", None, None, None, limit]).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"t": token, "q": fingerprint}).encode()).decode()


@pytest.mark.parametrize("forged", ["x\r\ny", "\x00", "line\nfeed", ISSUED])
def test_a_forged_token_is_refused_before_cosmos(app: Store, forged: str) -> None:
    assert_bad_request(call({"limit": "5", "continuation": bare_hash_token(forged, 5)}))
    mac = "0" * continuation.MAC_HEX_DIGITS
    document = json.dumps({"t": forged, "m": mac}).encode()
    assert_bad_request(call({"limit": "5", "continuation": base64.urlsafe_b64encode(document).decode()}))
    assert app.resumed == []


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(st.text(min_size=1))
def test_any_text_is_a_400(app: Store, text: str) -> None:
    assert_bad_request(call({"continuation": text}))


@PROPERTY
@given(st.binary(min_size=1))
def test_any_bytes_as_the_host_decodes_them_are_a_400(app: Store, raw: bytes) -> None:
    # The host percent-decodes the query string into text (invalid UTF-8 becomes U+FFFD).
    assert_bad_request(call({"continuation": unquote("".join(f"%{b:02X}" for b in raw))}))


@PROPERTY
@given(st.binary(min_size=1))
def test_base64_of_any_bytes_is_a_400(app: Store, raw: bytes) -> None:
    assert_bad_request(call({"continuation": base64.urlsafe_b64encode(raw).decode().rstrip("=")}))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["t", "m", "q"]), inner, max_size=3),
    max_leaves=8,
)


@PROPERTY
@given(st.one_of(JSON, st.fixed_dictionaries({"t": st.text(), "m": st.text()})))
def test_any_document_we_did_not_sign_is_a_400(app: Store, document: object) -> None:
    opaque = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()
    assert_bad_request(call({"continuation": opaque}))
    assert app.resumed == []


def test_deeply_nested_json_is_a_400_not_a_recursion_error(app: Store) -> None:
    opaque = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    assert_bad_request(call({"continuation": opaque}))
