"""TokenVerifier, the one token check of every local service (Key Vault, the Blob gateway, Cosmos DB)."""

from __future__ import annotations

import time

import pytest
from devstack import tokens
from devstack.tokens import Identity, Tenant, TokenError, TokenVerifier

AUDIENCE = "https://localhost"


@pytest.fixture
def tenant() -> Tenant:
    return Tenant()


def verifier_of(tenant: Tenant) -> TokenVerifier:
    return TokenVerifier(tenant.public_key_pem(), tenant.issuer, {AUDIENCE})


def test_a_verified_token_is_refused_once_it_expires(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    token, expires = tenant.mint(Identity.new("user"), AUDIENCE, lifetime=600)
    verifier = verifier_of(tenant)
    first = verifier.verify(token)
    monkeypatch.setattr("devstack.tokens.time.time", lambda: expires + tokens.CLOCK_SKEW_SECONDS + 1)

    with pytest.raises(TokenError) as refused:
        verifier.verify(token)

    assert first["exp"] == expires
    assert refused.value.expired
    assert refused.value.claims is not None
    assert refused.value.claims["exp"] == expires


def test_claims_handed_out_are_copies(tenant: Tenant) -> None:
    identity = Identity.new("user")
    token, _ = tenant.mint(identity, AUDIENCE)
    verifier = verifier_of(tenant)
    verifier.verify(token)["oid"] = "someone else"

    assert verifier.verify(token)["oid"] == identity.object_id


def test_a_refused_token_stays_refused(tenant: Tenant) -> None:
    token, _ = Tenant(tenant_id=tenant.tenant_id).mint(Identity.new("user"), AUDIENCE)  # another key
    verifier = verifier_of(tenant)

    for _ in range(2):
        with pytest.raises(TokenError, match="signature"):
            verifier.verify(token)


def test_verified_tokens_kept_are_bounded(tenant: Tenant) -> None:
    verifier = verifier_of(tenant)
    identity = Identity.new("user")
    minted = [tenant.mint(identity, AUDIENCE, now=time.time() - n)[0] for n in range(tokens.VERIFIED_TOKENS_KEPT + 5)]
    for token in minted:
        verifier.verify(token)

    assert all(verifier.verify(token)["oid"] == identity.object_id for token in minted)
    assert len(verifier._verified) == tokens.VERIFIED_TOKENS_KEPT
