"""The host's log, as an operator would collect it, holds no secret, token, signature or payload."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from tests.integration.inbox_api import Inbox, new_id
from webhooks.signing import sign

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


def test_logs_are_structured_and_leak_nothing(inbox: Inbox) -> None:
    marker = f"payload-marker-{secrets.token_hex(8)}"
    body = json.dumps({"text": marker}).encode()
    secret = inbox.secret("logs")
    signature = sign(secret, body)
    assert inbox.deliver("logs", body, event_id=new_id(), signature=signature).status_code == 202
    assert inbox.deliver("logs", body, event_id=new_id(), secret="forged").status_code == 401
    assert inbox.get("diagnostics", key="master").status_code == 200

    text = Path(inbox.stack.env.devstack["logDir"], "functions.log").read_text()

    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    invocations = [line for line in lines if line.get("functionName") == "ingest_webhook"]
    assert invocations, "the host logs invocations as JSON lines"
    assert all(line.get("invocationId") for line in invocations)
    for leak in (secret, signature, signature.removeprefix("sha256="), marker):
        assert leak not in text
    assert not JWT.search(text)
    assert inbox.stack.settings["IDENTITY_HEADER"] not in text
    assert inbox.stack.env.function_key not in text
    assert inbox.stack.env.master_key not in text


def _invocation_lines(inbox: Inbox, invocation_ids: set[str]) -> list[dict[str, object]]:
    text = Path(inbox.stack.env.devstack["logDir"], "functions.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("invocationId") in invocation_ids]


def test_logs_cost_what_they_are_worth(inbox: Inbox) -> None:
    """No SDK request/response logging by default; client errors at INFO without a traceback."""
    body = b'{"cost": true}'
    event_id = new_id()
    responses = [
        inbox.deliver("logs", body, event_id=event_id),
        inbox.deliver("logs", body, event_id=new_id(), secret="forged"),
        inbox.get("webhooks/logs/events", params={"limit": "0"}),
    ]
    assert [r.status_code for r in responses] == [202, 401, 400]
    # The host names each invocation in its log; find ours through the id the app logged, or through
    # the path of this test's source (the only test that uses it) in the answer line.
    text = Path(inbox.stack.env.devstack["logDir"], "functions.log").read_text()
    ours = {
        str(line["invocationId"])
        for line in map(json.loads, filter(lambda s: s.startswith("{"), text.splitlines()))
        if event_id in str(line.get("message", "")) or "/api/webhooks/logs" in str(line.get("message", ""))
    }
    lines = _invocation_lines(inbox, ours)
    app_lines = [line for line in lines if str(line.get("logger", "")).startswith(("frame", "webhooks", "azure"))]
    assert not [line for line in app_lines if str(line["logger"]).startswith("azure")]
    stored = [line for line in app_lines if event_id in str(line["message"])]
    assert stored
    assert all(line["level"] == "INFO" for line in stored)
    client_errors = [line for line in app_lines if "answered 40" in str(line["message"])]
    answered = {str(line["message"]).split(" answered ")[1][:3] for line in client_errors}
    assert answered == {"401", "400"}
    assert all(line["level"] == "INFO" and "exception" not in line for line in client_errors)
