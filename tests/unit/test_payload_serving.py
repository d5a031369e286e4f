"""How an archived payload is served back, and why it always fits the archive's create-only role."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobServiceClient
from hypothesis import given
from hypothesis import strategies as st

from frame.settings import SettingsError
from tests.unit.test_settings import VALID
from webhooks.routes import DEFAULT_CONTENT_TYPE, PAYLOAD_TYPE_HEADER, parse_delivery, payload_headers
from webhooks.settings import MAX_SINGLE_PUT_BYTES, WebhookSettings

# Types a browser renders as a document, or runs (WHATWG MIME Sniffing: HTML, XML and SVG documents;
# JavaScript MIME types), each of which must never come back with the sender's type.
ACTIVE = [
    "text/html",
    "TEXT/HTML; charset=utf-8",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/xsl",
    "application/pdf",
    "multipart/x-mixed-replace; boundary=x",
    "text/vnd.json+html",
]


@pytest.mark.parametrize("stored", ACTIVE)
def test_an_active_type_is_served_as_bytes_with_the_stored_type_beside_it(stored: str) -> None:
    headers = payload_headers(stored)
    assert headers["Content-Type"] == DEFAULT_CONTENT_TYPE
    assert headers[PAYLOAD_TYPE_HEADER] == stored


@pytest.mark.parametrize(
    "stored",
    ["application/json", "application/json; charset=utf-8", "application/vnd.github+json", "text/plain",
     "application/x-www-form-urlencoded", DEFAULT_CONTENT_TYPE],
)  # fmt: skip
def test_a_type_a_browser_only_shows_as_text_is_kept(stored: str) -> None:
    assert payload_headers(stored)["Content-Type"] == stored


@given(st.text(max_size=60))
def test_whatever_a_sender_sends_is_served_as_a_sandboxed_download(raw: str) -> None:
    stored = parse_delivery("github", {"Content-Type": raw}, b"{}").content_type
    headers = payload_headers(stored)
    assert headers["Content-Disposition"] == "attachment"
    assert headers["Content-Security-Policy"] == "sandbox"
    served = headers["Content-Type"].split(";")[0].strip().lower()
    assert served in {"application/json", "text/plain", "application/x-www-form-urlencoded", DEFAULT_CONTENT_TYPE} or (
        served.startswith("application/") and served.endswith("+json")
    )
    assert "\r" not in headers[PAYLOAD_TYPE_HEADER]
    assert "\n" not in headers[PAYLOAD_TYPE_HEADER]


def test_the_largest_payload_is_one_put_blob_with_the_sdks_default() -> None:
    client = BlobServiceClient("https://account.blob.core.windows.net", credential=None)
    assert client._config.max_single_put_size >= MAX_SINGLE_PUT_BYTES  # the SDK's own default


def test_a_payload_limit_past_one_put_blob_is_refused() -> None:
    assert WebhookSettings.from_environment({**VALID, "MAX_PAYLOAD_BYTES": str(MAX_SINGLE_PUT_BYTES)})
    with pytest.raises(SettingsError, match="MAX_PAYLOAD_BYTES must be at most"):
        WebhookSettings.from_environment({**VALID, "MAX_PAYLOAD_BYTES": str(MAX_SINGLE_PUT_BYTES + 1)})
