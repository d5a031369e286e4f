"""Blueprint: the webhook API. Each function parses the request, calls one domain operation, answers.

| function           | route                                        | auth     |
|--------------------|----------------------------------------------|----------|
| ingest_webhook     | POST /api/webhooks/{source}                  | anonymous (the HMAC signature authenticates) |
| list_events        | GET  /api/webhooks/{source}/events           | function key |
| get_event          | GET  /api/webhooks/{source}/events/{id}      | function key |
| get_event_payload  | GET  /api/webhooks/{source}/events/{id}/payload | function key |
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping

import azure.functions as func

from frame.invocation import problem_responses
from frame.problems import PAYLOAD_TOO_LARGE, bad_request, json_response, not_found
from webhooks import continuation, ingest
from webhooks.continuation import PageToken
from webhooks.secret_cache import get_secret_cache
from webhooks.settings import get_webhook_settings
from webhooks.signing import SIGNATURE_HEADER
from webhooks.store import Delivery, EventFilter, get_event_store, utc_timestamp

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions lacks annotations here

DELIVERY_ID_HEADERS = ("X-GitHub-Delivery", "X-Event-Id")
EVENT_TYPE_HEADERS = ("X-GitHub-Event", "X-Event-Type")
# Ids become Cosmos item ids and blob names: no '/', '\', '?', '#', bounded length.
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
DEFAULT_EVENT_TYPE = "unknown"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
LIMIT_DIGITS = re.compile(r"[0-9]{1,3}")
# RFC 9110 media-type: type "/" subtype, then "; name=value" parameters (tokens or quoted strings).
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(
    rf'{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|"[\x20\x21\x23-\x5b\x5d-\x7e]*"))*'
)
MAX_CONTENT_TYPE = 200
# The stored payload is whatever the sender sent, with the type it chose, so it is served inert: as a
# download (attachment), in a sandbox with no script and its own opaque origin (CSP sandbox) should a
# browser show it anyway, and never sniffed (every answer is nosniff, frame/invocation.py). Types a
# browser only ever shows as text keep their stored type; any other (HTML, SVG, XML, JavaScript, PDF,
# ...) is served as application/octet-stream, with the stored type in PAYLOAD_TYPE_HEADER.
PASSIVE_TYPES = frozenset({"application/json", "text/plain", "application/x-www-form-urlencoded", DEFAULT_CONTENT_TYPE})
PASSIVE_SUFFIX = "+json"
PAYLOAD_TYPE_HEADER = "X-Payload-Content-Type"
PAYLOAD_HEADERS = {"Content-Disposition": "attachment", "Content-Security-Policy": "sandbox"}


@bp.route(route="webhooks/{source}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_responses
async def ingest_webhook(req: func.HttpRequest) -> func.HttpResponse:
    source = known_source(req.route_params.get("source", ""))
    body = req.get_body()
    limit = get_webhook_settings().max_payload_bytes
    if len(body) > limit:
        raise PAYLOAD_TOO_LARGE(f"the limit is {limit} bytes")
    delivery = parse_delivery(source, req.headers, body)
    saved = await ingest.accept(get_secret_cache(), get_event_store(), delivery, req.headers.get(SIGNATURE_HEADER))
    return json_response(saved.record.to_json(), status=202 if saved.created else 200)


@bp.route(route="webhooks/{source}/events", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problem_responses
async def list_events(req: func.HttpRequest) -> func.HttpResponse:
    source = known_source(req.route_params.get("source", ""))
    where, limit, sent = parse_event_query(source, req.params)
    resume = None if sent is None else continuation.verify(sent, where, limit, await paging_keys(source))
    page = await get_event_store().query(where, limit=limit, continuation=resume)
    next_token = None
    if page.continuation:
        next_token = continuation.issue(page.continuation, where, limit, (await paging_keys(source))[0])
    return json_response({"items": [r.to_json() for r in page.records], "continuation": next_token})


@bp.route(route="webhooks/{source}/events/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problem_responses
async def get_event(req: func.HttpRequest) -> func.HttpResponse:
    source, event_id = known_source(req.route_params.get("source", "")), event_id_param(req)
    record = await get_event_store().get(source, event_id)
    return json_response(record.to_json())


@bp.route(route="webhooks/{source}/events/{id}/payload", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problem_responses
async def get_event_payload(req: func.HttpRequest) -> func.HttpResponse:
    source, event_id = known_source(req.route_params.get("source", "")), event_id_param(req)
    store = get_event_store()
    record = await store.get(source, event_id)
    body = await store.payload(record)
    return func.HttpResponse(body, status_code=200, headers=payload_headers(record.contentType))


# --- parsing: pure functions, no I/O ----------------------------------------------------------------


async def paging_keys(source: str) -> tuple[bytes, ...]:
    """The continuation MAC keys of a source, from its signing secrets (cached, webhooks/continuation.py)."""
    return continuation.keys_from(await get_secret_cache().secrets_for(source))


def known_source(source: str) -> str:
    if source not in get_webhook_settings().sources:
        raise not_found(f"no webhook source named {source[:40]!r} is configured")
    return source


def event_id_param(req: func.HttpRequest) -> str:
    event_id = str(req.route_params.get("id", ""))
    if not EVENT_ID.fullmatch(event_id):
        raise not_found(f"no event {event_id[:40]!r}")
    return event_id


def parse_delivery(source: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    event_id = _first_header(headers, DELIVERY_ID_HEADERS)
    if event_id is None:
        # No id from the sender: the content identifies the delivery, so a resend is still a duplicate.
        event_id = hashlib.sha256(body).hexdigest()
    elif not EVENT_ID.fullmatch(event_id):
        raise bad_request(f"the delivery id must match {EVENT_ID.pattern}")
    event_type = _first_header(headers, EVENT_TYPE_HEADERS) or DEFAULT_EVENT_TYPE
    if not EVENT_TYPE.fullmatch(event_type):
        raise bad_request(f"the event type must match {EVENT_TYPE.pattern}")
    return Delivery(source, event_id, event_type, body, _media_type(headers.get("Content-Type")))


def parse_event_query(source: str, params: Mapping[str, str]) -> tuple[EventFilter, int, PageToken | None]:
    unknown = set(params) - {"type", "since", "until", "limit", "continuation", "code"}
    if unknown:
        raise bad_request(f"unknown query parameter(s): {', '.join(sorted(unknown))[:100]}")
    event_type = params.get("type") or None
    if event_type is not None and not EVENT_TYPE.fullmatch(event_type):
        raise bad_request(f"type must match {EVENT_TYPE.pattern}")
    since, until = _instant(params, "since"), _instant(params, "until")
    if since and until and since >= until:
        raise bad_request("since must be earlier than until")
    limit = _limit(params.get("limit"))
    where = EventFilter(source=source, event_type=event_type, since=since, until=until)
    opaque = params.get("continuation")
    return where, limit, continuation.parse(opaque) if opaque else None


def _instant(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an ISO-8601 date or time, e.g. 2026-11-21T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)  # a bare time is read as UTC, like the stored ones
    try:
        return utc_timestamp(moment)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 lies past the last representable UTC instant
        raise bad_request(f"{name} is out of range once converted to UTC") from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    # ASCII digits only: str.isdigit() is also true for '²' and '٣', which int() rejects or reads as 3.
    if not LIMIT_DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _media_type(raw: str | None) -> str:
    """The sender's Content-Type if it is a well-formed media type; the payload is served back with it."""
    if raw is None or len(raw) > MAX_CONTENT_TYPE or not MEDIA_TYPE.fullmatch(raw):
        return DEFAULT_CONTENT_TYPE
    return raw


def payload_headers(stored_type: str) -> dict[str, str]:
    """The headers an archived payload is served with (see PAYLOAD_HEADERS)."""
    essence = stored_type.split(";", 1)[0].strip().lower()
    passive = essence in PASSIVE_TYPES or (essence.startswith("application/") and essence.endswith(PASSIVE_SUFFIX))
    served = stored_type if passive else DEFAULT_CONTENT_TYPE
    return {"Content-Type": served, PAYLOAD_TYPE_HEADER: stored_type, **PAYLOAD_HEADERS}


def _first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return None
