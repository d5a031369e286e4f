"""HMAC signatures: GitHub's documented test vector, rotation candidates, malformed headers."""

from __future__ import annotations

import pytest

from webhooks.signing import sign, signature_matches

# From GitHub's "Validating webhook deliveries" documentation.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_test_vector_verifies() -> None:
    assert sign(GITHUB_SECRET, GITHUB_PAYLOAD) == GITHUB_SIGNATURE
    assert signature_matches(GITHUB_SIGNATURE, GITHUB_PAYLOAD, [GITHUB_SECRET])


def test_any_accepted_version_verifies() -> None:
    assert signature_matches(GITHUB_SIGNATURE, GITHUB_PAYLOAD, ["new-secret", GITHUB_SECRET])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        GITHUB_SIGNATURE.upper(),
        GITHUB_SIGNATURE.removeprefix("sha256="),
        "sha1=" + GITHUB_SIGNATURE.removeprefix("sha256="),
        GITHUB_SIGNATURE[:-1],
        GITHUB_SIGNATURE + " ",
    ],
)
def test_malformed_or_altered_signatures_fail(header: str | None) -> None:
    assert not signature_matches(header, GITHUB_PAYLOAD, [GITHUB_SECRET])


def test_altered_body_fails() -> None:
    assert not signature_matches(GITHUB_SIGNATURE, GITHUB_PAYLOAD + b" ", [GITHUB_SECRET])


def test_no_secrets_means_no_match() -> None:
    assert not signature_matches(GITHUB_SIGNATURE, GITHUB_PAYLOAD, [])
