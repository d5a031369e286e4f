"""Key Vault, Blob and Cosmos on the local stack, reached the way the app reaches them in Azure.

Every client here gets its token from azure-identity's real ManagedIdentityCredential, in both
protocols (App Service and IMDS) and for both identity kinds, over HTTPS through the local CA. The
refusal tests hand the services tokens they must not accept, minted by the local tenant.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.cosmos import CosmosClient
from azure.cosmos.aio import CosmosClient as AsyncCosmosClient
from azure.identity import ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient
from devstack.pytest_plugin import StartStack
from devstack.testing import FLAVOURS, AsyncStaticTokenCredential, Flavour, StackInfo, StaticTokenCredential
from devstack.tokens import Identity, Tenant

SERVICES = ("keyvault", "blob", "cosmos")
KINDS = ("system", "user")
SECRET = "greeting"  # the minimal app's declared secret (tests/minimal_app)
DATABASE, CONTAINER = "notebook", "pages"


def audiences(stack: StackInfo) -> dict[str, str]:
    cosmos_host = urlsplit(stack.cosmos_url).hostname
    return {
        "keyvault": "https://vault.azure.net",
        "blob": "https://storage.azure.com",
        "cosmos": f"https://{cosmos_host}",
    }


@pytest.fixture(scope="module")
def system_stack(start_stack: StartStack) -> StackInfo:
    """A stack deployed with the minimal app's systemIdentity on: there the system identity holds the app's roles."""
    return start_stack("--env", "NOTES_SYSTEM_IDENTITY=true")


@pytest.fixture
def stack(identity_env: StackInfo) -> StackInfo:
    return identity_env


@pytest.fixture
def stack_for(stack: StackInfo, request: pytest.FixtureRequest) -> Callable[[str], StackInfo]:
    """The stack on which identity kind `kind` is the app's identity, with azure-identity pointed at it."""

    def pick(kind: str) -> StackInfo:
        if kind == "user":
            return stack
        system: StackInfo = request.getfixturevalue("system_stack")
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        for name, value in system.network_environment().items():
            monkeypatch.setenv(name, value)
        return system

    return pick


def managed_identity(stack: StackInfo, monkeypatch: pytest.MonkeyPatch, flavour: Flavour, kind: str) -> dict[str, Any]:
    """Point azure-identity at the local endpoint in one protocol; the kwargs pick the identity kind."""
    for name, value in stack.identity_environment(flavour).items():
        monkeypatch.setenv(name, value)
    return {"client_id": stack.client_id("app")} if kind == "user" else {}


# --- one round trip per service, proving data really flows ------------------------------------------


def sync_round_trip(service: str, stack: StackInfo, credential: Any) -> None:
    s = stack.settings
    if service == "keyvault":
        with SecretClient(stack.vault_url, credential, connection_verify=stack.ca) as vault:
            assert vault.get_secret(SECRET).value
    elif service == "blob":
        name, data = f"probe/{uuid.uuid4()}", uuid.uuid4().bytes
        with BlobServiceClient(stack.blob_url, credential, connection_verify=stack.ca) as blobs:
            blob = blobs.get_blob_client(s["NOTES_CONTAINER"], name)
            blob.upload_blob(data)
            assert blob.download_blob().readall() == data
    else:
        item = {"id": str(uuid.uuid4()), "book": "probe"}
        client = CosmosClient(stack.cosmos_url, credential, connection_verify=stack.ca)
        container = client.get_database_client(DATABASE).get_container_client(CONTAINER)
        container.create_item(item)
        assert container.read_item(item["id"], partition_key="probe")["id"] == item["id"]


