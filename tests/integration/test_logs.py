"""The host's log, as an operator would collect it, holds no secret, token, signature or payload."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from inbox.signing import sign
from tests.integration.inbox_api import Inbox, new_id

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
