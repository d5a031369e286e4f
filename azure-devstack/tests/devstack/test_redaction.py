"""What the stack writes to a log file or the terminal holds no key (children.Redactor)."""

from __future__ import annotations

import pytest
from devstack.children import REDACTED, Redactor

KEY = "Zx9-mK2_pQ7vR4sT8wY1aB3cD5eF"


@pytest.mark.parametrize(
    "line",
    [
        f"Rejected a malformed request with 400: Bad status line 'GET /api/x?code={KEY} HTTP/1.1 extra'",
        f"GET /api/x?a=1&code={KEY}#frag",
        f'{{"message": "url http://h/api/x?CODE={KEY}\\" x"}}',
        f"{{'x-functions-key': '{KEY}'}}",
        f'"X-Functions-Key": "{KEY}"',
        f"x-functions-key: {KEY}",
        f"a traceback mentioning {KEY} by itself",
        f"percent-encoded {KEY.replace('-', '%2D')} is still it",
    ],
)
def test_a_key_never_survives(line: str) -> None:
    redacted = Redactor([KEY, KEY.replace("-", "%2D")]).line(line.encode())
    assert KEY.encode() not in redacted
    assert KEY.replace("-", "%2D").encode() not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "line",
    [
        "[401] GET /api/ping: the function key is missing or wrong (x-functions-key header or ?code=)",
        "status errorcode=5 statusCode=403 x-ms-error-code=AuthorizationPermissionMismatch",
        "short secret ab",
    ],
)
def test_ordinary_text_is_left_alone(line: str) -> None:
    assert Redactor(["ab"]).line(line.encode()) == line.encode()
