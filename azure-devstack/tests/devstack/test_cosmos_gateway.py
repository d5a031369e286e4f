"""The local Cosmos DB (the Python front end, devstack/cosmos_gateway, over the Node data engine) as the
real azure-cosmos SDK sees it.

One standalone account for the module (`devstack.cosmos_gateway.standalone`: the engine and a front end
that also takes an account key). The key only creates the database and the containers, as Bicep does;
everything else goes through tokens minted by the local tenant, as in Azure, authorised by
`infra_model.authorization.Authorizer` over the assignments below. The engine's own process is tested in
test_cosmos_engine.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import ssl
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, Self, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from azure.core import MatchConditions
from azure.core.credentials import AccessToken
from azure.core.paging import PageIterator
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.aio import CosmosClient as AsyncCosmosClient
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceNotFoundError,
)
from devstack.certs import CertPaths, ensure_certificates
from devstack.cosmos_gateway import create_cosmos_gateway
from devstack.cosmos_gateway.standalone import StandaloneAccount, running_account
from devstack.tokens import Identity, Tenant, TokenVerifier, resource_from_scope
from infra_model.authorization import Assignment, Authorizer
from infra_model.roles import RoleDefinition, cosmos_built_in_role

DATABASE = "notebook"
CONTAINER = "pages"
OTHER_CONTAINER = "others"
RESOURCE_GROUP_ID = "/subscriptions/6d3a8c1e-0000-4000-8000-00000000c05d/resourceGroups/rg-local"
ACCOUNT_ID = f"{RESOURCE_GROUP_ID}/providers/Microsoft.DocumentDB/databaseAccounts/notes-local"
CONTAINER_SCOPE = f"{ACCOUNT_ID}/dbs/{DATABASE}/colls/{CONTAINER}"

# Data actions as "Azure Cosmos DB for NoSQL data plane actions reference" names them.
_ACCOUNT_ACTIONS = "Microsoft.DocumentDB/databaseAccounts"
_CONTAINER_ACTIONS = f"{_ACCOUNT_ACTIONS}/sqlDatabases/containers"
READ_METADATA = f"{_ACCOUNT_ACTIONS}/readMetadata"
EXECUTE_QUERY = f"{_CONTAINER_ACTIONS}/executeQuery"
READ_CHANGE_FEED = f"{_CONTAINER_ACTIONS}/readChangeFeed"
EXECUTE_STORED_PROCEDURE = f"{_CONTAINER_ACTIONS}/executeStoredProcedure"
MANAGE_CONFLICTS = f"{_CONTAINER_ACTIONS}/manageConflicts"


def item_action(verb: str) -> str:
    return f"{_CONTAINER_ACTIONS}/items/{verb}"


def cosmos_role(role_id: str) -> RoleDefinition:
    role = cosmos_built_in_role(role_id)
    assert role is not None, role_id
    return role


DATA_READER = cosmos_role("00000000-0000-0000-0000-000000000001")
DATA_CONTRIBUTOR = cosmos_role("00000000-0000-0000-0000-000000000002")
# Custom sqlRoleDefinitions, identified like Bicep's by their full resource id.
CREATE_READ_QUERY = RoleDefinition(
    id=f"{ACCOUNT_ID}/sqlRoleDefinitions/5d2f4d1c-1111-4c6e-9a51-3c7c0a1d0001",
    name="Create, read and query items",
    data_actions=(READ_METADATA, item_action("create"), item_action("read"), EXECUTE_QUERY),
)
ALL_BUT_DELETE = RoleDefinition(
    id=f"{ACCOUNT_ID}/sqlRoleDefinitions/5d2f4d1c-1111-4c6e-9a51-3c7c0a1d0002",
    name="Everything but delete",
    data_actions=(READ_METADATA, f"{_CONTAINER_ACTIONS}/*"),
    not_data_actions=(item_action("delete"),),
)
# What the SDK asks for: the endpoint's host without the port (FIELD-NOTES).
COSMOS_SCOPE = "https://localhost/.default"

# The SDK turns certificate checks off for localhost by itself and warns on every request; the raw
# requests below check the certificate against our CA instead.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


class TenantCredential:
    """A TokenCredential backed by the local tenant, as ManagedIdentityCredential is by Entra.

    Records the scopes it was asked for and the tokens it handed out (to prove none is echoed).
    """

    def __init__(
        self,
        tenant: Tenant,
        identity: Identity,
        *,
        audience: str | None = None,
        issued_at: float | None = None,
        lifetime: int = 3600,
    ) -> None:
        self.tenant = tenant
        self.identity = identity
        self.audience = audience
        self.issued_at = issued_at
        self.lifetime = lifetime
        self.scopes: list[str] = []
        self.tokens: list[str] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return self.mint(scopes)

    def mint(self, scopes: Sequence[str]) -> AccessToken:
        self.scopes.extend(scopes)
        audience = self.audience or resource_from_scope(scopes[0])
        token, expires_on = self.tenant.mint(self.identity, audience, lifetime=self.lifetime, now=self.issued_at)
        self.tokens.append(token)
        return AccessToken(token, expires_on)


class AsyncTenantCredential:
    """The aio flavour of TenantCredential, for azure.cosmos.aio clients."""

    def __init__(self, inner: TenantCredential) -> None:
        self.inner = inner

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return self.inner.mint(scopes)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@dataclass
class LocalCosmos:
    folder: Path
    certs: CertPaths
    tenant: Tenant
    master_key: str
    writer: Identity
    outsider: Identity
    limited: Identity
    reader: Identity
    narrow: Identity
    no_delete: Identity
    elsewhere: Identity
    account: StandaloneAccount | None = None
    writer_credential: TenantCredential = field(init=False)

    def __post_init__(self) -> None:
        self.writer_credential = TenantCredential(self.tenant, self.writer)

    @property
    def url(self) -> str:
        assert self.account is not None
        return self.account.endpoint

    @property
    def port(self) -> int:
        return int(urllib.parse.urlsplit(self.url).port or 0)

    def client(self, credential: Any) -> CosmosClient:
        return CosmosClient(self.url, credential=credential, connection_verify=str(self.certs.ca))

    def credential(self, identity: Identity) -> TenantCredential:
        return TenantCredential(self.tenant, identity)

    def assignments(self) -> list[Assignment]:
        """Who may do what: one principal per behaviour under test; the outsider has no role."""
        return [
            Assignment(self.writer.object_id, DATA_CONTRIBUTOR, ACCOUNT_ID, "test:writer-contributor"),
            Assignment(self.limited.object_id, CREATE_READ_QUERY, ACCOUNT_ID, "test:limited-create-read-query"),
            Assignment(self.reader.object_id, DATA_READER, ACCOUNT_ID, "test:reader"),
            Assignment(self.narrow.object_id, DATA_CONTRIBUTOR, CONTAINER_SCOPE, "test:narrow-one-container"),
            Assignment(self.no_delete.object_id, ALL_BUT_DELETE, ACCOUNT_ID, "test:no-delete"),
            # Cosmos DB's RBAC knows only the account's own sqlRoleAssignments.
            Assignment(self.elsewhere.object_id, DATA_CONTRIBUTOR, RESOURCE_GROUP_ID, "test:resource-group"),
        ]


@pytest.fixture(scope="module")
def cosmos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCosmos]:
    folder = tmp_path_factory.mktemp("cosmos")
    local = LocalCosmos(
        folder=folder,
        certs=ensure_certificates(folder / "certs"),
        tenant=Tenant(),
        master_key=base64.b64encode(secrets.token_bytes(64)).decode(),
        writer=Identity.new("system"),
        outsider=Identity.new("user"),
        limited=Identity.new("user"),
        reader=Identity.new("user"),
        narrow=Identity.new("user"),
        no_delete=Identity.new("user"),
        elsewhere=Identity.new("user"),
    )
    authorizer = Authorizer(local.assignments())
    with running_account(
        folder,
        key=local.master_key,
        certs=local.certs,
        tenant=local.tenant,
        authorizer=authorizer,
        account_id=ACCOUNT_ID,
    ) as account:
        local.account = account
        yield local


@pytest.fixture(scope="module")
def container(cosmos: LocalCosmos) -> Iterator[ContainerProxy]:
    """The app's view: created with the master key (as Bicep would), then used with a token."""
    with cosmos.client(cosmos.master_key) as admin:
        database = admin.create_database_if_not_exists(DATABASE)
        database.create_container_if_not_exists(CONTAINER, PartitionKey(path="/book"))
        others = database.create_container_if_not_exists(OTHER_CONTAINER, PartitionKey(path="/book"))
        others.upsert_item({"id": "elsewhere", "book": "b1"})
    with cosmos.client(cosmos.writer_credential) as client:
        events = client.get_database_client(DATABASE).get_container_client(CONTAINER)
        events.upsert_item({"id": "seed", "book": "b1", "kind": "seed"})
        yield events


