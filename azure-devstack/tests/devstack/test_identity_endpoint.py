"""The token endpoint on its own: both protocols as azure-identity speaks them, and its errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from azure.identity.aio import ManagedIdentityCredential
from devstack.identity_endpoint import APP_SERVICE_PATH, IMDS_PATH, Directory, create_identity_app
from devstack.testing import IDENTITY_VARIABLES
from devstack.tokens import Identity, Tenant, TokenVerifier

HEADER = "local-identity-header"
VAULT = "https://vault.azure.net"


@dataclass
class Endpoint:
    base: str
    tenant: Tenant
    directory: Directory
    http: ClientSession

    @property
    def user(self) -> Identity:
        return self.directory.user_assigned[0]


@pytest.fixture
async def endpoint(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Endpoint]:
    for name in (*IDENTITY_VARIABLES, "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    tenant = Tenant()
    directory = Directory(system=Identity.new("system"), user_assigned=(Identity.new("user"),))
    server = TestServer(create_identity_app(tenant=tenant, directory=directory, identity_header=HEADER))
    await server.start_server()
    async with ClientSession() as http:
        yield Endpoint(str(server.make_url("")).rstrip("/"), tenant, directory, http)
    await server.close()


def claims_of(endpoint: Endpoint, token: str) -> dict[str, object]:
    verifier = TokenVerifier(endpoint.tenant.public_key_pem(), endpoint.tenant.issuer, {VAULT})
    return verifier.verify(token)


@pytest.mark.parametrize("user_assigned", [False, True])
async def test_app_service_protocol_issues_verifiable_tokens(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, user_assigned: bool
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.base + APP_SERVICE_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", HEADER)
    identity = endpoint.user if user_assigned else endpoint.directory.system
    kwargs: dict[str, Any] = {"client_id": identity.client_id} if user_assigned else {}
    async with ManagedIdentityCredential(**kwargs) as credential:
        token = await credential.get_token(VAULT + "/.default")
    claims = claims_of(endpoint, token.token)
    assert claims["oid"] == identity.object_id
    assert claims["appid"] == identity.client_id
    assert claims["tid"] == endpoint.tenant.tenant_id
    assert claims["aud"] == VAULT


@pytest.mark.parametrize("user_assigned", [False, True])
async def test_imds_protocol_issues_verifiable_tokens(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, user_assigned: bool
) -> None:
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", endpoint.base)
    identity = endpoint.user if user_assigned else endpoint.directory.system
    kwargs: dict[str, Any] = {"client_id": identity.client_id} if user_assigned else {}
    async with ManagedIdentityCredential(**kwargs) as credential:
        token = await credential.get_token(VAULT + "/.default")
    assert claims_of(endpoint, token.token)["oid"] == identity.object_id
    assert token.expires_on > jwt.decode(token.token, options={"verify_signature": False})["iat"] + 3600


async def test_wrong_identity_header_makes_the_credential_unavailable(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.base + APP_SERVICE_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    async with ManagedIdentityCredential() as credential:
        with pytest.raises((CredentialUnavailableError, ClientAuthenticationError)):
            await credential.get_token(VAULT + "/.default")


async def test_unknown_client_id_is_a_400_like_azure(endpoint: Endpoint) -> None:
    url = f"{endpoint.base}{APP_SERVICE_PATH}?api-version=2019-08-01&resource={VAULT}&client_id=nobody"
    async with endpoint.http.get(url, headers={"X-IDENTITY-HEADER": HEADER}) as response:
        assert response.status == 400
        assert "No User Assigned" in (await response.json())["message"]
    url = f"{endpoint.base}{IMDS_PATH}?api-version=2018-02-01&resource={VAULT}&client_id=nobody"
    async with endpoint.http.get(url, headers={"Metadata": "true"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (f"{APP_SERVICE_PATH}?resource={VAULT}", {"X-IDENTITY-HEADER": HEADER}, 400),  # no api-version
        (f"{APP_SERVICE_PATH}?api-version=2019-08-01", {"X-IDENTITY-HEADER": HEADER}, 400),  # no resource
        (f"{APP_SERVICE_PATH}?api-version=2019-08-01&resource={VAULT}", {}, 401),  # no header
        (f"{IMDS_PATH}?api-version=2018-02-01&resource={VAULT}", {}, 400),  # no Metadata header
        (f"{IMDS_PATH}?resource={VAULT}", {"Metadata": "true"}, 400),  # no api-version
        (f"{IMDS_PATH}?api-version=1999-01-01&resource={VAULT}", {"Metadata": "true"}, 400),
        ("/no/such/route", {}, 404),
    ],
)
async def test_malformed_requests_get_json_4xx(
    endpoint: Endpoint, path: str, headers: dict[str, str], status: int
) -> None:
    async with endpoint.http.get(endpoint.base + path, headers=headers) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        await response.json()


async def test_wrong_method_and_huge_body_are_refused(endpoint: Endpoint) -> None:
    async with endpoint.http.post(endpoint.base + APP_SERVICE_PATH, data=b"x") as response:
        assert response.status == 405
    huge = b"x" * (1024 * 1024)
    async with endpoint.http.post(f"{endpoint.base}/_devstack/mint", data=huge) as response:
        assert response.status == 413


async def test_mint_rejects_bad_json_and_unknown_identity(endpoint: Endpoint) -> None:
    headers = {"X-IDENTITY-HEADER": HEADER}
    async with endpoint.http.post(f"{endpoint.base}/_devstack/mint", data=b"{not json", headers=headers) as response:
        assert response.status == 400
    body = {"resource": VAULT, "clientId": "nobody"}
    async with endpoint.http.post(f"{endpoint.base}/_devstack/mint", json=body, headers=headers) as response:
        assert response.status == 400
    async with endpoint.http.post(f"{endpoint.base}/_devstack/mint", json={"resource": VAULT}) as response:
        assert response.status == 401


async def test_stats_count_per_identity_and_resource(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.base + APP_SERVICE_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", HEADER)
    async with ManagedIdentityCredential(client_id=endpoint.user.client_id) as credential:
        for _ in range(5):
            await credential.get_token(VAULT + "/.default")
            await credential.get_token("https://storage.azure.com/.default")
    async with endpoint.http.get(f"{endpoint.base}/stats") as response:
        stats = await response.json()
    rows = {(r["clientId"], r["resource"]): r["count"] for r in stats["requests"]}
    assert rows == {(endpoint.user.client_id, VAULT): 1, (endpoint.user.client_id, "https://storage.azure.com"): 1}