async def async_round_trip(service: str, stack: StackInfo, credential: Any) -> None:
    s = stack.settings
    if service == "keyvault":
        async with AsyncSecretClient(stack.vault_url, credential, connection_verify=stack.ca) as vault:
            assert (await vault.get_secret(SECRET)).value
    elif service == "blob":
        name, data = f"probe/{uuid.uuid4()}", uuid.uuid4().bytes
        url = stack.blob_url
        async with AsyncBlobServiceClient(url, credential, connection_verify=stack.ca) as blobs:
            blob = blobs.get_blob_client(s["NOTES_CONTAINER"], name)
            await blob.upload_blob(data)
            assert await (await blob.download_blob()).readall() == data
    else:
        item = {"id": str(uuid.uuid4()), "book": "probe"}
        async with AsyncCosmosClient(stack.cosmos_url, credential, connection_verify=stack.ca) as client:
            db = client.get_database_client(DATABASE)
            container = db.get_container_client(CONTAINER)
            await container.create_item(item)
            assert (await container.read_item(item["id"], partition_key="probe"))["id"] == item["id"]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sync_client_works_with_managed_identity(
    stack_for: Callable[[str], StackInfo], monkeypatch: pytest.MonkeyPatch, flavour: Flavour, kind: str, service: str
) -> None:
    stack = stack_for(kind)
    options = managed_identity(stack, monkeypatch, flavour, kind)
    with ManagedIdentityCredential(**options) as credential:
        sync_round_trip(service, stack, credential)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_async_client_works_with_managed_identity(
    stack_for: Callable[[str], StackInfo], monkeypatch: pytest.MonkeyPatch, flavour: Flavour, kind: str, service: str
) -> None:
    stack = stack_for(kind)
    options = managed_identity(stack, monkeypatch, flavour, kind)
    async with AsyncManagedIdentityCredential(**options) as credential:
        await async_round_trip(service, stack, credential)


