"""How a request proves who it is, checked as Azure Storage checks it on the data account, whose Bicep sets
`allowSharedKeyAccess: false` and `allowBlobPublicAccess: false`.

In order: an `Authorization` header (Shared Key is refused, a bearer token is fully verified); else a SAS
in the query (a key-signed one is refused); else the request is anonymous, which such an account never
serves. The answers and their sources are in errors.py; the anonymous cases follow "Responses to
anonymous read requests" in "Authorize with Microsoft Entra ID" (REST).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import hdrs, web

from devstack.blob_gateway.errors import (
    invalid_authentication_info,
    key_based_authentication_not_permitted,
    no_authentication_information,
    public_access_not_permitted,
    user_delegation_sas_not_served,
)
from devstack.tokens import TokenError, TokenVerifier

# "Azure Storage Blob and Queue services return a bearer challenge for version 2019-12-12 and newer";
# an anonymous request at an older version (or none) on such an account gets 409 instead.
BEARER_CHALLENGE_VERSION = "2019-12-12"
SHARED_KEY_SCHEMES = frozenset({"sharedkey", "sharedkeylite"})  # "Authorize with Shared Key"
SAS_SIGNATURE = "sig"
USER_DELEGATION_OBJECT_ID = "skoid"  # only a user delegation SAS carries it ("Create a user delegation SAS")
STORAGE_APP_ID = "e406a681-f3d4-42a8-90b6-c2b029497af1"  # Azure Storage's first-party application id

# <AuthenticationErrorDetail> of a refused token. Confirmed in recorded answers: audience
# (Azure/azure-sdk-for-js datalake recording, see errors.py) and expiry (quoted from the service in
# Azure/azure-storage-azcopy ste/destReauthPolicy.go). The others follow the same wording, unconfirmed.
EXPIRED = "Lifetime validation failed. The token is expired."
AUDIENCE_MISMATCH = "Audience validation failed. Audience did not match."
ISSUER_MISMATCH = "Issuer validation failed. Issuer did not match."
NOT_YET_VALID = "Lifetime validation failed. The token is not yet valid."
BAD_SIGNATURE = "Signature validation failed. Signature is invalid."
MALFORMED = "The access token is malformed."
UNSUPPORTED_SCHEME = "The authentication scheme is not supported."


def storage_audiences(account_name: str) -> frozenset[str]:
    """Every `aud` Azure Storage accepts for the account's blob endpoint (the ones Azurite accepts too)."""
    return frozenset(
        {
            "https://storage.azure.com",
            "https://storage.azure.com/",
            f"https://{account_name}.blob.core.windows.net",
            STORAGE_APP_ID,
        }
    )


def authenticate(request: web.Request, verifier: TokenVerifier, tenant_id: str) -> dict[str, Any]:
    """The verified claims of the request's bearer token; raises the StorageError Azure would answer."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if header:
        return _from_header(header, verifier, tenant_id)
    if SAS_SIGNATURE in request.query:
        if USER_DELEGATION_OBJECT_ID in request.query:
            raise user_delegation_sas_not_served()
        raise key_based_authentication_not_permitted()
    if _knows_bearer_challenge(request.headers):
        raise no_authentication_information(tenant_id)
    raise public_access_not_permitted()


def _from_header(header: str, verifier: TokenVerifier, tenant_id: str) -> dict[str, Any]:
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() in SHARED_KEY_SCHEMES:
        raise key_based_authentication_not_permitted()
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        raise invalid_authentication_info(tenant_id, UNSUPPORTED_SCHEME if token else MALFORMED)
    try:
        return verifier.verify(token)
    except TokenError as error:
        raise invalid_authentication_info(tenant_id, _refusal_detail(token, error, verifier)) from None


def _refusal_detail(token: str, error: TokenError, verifier: TokenVerifier) -> str:
    """Which check failed, in the service's words; never the token."""
    cause = error.__cause__
    if error.expired:
        return EXPIRED
    if isinstance(cause, jwt.ImmatureSignatureError):
        return NOT_YET_VALID
    if isinstance(cause, jwt.InvalidSignatureError):
        return BAD_SIGNATURE
    if cause is not None:
        return MALFORMED
    # The signature held and a claim check failed, so the claims are the issuer's own.
    issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    return ISSUER_MISMATCH if issuer != verifier.issuer else AUDIENCE_MISMATCH


def _knows_bearer_challenge(headers: Mapping[str, str]) -> bool:
    # Versions are ISO dates, so they compare as strings.
    return headers.get("x-ms-version", "") >= BEARER_CHALLENGE_VERSION