# --- helpers: raw HTTPS (certificate checked against our CA), hand-made signatures, SDK calls -----


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: Any


def raw_request(
    cosmos: LocalCosmos, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> RawResponse:
    context = ssl.create_default_context(cafile=str(cosmos.certs.ca))
    connection = http.client.HTTPSConnection("localhost", cosmos.port, context=context, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        response_headers = {name.lower(): value for name, value in response.getheaders()}
        return RawResponse(response.status, response_headers, json.loads(payload) if payload else None)
    finally:
        connection.close()


def master_key_authorization(key: str, verb: str, resource_type: str, resource_link: str, date: str) -> str:
    """The documented Cosmos master-key signature, written from the REST spec rather than the SDK."""
    payload = f"{verb.lower()}\n{resource_type.lower()}\n{resource_link}\n{date.lower()}\n\n"
    digest = hmac.new(base64.b64decode(key), payload.encode(), hashlib.sha256).digest()
    token = f"type=master&ver=1.0&sig={base64.b64encode(digest).decode()}"
    return urllib.parse.quote(token, safe="-_.!~*'()")


def devstack(cosmos: LocalCosmos, method: str, path: str, rule: object = None) -> RawResponse:
    body = None if rule is None else json.dumps(rule).encode()
    return raw_request(cosmos, method, f"/_devstack/{path}", body=body)


def error_code(error: CosmosHttpResponseError) -> str:
    code: str = json.loads(str(error.http_error_message))["code"]
    return code


@pytest.fixture
def fast_account_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK retries a failed account read 3 times, 500 ms apart, whatever the status (also against
    real Cosmos: a refused client costs 1.5 s). Failure-path tests shorten the wait, not the count."""
    monkeypatch.setenv("AZURE_COSMOS_HEALTH_CHECK_RETRY_AFTER_MS", "10")


def read_seed(cosmos: LocalCosmos, credential: Any) -> None:
    """What a worker does first: build a client (it reads the account) and read an item."""
    with cosmos.client(credential) as client:
        client.get_database_client(DATABASE).get_container_client(CONTAINER).read_item("seed", partition_key="b1")


# --- start-up, TLS and the account ----------------------------------------------------------------


def test_account_read_signed_by_hand_advertises_the_endpoint_the_client_used(cosmos: LocalCosmos) -> None:
    date = formatdate(usegmt=True)
    auth = master_key_authorization(cosmos.master_key, "GET", "", "", date)
    response = raw_request(cosmos, "GET", "/", headers={"authorization": auth, "x-ms-date": date})

    assert response.status == 200
    assert response.headers.get("connection", "keep-alive") == "keep-alive"  # HTTP/1.1: kept unless "close"
    endpoints = {loc["databaseAccountEndpoint"] for loc in response.body["writableLocations"]}
    endpoints |= {loc["databaseAccountEndpoint"] for loc in response.body["readableLocations"]}
    assert endpoints == {f"https://localhost:{cosmos.port}/"}


def test_master_key_signature_older_than_fifteen_minutes_is_refused(cosmos: LocalCosmos) -> None:
    date = formatdate(time.time() - 20 * 60, usegmt=True)
    auth = master_key_authorization(cosmos.master_key, "GET", "dbs", "", date)
    response = raw_request(cosmos, "GET", "/dbs", headers={"authorization": auth, "x-ms-date": date})

    assert response.status == 403
    assert "not valid at the current time" in response.body["message"]


def test_request_without_authorization_is_401(cosmos: LocalCosmos) -> None:
    response = raw_request(cosmos, "GET", f"/dbs/{DATABASE}")

    assert response.status == 401
    assert response.body["code"] == "Unauthorized"


def test_master_key_created_database_and_container_readable_with_a_token(container: ContainerProxy) -> None:
    properties = container.read()

    assert properties["id"] == CONTAINER
    assert properties["partitionKey"]["paths"] == ["/book"]


@pytest.mark.usefixtures("fast_account_retries")
def test_wrong_master_key_is_401(cosmos: LocalCosmos) -> None:
    wrong_key = base64.b64encode(secrets.token_bytes(64)).decode()

    with pytest.raises(CosmosHttpResponseError) as caught:
        read_seed(cosmos, wrong_key)

    assert caught.value.status_code == 401
    assert "wrong key" in str(caught.value.http_error_message)


# --- items with a token ---------------------------------------------------------------------------


def test_item_lifecycle_with_a_token(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    container.upsert_item({"id": "life", "book": "b1", "status": "new", "attempts": 0})
    first = container.read_item("life", partition_key="b1")
    replaced = container.replace_item(
        "life",
        {"id": "life", "book": "b1", "status": "seen", "attempts": 0},
        etag=first["_etag"],
        match_condition=MatchConditions.IfNotModified,
    )
    with pytest.raises(CosmosAccessConditionFailedError):
        container.replace_item("life", replaced, etag=first["_etag"], match_condition=MatchConditions.IfNotModified)
    patched = container.patch_item(
        "life",
        partition_key="b1",
        patch_operations=[
            {"op": "incr", "path": "/attempts", "value": 2},
            {"op": "set", "path": "/status", "value": "done"},
        ],
    )
    container.delete_item("life", partition_key="b1")

    assert first["status"] == "new"
    assert replaced["status"] == "seen"
    assert (patched["status"], patched["attempts"]) == ("done", 2)
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("life", partition_key="b1")
    assert set(cosmos.writer_credential.scopes) == {COSMOS_SCOPE}


MISSING_ITEM_OPERATIONS: dict[str, Callable[[ContainerProxy], object]] = {
    "read": lambda c: c.read_item("nope", partition_key="b1"),
    "replace": lambda c: c.replace_item("nope", {"id": "nope", "book": "b1"}),
    "delete": lambda c: c.delete_item("nope", partition_key="b1"),
    "patch": lambda c: c.patch_item("nope", partition_key="b1", patch_operations=[{"op": "remove", "path": "/x"}]),
    "read in another partition": lambda c: c.read_item("seed", partition_key="stripe"),
}


@pytest.mark.parametrize("operation", MISSING_ITEM_OPERATIONS.values(), ids=MISSING_ITEM_OPERATIONS.keys())
def test_missing_item_is_404_not_found(
    container: ContainerProxy, operation: Callable[[ContainerProxy], object]
) -> None:
    with pytest.raises(CosmosResourceNotFoundError) as caught:
        operation(container)

    assert caught.value.status_code == 404
    assert error_code(caught.value) == "NotFound"


def test_query_with_partition_key_sees_only_that_partition(container: ContainerProxy) -> None:
    for n, source in enumerate(["q-tolkien", "q-tolkien", "q-tolkien", "q-austen", "q-austen"]):
        container.upsert_item({"id": f"q{n}", "book": source, "kind": "query", "n": n})

    everything = list(container.query_items("SELECT * FROM c", partition_key="q-tolkien"))
    filtered = list(
        container.query_items(
            "SELECT c.id FROM c WHERE c.n >= @min", parameters=[{"name": "@min", "value": 1}], partition_key="q-tolkien"
        )
    )
    counted: list[Any] = list(container.query_items("SELECT VALUE COUNT(1) FROM c", partition_key="q-austen"))
    across = list(container.query_items("SELECT c.id FROM c WHERE c.kind = 'query'", enable_cross_partition_query=True))

    assert {item["id"] for item in everything} == {"q0", "q1", "q2"}
    assert {item["id"] for item in filtered} == {"q1", "q2"}
    assert counted == [2]
    assert {item["id"] for item in across} == {"q0", "q1", "q2", "q3", "q4"}


def test_query_pages_follow_max_item_count_and_resume_from_a_continuation(container: ContainerProxy) -> None:
    for n in range(7):
        container.upsert_item({"id": f"page{n}", "book": "paging", "n": n})
    query = "SELECT * FROM c ORDER BY c.n"

    pages = [list(page) for page in container.query_items(query, partition_key="paging", max_item_count=3).by_page()]
    pager = cast(
        "PageIterator[dict[str, Any]]", container.query_items(query, partition_key="paging", max_item_count=3).by_page()
    )
    first = list(next(pager))
    resumed = container.query_items(query, partition_key="paging", max_item_count=3).by_page(pager.continuation_token)
    rest = [item for page in resumed for item in page]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [item["n"] for page in pages for item in page] == list(range(7))
    assert [item["n"] for item in first + rest] == list(range(7))


def test_batch_applies_every_operation(container: ContainerProxy) -> None:
    container.upsert_item({"id": "b1", "book": "batch", "n": 1})
    container.upsert_item({"id": "b3", "book": "batch", "n": 3})

    results = container.execute_item_batch(
        [
            ("create", ({"id": "b2", "book": "batch", "n": 2},)),
            ("upsert", ({"id": "b1", "book": "batch", "n": 10},)),
            ("replace", ("b1", {"id": "b1", "book": "batch", "n": 11})),
            ("read", ("b1",)),
            ("patch", ("b2", [{"op": "incr", "path": "/n", "value": 5}])),
            ("delete", ("b3",)),
        ],
        partition_key="batch",
    )

    assert [result["statusCode"] for result in results] == [201, 200, 200, 200, 200, 204]
    assert results[3]["resourceBody"]["n"] == 11
    assert container.read_item("b1", partition_key="batch")["n"] == 11
    assert container.read_item("b2", partition_key="batch")["n"] == 7
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("b3", partition_key="batch")


def test_batch_is_all_or_nothing(container: ContainerProxy) -> None:
    container.upsert_item({"id": "a1", "book": "atomic", "n": 1})
    container.upsert_item({"id": "a2", "book": "atomic", "n": 2})

    with pytest.raises(CosmosBatchOperationError) as caught:
        container.execute_item_batch(
            [
                ("create", ({"id": "a3", "book": "atomic"},)),
                ("upsert", ({"id": "a1", "book": "atomic", "n": 99},)),
                ("create", ({"id": "a2", "book": "atomic"},)),
                ("delete", ("a1",)),
            ],
            partition_key="atomic",
        )

    assert caught.value.error_index == 2
    assert [r["statusCode"] for r in caught.value.operation_responses] == [424, 424, 409, 424]
    assert container.read_item("a1", partition_key="atomic")["n"] == 1
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("a3", partition_key="atomic")


def test_batch_refuses_an_item_from_another_partition(container: ContainerProxy) -> None:
    with pytest.raises(CosmosBatchOperationError) as caught:
        container.execute_item_batch([("create", ({"id": "x1", "book": "elsewhere"},))], partition_key="atomic")

    assert [r["statusCode"] for r in caught.value.operation_responses] == [400]


async def test_async_client_works_with_a_token(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    credential = AsyncTenantCredential(TenantCredential(cosmos.tenant, cosmos.writer))
    async with AsyncCosmosClient(cosmos.url, credential=credential, connection_verify=str(cosmos.certs.ca)) as client:
        events = client.get_database_client(DATABASE).get_container_client(CONTAINER)
        await events.upsert_item({"id": "aio1", "book": "aio", "n": 1})
        read = await events.read_item("aio1", partition_key="aio")
        batch = await events.execute_item_batch(
            [("create", ({"id": "aio2", "book": "aio", "n": 2},)), ("read", ("aio1",))], partition_key="aio"
        )
        found = [item["id"] async for item in events.query_items("SELECT * FROM c", partition_key="aio")]
        with pytest.raises(CosmosResourceNotFoundError):
            await events.read_item("missing", partition_key="aio")

    assert read["n"] == 1
    assert [r["statusCode"] for r in batch] == [201, 200]
    assert sorted(found) == ["aio1", "aio2"]
    assert set(credential.inner.scopes) == {COSMOS_SCOPE}


# --- tokens that must not work --------------------------------------------------------------------


BAD_TOKENS: dict[str, tuple[Callable[[LocalCosmos], TenantCredential], str]] = {
    "expired": (
        lambda c: TenantCredential(c.tenant, c.writer, issued_at=time.time() - 7200, lifetime=3600),
        "has been expired since",
    ),
    "wrong audience": (
        lambda c: TenantCredential(c.tenant, c.writer, audience="https://storage.azure.com"),
        "is intended for [https://storage.azure.com]",
    ),
    "other signing key": (
        lambda c: TenantCredential(Tenant(tenant_id=c.tenant.tenant_id), c.writer),
        "signature is invalid",
    ),
    "other tenant": (
        lambda c: TenantCredential(Tenant(key=c.tenant.key), c.writer),
        "issuer this account does not trust",
    ),
}


@pytest.mark.usefixtures("fast_account_retries")
@pytest.mark.parametrize(("make_credential", "reason"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_unacceptable_token_is_401_without_echoing_it(
    cosmos: LocalCosmos,
    container: ContainerProxy,
    make_credential: Callable[[LocalCosmos], TenantCredential],
    reason: str,
) -> None:
    credential = make_credential(cosmos)

    with pytest.raises(CosmosHttpResponseError) as caught:
        read_seed(cosmos, credential)

    message = str(caught.value.http_error_message)
    assert caught.value.status_code == 401
    assert error_code(caught.value) == "Unauthorized"
    assert reason in message
    assert credential.tokens
    assert not any(token in message or token.split(".")[2] in message for token in credential.tokens)


@pytest.mark.usefixtures("fast_account_retries")
def test_principal_without_the_data_role_is_403_5301(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    with pytest.raises(CosmosHttpResponseError) as caught:
        read_seed(cosmos, TenantCredential(cosmos.tenant, cosmos.outsider))

    assert (caught.value.status_code, caught.value.sub_status) == (403, 5301)
    # The account read comes first and names the account as resource "/", as in Azure's answers.
    assert f"Request blocked by Auth localhost : {refusal(cosmos.outsider, READ_METADATA, '/')}" in str(
        caught.value.http_error_message
    )


CONTROL_PLANE_OPERATIONS: dict[str, Callable[[CosmosClient], object]] = {
    "create database": lambda client: client.create_database("other"),
    "create container": lambda client: client.get_database_client(DATABASE).create_container(
        "other", PartitionKey(path="/book")
    ),
    "replace container": lambda client: client.get_database_client(DATABASE).replace_container(
        CONTAINER, PartitionKey(path="/book"), default_ttl=60
    ),
    "delete container": lambda client: client.get_database_client(DATABASE).delete_container(CONTAINER),
    "delete database": lambda client: client.delete_database(DATABASE),
}


@pytest.mark.parametrize("operation", CONTROL_PLANE_OPERATIONS.values(), ids=CONTROL_PLANE_OPERATIONS.keys())
def test_token_cannot_manage_databases_or_containers(
    cosmos: LocalCosmos, container: ContainerProxy, operation: Callable[[CosmosClient], object]
) -> None:
    with cosmos.client(cosmos.writer_credential) as client, pytest.raises(CosmosHttpResponseError) as caught:
        operation(client)

    assert (caught.value.status_code, caught.value.sub_status) == (403, 5300)
    assert "cannot be authorized by AAD token in data plane" in str(caught.value.http_error_message)
    assert container.read()["partitionKey"]["paths"] == ["/book"]


# --- data-plane RBAC: the action each request needs, at its scope -----------------------------------

TARGET = "rbac-target"
TARGET_RESOURCE = f"dbs/{DATABASE}/colls/{CONTAINER}/docs/{TARGET}"
CONTAINER_RESOURCE = f"dbs/{DATABASE}/colls/{CONTAINER}"


def refusal(principal: Identity, action: str, resource: str) -> str:
    """The 5301 reason as Azure words it (azure-cosmos-dotnet-v3#2891, #3388, #3638)."""
    return (
        f"Request is blocked because principal [{principal.object_id}] does not have required RBAC permissions "
        f"to perform action [{action}] on resource [{resource}]. Learn more: https://aka.ms/cosmos-native-rbac."
    )


def assert_refused(error: CosmosHttpResponseError, principal: Identity, action: str, resource: str) -> None:
    assert (error.status_code, error.sub_status) == (403, 5301)
    assert refusal(principal, action, resource) in str(error.http_error_message)


@contextmanager
def items_as(cosmos: LocalCosmos, identity: Identity, name: str = CONTAINER) -> Iterator[ContainerProxy]:
    with cosmos.client(cosmos.credential(identity)) as client:
        yield client.get_database_client(DATABASE).get_container_client(name)


@pytest.fixture(scope="module")
def target(container: ContainerProxy) -> None:
    """The item the restricted principals try to change, written by the writer."""
    container.upsert_item({"id": TARGET, "book": "rbac", "n": 0})


@pytest.mark.usefixtures("target")
def test_custom_role_allows_exactly_its_actions(cosmos: LocalCosmos) -> None:
    with items_as(cosmos, cosmos.limited) as items:
        created = items.create_item({"id": f"limited-{uuid.uuid4().hex}", "book": "rbac", "n": 1})
        read = items.read_item(TARGET, partition_key="rbac")
        found = list(items.query_items("SELECT c.id FROM c WHERE c.n >= 0", partition_key="rbac"))

    assert created["n"] == 1
    assert read["id"] == TARGET
    assert {TARGET, created["id"]} <= {item["id"] for item in found}


@dataclass(frozen=True)
class Refused:
    operation: Callable[[ContainerProxy], object]
    action: str
    resource: str


REFUSED_TO_LIMITED: dict[str, Refused] = {
    "upsert": Refused(
        lambda c: c.upsert_item({"id": TARGET, "book": "rbac", "n": 9}), item_action("upsert"), CONTAINER_RESOURCE
    ),
    "replace": Refused(
        lambda c: c.replace_item(TARGET, {"id": TARGET, "book": "rbac", "n": 9}),
        item_action("replace"),
        TARGET_RESOURCE,
    ),
    "delete": Refused(lambda c: c.delete_item(TARGET, partition_key="rbac"), item_action("delete"), TARGET_RESOURCE),
    # Microsoft lists no patch action; a patch changes an existing item, as a replace does.
    "patch": Refused(
        lambda c: c.patch_item(
            TARGET, partition_key="rbac", patch_operations=[{"op": "incr", "path": "/n", "value": 9}]
        ),
        item_action("replace"),
        TARGET_RESOURCE,
    ),
    # Reading all items is a ReadFeed, authorized as a change feed read (azure-cosmos-dotnet-v3#2927).
    "read feed": Refused(lambda c: list(c.read_all_items()), READ_CHANGE_FEED, CONTAINER_RESOURCE),
    "change feed": Refused(
        lambda c: list(c.query_items_change_feed(partition_key="rbac")), READ_CHANGE_FEED, CONTAINER_RESOURCE
    ),
}


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("case", REFUSED_TO_LIMITED.values(), ids=REFUSED_TO_LIMITED.keys())
def test_custom_role_refuses_actions_it_lacks_naming_the_action(
    cosmos: LocalCosmos, container: ContainerProxy, case: Refused
) -> None:
    with items_as(cosmos, cosmos.limited) as items, pytest.raises(CosmosHttpResponseError) as caught:
        case.operation(items)

    assert_refused(caught.value, cosmos.limited, case.action, case.resource)
    assert container.read_item(TARGET, partition_key="rbac")["n"] == 0


@pytest.mark.usefixtures("target")
def test_batch_needs_the_action_of_each_operation(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    first, second = f"batch-{uuid.uuid4().hex}", f"batch-{uuid.uuid4().hex}"
    with items_as(cosmos, cosmos.limited) as items:
        allowed = items.execute_item_batch(
            [("create", ({"id": first, "book": "rbac", "n": 1},)), ("read", (TARGET,))], partition_key="rbac"
        )
        with pytest.raises(CosmosHttpResponseError) as caught:
            items.execute_item_batch(
                [
                    ("create", ({"id": second, "book": "rbac", "n": 2},)),
                    ("upsert", ({"id": TARGET, "book": "rbac"},)),
                ],
                partition_key="rbac",
            )

    assert [result["statusCode"] for result in allowed] == [201, 200]
    assert_refused(caught.value, cosmos.limited, item_action("upsert"), CONTAINER_RESOURCE)
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item(second, partition_key="rbac")


@pytest.mark.usefixtures("target")
def test_built_in_data_reader_reads_and_queries_but_cannot_create(cosmos: LocalCosmos) -> None:
    with items_as(cosmos, cosmos.reader) as items:
        read = items.read_item(TARGET, partition_key="rbac")
        queried = list(items.query_items("SELECT * FROM c WHERE c.book = 'rbac'", partition_key="rbac"))
        feed = list(items.read_all_items())
        with pytest.raises(CosmosHttpResponseError) as caught:
            items.create_item({"id": f"reader-{uuid.uuid4().hex}", "book": "rbac"})

    assert read["id"] == TARGET
    assert TARGET in {item["id"] for item in queried} & {item["id"] for item in feed}
    assert_refused(caught.value, cosmos.reader, item_action("create"), CONTAINER_RESOURCE)


def test_role_at_container_scope_does_not_reach_another_container(
    cosmos: LocalCosmos, container: ContainerProxy
) -> None:
    with items_as(cosmos, cosmos.narrow) as items:
        items.upsert_item({"id": "narrow", "book": "b1"})
    with items_as(cosmos, cosmos.narrow, OTHER_CONTAINER) as others, pytest.raises(CosmosHttpResponseError) as caught:
        others.read_item("elsewhere", partition_key="b1")

    assert (caught.value.status_code, caught.value.sub_status) == (403, 5301)
    assert f"on resource [dbs/{DATABASE}/colls/{OTHER_CONTAINER}" in str(caught.value.http_error_message)
    assert container.read_item("narrow", partition_key="b1")["id"] == "narrow"


def test_container_scope_does_not_cover_reading_its_database(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    # As azure-cosmos-dotnet-v3#3638 reports: a container-scoped Data Reader cannot read the database.
    with cosmos.client(cosmos.credential(cosmos.narrow)) as client, pytest.raises(CosmosHttpResponseError) as caught:
        client.get_database_client(DATABASE).read()

    assert_refused(caught.value, cosmos.narrow, READ_METADATA, f"dbs/{DATABASE}")


def test_not_data_actions_subtract_from_the_role(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    with items_as(cosmos, cosmos.no_delete) as items:
        items.upsert_item({"id": "kept", "book": "rbac", "n": 1})
        items.replace_item("kept", {"id": "kept", "book": "rbac", "n": 2})
        with pytest.raises(CosmosHttpResponseError) as caught:
            items.delete_item("kept", partition_key="rbac")

    assert_refused(caught.value, cosmos.no_delete, item_action("delete"), f"{CONTAINER_RESOURCE}/docs/kept")
    assert container.read_item("kept", partition_key="rbac")["n"] == 2


def aad_headers(cosmos: LocalCosmos, identity: Identity, **extra: str) -> dict[str, str]:
    token = cosmos.credential(identity).mint([COSMOS_SCOPE]).token
    return {"authorization": f"type=aad&ver=1.0&sig={token}", **extra}


CONTAINER_PATH = f"/dbs/{DATABASE}/colls/{CONTAINER}"


@dataclass(frozen=True)
class RawCase:
    method: str
    path: str
    substatus: int  # 5301: refused for want of `action`; 5300: control plane only
    action: str = ""
    headers: dict[str, str] = field(default_factory=dict)


RAW_REQUESTS: dict[str, RawCase] = {
    "execute stored procedure": RawCase("POST", f"{CONTAINER_PATH}/sprocs/tally", 5301, EXECUTE_STORED_PROCEDURE),
    "list conflicts": RawCase("GET", f"{CONTAINER_PATH}/conflicts", 5301, MANAGE_CONFLICTS),
    "change feed": RawCase("GET", f"{CONTAINER_PATH}/docs", 5301, READ_CHANGE_FEED, {"a-im": "Incremental feed"}),
    "create stored procedure": RawCase("POST", f"{CONTAINER_PATH}/sprocs", 5300),
    "read user-defined functions": RawCase("GET", f"{CONTAINER_PATH}/udfs", 5300),
    "read throughput": RawCase("GET", "/offers", 5300),
}


@pytest.mark.usefixtures("container")
@pytest.mark.parametrize("case", RAW_REQUESTS.values(), ids=RAW_REQUESTS.keys())
def test_requests_without_an_sdk_helper_need_their_documented_action(cosmos: LocalCosmos, case: RawCase) -> None:
    headers = aad_headers(cosmos, cosmos.limited, **case.headers)
    response = raw_request(cosmos, case.method, case.path, headers=headers, body=b"{}")

    assert (response.status, response.headers["x-ms-substatus"]) == (403, str(case.substatus))
    if case.substatus == 5301:
        assert f"perform action [{case.action}] on resource" in response.body["message"]
    else:
        assert "cannot be authorized by AAD token in data plane" in response.body["message"]


def test_authorizations_name_the_assignment_that_allowed_each_decision(
    cosmos: LocalCosmos, container: ContainerProxy
) -> None:
    cleared = devstack(cosmos, "DELETE", "authorizations").body
    container.read_item("seed", partition_key="b1")
    with items_as(cosmos, cosmos.reader) as items, pytest.raises(CosmosHttpResponseError):
        items.delete_item("seed", partition_key="b1")
    decisions = devstack(cosmos, "GET", "authorizations").body["decisions"]

    assert cleared == {"decisions": []}
    assert {
        "action": item_action("read"),
        "scope": CONTAINER_SCOPE,
        "principalId": cosmos.writer.object_id,
        "allowed": True,
        "role": "Cosmos DB Built-in Data Contributor",
        "source": "test:writer-contributor",
        "count": 1,
    } in decisions
    refused = [d for d in decisions if d["principalId"] == cosmos.reader.object_id and not d["allowed"]]
    assert refused == [
        {
            "action": item_action("delete"),
            "scope": CONTAINER_SCOPE,
            "principalId": cosmos.reader.object_id,
            "allowed": False,
            "role": None,
            "source": None,
            "count": 1,
        }
    ]


# --- which assignments count -----------------------------------------------------------------------


@pytest.mark.usefixtures("fast_account_retries", "container")
def test_assignments_outside_the_account_grant_no_data_access(cosmos: LocalCosmos) -> None:
    """Cosmos DB's RBAC knows only its own sqlRoleAssignments, which live within the account: Data
    Contributor at the resource group (an Azure RBAC assignment) grants nothing here."""
    with pytest.raises(CosmosHttpResponseError) as caught:
        read_seed(cosmos, cosmos.credential(cosmos.elsewhere))

    assert_refused(caught.value, cosmos.elsewhere, READ_METADATA, "/")


def test_authorizer_within_the_account_keeps_its_class_and_drops_outside_assignments() -> None:
    principal = "0f1e2d3c-aaaa-4bbb-8ccc-000000000003"
    inside = Assignment(principal, DATA_READER, CONTAINER_SCOPE, "case:container")
    outside = Assignment(principal, DATA_CONTRIBUTOR, RESOURCE_GROUP_ID, "case:resource-group")

    class Marked(Authorizer):
        pass

    narrowed = Marked([inside, outside]).within(ACCOUNT_ID)

    assert type(narrowed) is Marked
    assert narrowed.assignments == (inside,)
    assert not narrowed.decide(principal, item_action("create"), CONTAINER_SCOPE).allowed
    assert narrowed.decide(principal, item_action("read"), CONTAINER_SCOPE).allowed


# --- dev routes: faults and stats -----------------------------------------------------------------


def test_fault_rule_answers_matching_requests_until_its_count_runs_out(
    cosmos: LocalCosmos, container: ContainerProxy
) -> None:
    before = devstack(cosmos, "GET", "stats").body["faults"]
    rule = {"status": 429, "count": 2, "method": "GET", "resourceType": "docs"}
    try:
        assert devstack(cosmos, "POST", "faults", rule).status == 200
        container.upsert_item({"id": "fault1", "book": "faults"})  # a POST: not matched
        after_write = devstack(cosmos, "GET", "stats").body["faults"]
        item = container.read_item("fault1", partition_key="faults")  # the SDK retries both 429s
        remaining = devstack(cosmos, "GET", "faults").body["fault"]
    finally:
        devstack(cosmos, "DELETE", "faults")

    assert item["id"] == "fault1"
    assert after_write == before
    assert devstack(cosmos, "GET", "stats").body["faults"] == before + 2
    assert remaining is None


def test_fault_without_count_lasts_until_cleared(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    try:
        devstack(cosmos, "POST", "faults", {"status": 503, "count": None, "resourceType": "docs"})
        with pytest.raises(CosmosHttpResponseError) as caught:
            container.read_item("seed", partition_key="b1")
    finally:
        cleared = devstack(cosmos, "DELETE", "faults")

    assert caught.value.status_code == 503
    assert error_code(caught.value) == "ServiceUnavailable"
    assert caught.value.headers["x-ms-retry-after-ms"] == "100"
    assert cleared.body == {"fault": None}
    assert container.read_item("seed", partition_key="b1")["id"] == "seed"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[503]",
        b'{"status": 200}',
        b'{"status": 503, "count": 0}',
        b'{"status": 503, "resource_type": "docs"}',
    ],
    ids=["not json", "not an object", "not an error status", "zero count", "unknown field"],
)
def test_malformed_fault_rule_is_400(cosmos: LocalCosmos, body: bytes) -> None:
    response = raw_request(cosmos, "POST", "/_devstack/faults", body=body)

    assert response.status == 400
    assert response.body["code"] == "BadRequest"
    assert devstack(cosmos, "GET", "faults").body == {"fault": None}


def test_stats_count_requests_by_auth_outcome_and_resource_type(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    devstack(cosmos, "DELETE", "stats")

    raw_request(cosmos, "GET", f"/dbs/{DATABASE}/colls/{CONTAINER}")
    container.read_item("seed", partition_key="b1")
    stats = devstack(cosmos, "GET", "stats").body

    assert stats["auth"] == {"aad": 1, "master": 0, "unauthorized": 1, "forbidden": 0}
    assert stats["resourceTypes"] == {"colls": 1, "docs": 1}
    assert stats["requests"] == 2


def test_point_reads_reuse_one_connection(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    for _ in range(20):
        container.read_item("seed", partition_key="b1")
    connections_before = devstack(cosmos, "GET", "stats").body["connections"]
    for _ in range(200):
        container.read_item("seed", partition_key="b1")
    connections_after = devstack(cosmos, "GET", "stats").body["connections"]

    # The SDK's own connection plus the raw stats request above: nothing per read (no Connection: close).
    assert connections_after - connections_before <= 2


def test_malformed_token_is_401_without_echoing_it(cosmos: LocalCosmos) -> None:
    # A malformed token must be refused without being repeated back.
    garbage = f"not-a-jwt-{uuid.uuid4().hex}"
    response = raw_request(cosmos, "GET", "/dbs", headers={"authorization": f"type=aad&ver=1.0&sig={garbage}"})

    assert response.status == 401
    assert garbage not in json.dumps(response.body)


# --- Azure's limits and errors, in the front end ----------------------------------------------------

TTL_CONTAINER = "expiring"


@pytest.fixture(scope="module")
def expiring(cosmos: LocalCosmos, container: ContainerProxy) -> Iterator[ContainerProxy]:
    """A container with TTL on (defaultTtl set), where an item's ttl is validated; used with a token."""
    with cosmos.client(cosmos.master_key) as admin:
        admin.get_database_client(DATABASE).create_container_if_not_exists(
            TTL_CONTAINER, PartitionKey(path="/book"), default_ttl=3600
        )
    with cosmos.client(cosmos.writer_credential) as client:
        yield client.get_database_client(DATABASE).get_container_client(TTL_CONTAINER)


def item_post(
    cosmos: LocalCosmos, item: dict[str, Any], *, collection: str = CONTAINER, key: Any = "b1"
) -> RawResponse:
    """A create through raw REST, with a token: what reaches the service when no SDK checks the item first."""
    headers = aad_headers(
        cosmos,
        cosmos.writer,
        **{"content-type": "application/json", "x-ms-documentdb-partitionkey": json.dumps([key])},
    )
    body = json.dumps(item).encode()
    return raw_request(cosmos, "POST", f"/dbs/{DATABASE}/colls/{collection}/docs", headers=headers, body=body)


def test_item_over_2_mb_is_413_and_one_just_under_is_stored(container: ContainerProxy) -> None:
    # The limit is on the body as sent (compact JSON, as the SDK writes it): 2 MiB.
    overhead = len(json.dumps({"id": "big", "book": "limits", "fill": ""}, separators=(",", ":")).encode())
    too_big = {"id": "big", "book": "limits", "fill": "x" * (2 * 1024 * 1024 - overhead + 1)}
    fits = {"id": "fits", "book": "limits", "fill": "x" * (2 * 1024 * 1024 - overhead - 8)}

    with pytest.raises(CosmosHttpResponseError) as caught:
        container.create_item(too_big)
    stored = container.create_item(fits)

    assert caught.value.status_code == 413
    assert error_code(caught.value) == "RequestEntityTooLarge"
    assert "Request size is too large" in str(caught.value.http_error_message)
    assert len(stored["fill"]) == len(fits["fill"])
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("big", partition_key="limits")


def test_batch_over_2_mb_is_413(container: ContainerProxy) -> None:
    filler = "x" * (700 * 1024)
    operations: list[tuple[str, tuple[Any, ...]]] = [
        ("create", ({"id": f"part{n}", "book": "limits", "fill": filler},)) for n in range(3)
    ]

    with pytest.raises(CosmosHttpResponseError) as caught:
        container.execute_item_batch(operations, partition_key="limits")

    assert caught.value.status_code == 413
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("part0", partition_key="limits")


def test_id_of_1023_bytes_is_stored_and_of_1024_bytes_is_400(container: ContainerProxy) -> None:
    longest = "é" * 511 + "a"  # 1,023 bytes in UTF-8: the limit is in bytes, not characters
    too_long = "é" * 512

    stored = container.create_item({"id": longest, "book": "limits"})
    with pytest.raises(CosmosHttpResponseError) as caught:
        container.create_item({"id": too_long, "book": "limits"})

    assert stored["id"] == longest
    assert caught.value.status_code == 400
    assert "1023 bytes" in str(caught.value.http_error_message)


@pytest.mark.parametrize("character", ["/", "\\", "?", "#"])
def test_id_with_a_restricted_character_is_400(cosmos: LocalCosmos, container: ContainerProxy, character: str) -> None:
    # The SDK refuses these ids itself; raw REST and a transactional batch reach the service with them.
    raw = item_post(cosmos, {"id": f"a{character}b", "book": "limits"})
    with pytest.raises(CosmosHttpResponseError) as caught:
        container.execute_item_batch(
            [("create", ({"id": f"c{character}d", "book": "limits"},))], partition_key="limits"
        )

    assert (raw.status, raw.body["code"]) == (400, "BadRequest")
    assert caught.value.status_code == 400


def test_partition_key_value_over_2048_bytes_is_400(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    key = "k" * 2049
    refused = item_post(cosmos, {"id": "long-key", "book": key}, key=key)
    accepted = item_post(cosmos, {"id": "long-key", "book": key[:2048]}, key=key[:2048])

    assert refused.status == 400
    assert "2048 bytes" in refused.body["message"]
    assert accepted.status == 201


@pytest.mark.parametrize("ttl", [0, None, -2, -10, 1.5, "60", True, 2_147_483_648], ids=repr)
def test_item_ttl_other_than_minus_1_or_a_positive_integer_is_400_when_ttl_is_on(
    expiring: ContainerProxy, container: ContainerProxy, ttl: object
) -> None:
    with pytest.raises(CosmosHttpResponseError) as caught:
        expiring.create_item({"id": f"ttl-{uuid.uuid4().hex}", "book": "ttl", "ttl": ttl})
    ignored = container.create_item({"id": f"ttl-off-{uuid.uuid4().hex}", "book": "ttl", "ttl": ttl})

    assert caught.value.status_code == 400
    assert "The input ttl" in str(caught.value.http_error_message)
    assert ignored["ttl"] == ttl  # TTL off: the property does not apply, and is stored as it is


@pytest.mark.parametrize("ttl", [-1, 1, 2_147_483_647])
def test_item_ttl_of_minus_1_or_a_positive_integer_is_stored(expiring: ContainerProxy, ttl: int) -> None:
    stored = expiring.create_item({"id": f"ttl-{uuid.uuid4().hex}", "book": "ttl", "ttl": ttl})

    assert stored["ttl"] == ttl


def test_item_request_in_a_missing_container_is_404_1003(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    headers = aad_headers(cosmos, cosmos.writer, **{"x-ms-documentdb-partitionkey": '["b1"]'})
    missing_container = raw_request(cosmos, "GET", f"/dbs/{DATABASE}/colls/nowhere/docs/seed", headers=headers)
    created = item_post(cosmos, {"id": "x", "book": "b1"}, collection="nowhere")
    missing_database = raw_request(cosmos, "GET", "/dbs/nodb/colls/nowhere/docs/seed", headers=headers)
    container_itself = raw_request(cosmos, "GET", f"/dbs/{DATABASE}/colls/nowhere", headers=headers)

    for answer in (missing_container, created, missing_database):
        assert (answer.status, answer.headers.get("x-ms-substatus")) == (404, "1003")
        assert "Owner resource does not exist" in answer.body["message"]
    # Reading the missing container itself is a plain 404: the container is the resource, not its owner.
    assert (container_itself.status, container_itself.headers.get("x-ms-substatus")) == (404, None)


def test_answers_carry_a_request_charge_and_a_session_token_that_advances_with_writes(
    cosmos: LocalCosmos, container: ContainerProxy
) -> None:
    def headers() -> dict[str, str]:
        return dict(container.client_connection.last_response_headers)

    small = container.upsert_item({"id": "charged", "book": "charges", "n": 1})
    write = dict(headers())
    container.read_item("charged", partition_key="charges")
    read = dict(headers())
    container.upsert_item({**small, "fill": "x" * 50_000})
    big_write = dict(headers())
    list(container.query_items("SELECT * FROM c", partition_key="charges"))
    query = dict(headers())

    charge = {
        name: float(h["x-ms-request-charge"])
        for name, h in (("write", write), ("read", read), ("big", big_write), ("query", query))
    }
    lsn = {
        name: int(h["x-ms-session-token"].rsplit("#", 1)[1])
        for name, h in (("write", write), ("read", read), ("big", big_write))
    }
    assert charge["read"] == 1.0  # a point read of a small item: 1 RU, as Microsoft's table says
    assert 5.0 <= charge["write"] < charge["big"]
    assert charge["query"] > charge["read"]
    assert write["x-ms-session-token"].startswith("0:-1#")
    assert lsn["read"] == lsn["write"] < lsn["big"]


def test_throttled_item_requests_get_429_3200_with_retry_after(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    assert cosmos.account is not None
    throttle = cosmos.account.throttle
    headers = aad_headers(cosmos, cosmos.writer, **{"x-ms-documentdb-partitionkey": '["b1"]'})
    throttle.set(True)
    try:
        item = raw_request(cosmos, "GET", f"{CONTAINER_PATH}/docs/seed", headers=headers)
        metadata = raw_request(cosmos, "GET", CONTAINER_PATH, headers=headers)
        refused = raw_request(cosmos, "GET", f"{CONTAINER_PATH}/docs/seed", headers={})
    finally:
        throttle.set(False)

    assert (item.status, item.headers["x-ms-substatus"], item.headers["x-ms-retry-after-ms"]) == (429, "3200", "1000")
    assert item.body["code"] == "TooManyRequests"
    assert "Request rate is large" in item.body["message"]
    assert metadata.status == 200  # a container's RU/s are spent on its items
    assert refused.status == 401  # authentication comes first
    assert container.read_item("seed", partition_key="b1")["id"] == "seed"


def test_sdk_retries_a_throttled_read_after_retry_after_and_gives_up_with_429(
    cosmos: LocalCosmos, container: ContainerProxy
) -> None:
    assert cosmos.account is not None
    throttle = cosmos.account.throttle
    throttle.retry_after_ms = 50
    client = CosmosClient(
        cosmos.url, credential=cosmos.writer_credential, connection_verify=str(cosmos.certs.ca), retry_total=2
    )
    items = client.get_database_client(DATABASE).get_container_client(CONTAINER)
    items.read()  # metadata first: not throttled
    throttle.set(True)
    started = time.monotonic()
    try:
        with pytest.raises(CosmosHttpResponseError) as caught:
            items.read_item("seed", partition_key="b1")
    finally:
        throttle.set(False)
        throttle.retry_after_ms = 1000
    elapsed = time.monotonic() - started

    assert (caught.value.status_code, caught.value.sub_status) == (429, 3200)
    assert 0.1 <= elapsed < 2.0  # two retries, 50 ms apart
    assert items.read_item("seed", partition_key="b1")["id"] == "seed"


async def test_front_end_without_an_account_key_refuses_keys_as_disable_local_auth_does() -> None:
    tenant = Tenant()
    app = create_cosmos_gateway(
        engine="http://127.0.0.1:9",  # never reached: the refusal comes first
        verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {"https://localhost"}),
        authorizer=Authorizer([]),
        account_name="local",
        account_id=ACCOUNT_ID,
    )
    date = formatdate(usegmt=True)
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    async with TestClient(TestServer(app)) as client:
        answer = await client.get(
            "/dbs", headers={"authorization": master_key_authorization(key, "GET", "dbs", "", date), "x-ms-date": date}
        )
        body = await answer.json()

    assert answer.status == 401
    assert body == {
        "code": "Unauthorized",
        "message": "Local Authorization is disabled. Use an AAD token to authorize all requests.",
    }


def test_front_end_adds_little_to_a_point_read(cosmos: LocalCosmos, container: ContainerProxy) -> None:
    """p50 of a point read through the front end (TLS, token, RBAC, limits) against the engine directly
    (plain HTTP, no checks), each on a kept-alive connection. Bounded loosely: the machine is shared."""
    assert cosmos.account is not None
    path = f"{CONTAINER_PATH}/docs/seed"
    engine = http.client.HTTPConnection(urllib.parse.urlsplit(cosmos.account.engine).netloc, timeout=5)
    context = ssl.create_default_context(cafile=str(cosmos.certs.ca))
    front = http.client.HTTPSConnection("localhost", cosmos.port, context=context, timeout=5)
    headers = aad_headers(cosmos, cosmos.writer, **{"x-ms-documentdb-partitionkey": '["b1"]'})

    def p50(connection: http.client.HTTPConnection) -> float:
        timings = []
        for _ in range(300):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            timings.append(time.perf_counter() - started)
            assert answer.status == 200
        return statistics.median(timings[50:])

    try:
        direct, through = p50(engine), p50(front)
    finally:
        engine.close()
        front.close()

    assert through - direct < 0.005, f"front end {through * 1000:.2f} ms, engine {direct * 1000:.2f} ms"