async def test_one_token_request_per_audience_for_a_hundred_calls(
    stack: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = managed_identity(stack, monkeypatch, "app_service", "user")
    before = stack.token_counts()
    async with AsyncManagedIdentityCredential(**options) as credential:
        for service in SERVICES:
            for _ in range(100):
                await async_round_trip(service, stack, credential)
    after = stack.token_counts()
    app = stack.client_id("app")
    expected = audiences(stack).values()
    delta = {aud: after.get((app, aud), 0) - before.get((app, aud), 0) for aud in expected}
    assert delta == dict.fromkeys(expected, 1)


# --- refusals -------------------------------------------------------------------------------------


def status_of(call: Callable[[], object]) -> int:
    with pytest.raises(HttpResponseError) as refused:  # "DID NOT RAISE" = the token was accepted
        call()
    assert refused.value.status_code is not None
    return refused.value.status_code


async def async_status_of(call: Callable[[], Awaitable[object]]) -> int:
    with pytest.raises(HttpResponseError) as refused:
        await call()
    assert refused.value.status_code is not None
    return refused.value.status_code


def bad_tokens(stack: StackInfo, service: str) -> dict[str, str]:
    audience = audiences(stack)[service]
    other_audience = audiences(stack)["keyvault" if service != "keyvault" else "blob"]
    stranger = Tenant(tenant_id=stack.env.devstack["tenantId"])  # same tenant and claims, another key
    app = Identity(client_id=stack.client_id("app"), object_id=stack.object_id("app"), kind="user")
    return {
        "wrong_audience": stack.mint(other_audience),
        "expired": stack.mint(audience, issued_at=time.time() - 7200, lifetime=3600),
        "other_key": stranger.mint(app, audience)[0],
    }


def sync_probe(service: str, stack: StackInfo, credential: Any) -> int:
    s = stack.settings
    if service == "keyvault":
        vault = SecretClient(stack.vault_url, credential, connection_verify=stack.ca)
        return status_of(lambda: vault.get_secret(SECRET))
    if service == "blob":
        blobs = BlobServiceClient(stack.blob_url, credential, connection_verify=stack.ca)
        return status_of(lambda: blobs.get_container_client(s["NOTES_CONTAINER"]).get_container_properties())
    # The sync Cosmos client reads account metadata as it is built, so a refused token fails there.
    return status_of(
        lambda: (
            CosmosClient(stack.cosmos_url, credential, connection_verify=stack.ca)
            .get_database_client(DATABASE)
            .get_container_client(CONTAINER)
            .read_item("x", partition_key="probe")
        )
    )


async def async_probe(service: str, stack: StackInfo, credential: Any) -> int:
    s = stack.settings
    if service == "keyvault":
        async with AsyncSecretClient(stack.vault_url, credential, connection_verify=stack.ca) as vault:
            return await async_status_of(lambda: vault.get_secret(SECRET))
    if service == "blob":
        url = stack.blob_url
        async with AsyncBlobServiceClient(url, credential, connection_verify=stack.ca) as blobs:
            return await async_status_of(
                lambda: blobs.get_container_client(s["NOTES_CONTAINER"]).get_container_properties()
            )

    # The Cosmos client reads account metadata on open, so a refused token fails there already.
    async def open_and_read() -> object:
        async with AsyncCosmosClient(stack.cosmos_url, credential, connection_verify=stack.ca) as client:
            db = client.get_database_client(DATABASE)
            return await db.get_container_client(CONTAINER).read_item("x", partition_key="probe")

    return await async_status_of(open_and_read)


# What each service answers, as Azure does: Key Vault and Cosmos DB 401; Azure Storage (here the Blob
# gateway in front of Azurite) 401 InvalidAuthenticationInfo with its Bearer challenge. All three
# verify the signature, so a token signed by another key is refused like a wrong audience.
EXPECTED = {
    "keyvault": {"wrong_audience": 401, "expired": 401, "other_key": 401},
    "blob": {"wrong_audience": 401, "expired": 401, "other_key": 401},
    "cosmos": {"wrong_audience": 401, "expired": 401, "other_key": 401},
}
REFUSALS = [(service, case, status) for service, cases in EXPECTED.items() for case, status in cases.items()]


@pytest.mark.parametrize(("service", "case", "status"), REFUSALS)
def test_sync_client_token_refused(stack: StackInfo, service: str, case: str, status: int) -> None:
    token = bad_tokens(stack, service)[case]
    assert sync_probe(service, stack, StaticTokenCredential(token)) == status


@pytest.mark.parametrize(("service", "case", "status"), REFUSALS)
async def test_async_client_token_refused(stack: StackInfo, service: str, case: str, status: int) -> None:
    token = bad_tokens(stack, service)[case]
    assert await async_probe(service, stack, AsyncStaticTokenCredential(token)) == status


@pytest.mark.parametrize("service", SERVICES)
def test_identity_without_role_is_forbidden(stack: StackInfo, service: str) -> None:
    """A valid token is not enough: the outsider holds no role anywhere, so every service refuses it."""
    token = stack.mint(audiences(stack)[service], who="outsider")
    assert sync_probe(service, stack, StaticTokenCredential(token)) == 403


def no_token_request(stack: StackInfo, service: str) -> requests.Response:
    s = stack.settings
    if service == "keyvault":
        url = f"{stack.env.devstack['keyvaultDirectUrl']}/secrets/{SECRET}?api-version=2025-07-01"
    elif service == "blob":
        url = f"{stack.env.devstack['blobDirectUrl']}/{s['NOTES_CONTAINER']}?restype=container"
    else:
        url = f"{stack.env.devstack['cosmosDirectUrl']}dbs/{DATABASE}/colls/{CONTAINER}/docs/x"
    return requests.get(url, verify=stack.ca, timeout=10, proxies={"https": "", "http": ""})


@pytest.mark.parametrize(
    ("service", "status"),
    # Azurite refuses anonymous access to a private container with 403 (NoAuthenticationInformation-style).
    [("keyvault", 401), ("blob", 403), ("cosmos", 401)],
)
def test_request_without_token_refused(stack: StackInfo, service: str, status: int) -> None:
    response = no_token_request(stack, service)
    assert response.status_code == status
    if service == "keyvault":
        assert 'resource="https://vault.azure.net"' in response.headers["WWW-Authenticate"]
