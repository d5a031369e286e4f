"""What every variant delivers: one 1 KiB signed JSON payload, under a new delivery id each time.

Standard library only, so the cold-start probe can import it without touching the SDKs it times.
"""

from __future__ import annotations

import json
import uuid

SOURCE = "github"
EVENT_TYPE = "push"
CONTENT_TYPE = "application/json"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# One body for every delivery: the signature is over the body only, so it is computed once per run.
BODY = json.dumps({"bench": True, "padding": "x" * 1024}).encode()
LIST_LIMIT = 50


def new_event_id() -> str:
    return str(uuid.uuid4())


def delivery_headers(signature: str, event_id: str) -> dict[str, str]:
    """The headers GitHub sends with a delivery, as the bench's senders send them."""
    return {
        SIGNATURE_HEADER: signature,
        "X-GitHub-Delivery": event_id,
        "X-GitHub-Event": EVENT_TYPE,
        "Content-Type": CONTENT_TYPE,
    }
