"""The Blob RBAC gateway, in front of a real Azurite, driven by the real azure-storage-blob SDK.

Every client reaches the account by its Azure name (`https://notesdata.blob.core.windows.net`) through a
`HostProxy`, as the app does in the stack; the gateway serves TLS with the local CA and forwards to an
Azurite started as the stack starts it. Azurite alone accepts every request refused below (it checks no
signature and no RBAC, and takes Shared Key and SAS), so each refusal pinned here is the gateway's. Tests
that expect success read the gateway's decisions too, so they fail if it is bypassed; the pass-through
tests (streaming, Azurite's own errors) pin instead that the gateway changes nothing on the way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
import re
import secrets
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob import BlobServiceClient as SyncBlobServiceClient
from azure.storage.blob.aio import BlobServiceClient
from devstack.blob_gateway import DECISIONS_PATH, create_blob_gateway, storage_audiences
from devstack.blob_gateway.errors import AUTHENTICATE_MESSAGE
from devstack.blob_gateway.operations import (
    ADD,
    CONTAINER_READ,
    CONTAINER_WRITE,
    READ,
    SET_ACL,
    WRITE,
    Operation,
    Target,
    container_scope,
    parse_target,
    resolve,
)
from devstack.certs import CertPaths, ensure_certificates
from devstack.children import Child, free_port
from devstack.host_proxy import HostProxy
from devstack.launchers import LOOPBACK, start_data_azurite
from devstack.testing import AsyncStaticTokenCredential, StaticTokenCredential
from devstack.tokens import Identity, Tenant, TokenVerifier
from infra_model.authorization import Assignment, Authorizer
from infra_model.roles import RoleDefinition, built_in_role

ACCOUNT = "notesdata"
HOST = f"{ACCOUNT}.blob.core.windows.net"
ENDPOINT = f"https://{HOST}"
ACCOUNT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/devstack"
    f"/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
)
GRANTED, OTHER = "granted", "other"
STORAGE = "https://storage.azure.com"
VERSION = "2025-01-05"  # any version from 2019-12-12 on gets the bearer challenge
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"

CONTRIBUTOR = built_in_role("ba92f5b4-2d11-453d-a403-e96b0029c9fe")  # Storage Blob Data Contributor
READER = built_in_role("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")  # Storage Blob Data Reader
# A custom role that may create blobs and read them, never replace one.
CREATE_ONLY = RoleDefinition(id="create-only", name="Create-only writer", data_actions=(ADD.action, READ.action))


@dataclass(frozen=True)
class People:
    contributor: Identity = field(default_factory=lambda: Identity.new("user"))  # on GRANTED only
    reader: Identity = field(default_factory=lambda: Identity.new("user"))  # on GRANTED only
    account_contributor: Identity = field(default_factory=lambda: Identity.new("user"))  # on the account
    creator: Identity = field(default_factory=lambda: Identity.new("user"))  # CREATE_ONLY on GRANTED
    outsider: Identity = field(default_factory=lambda: Identity.new("user"))  # a valid token, no assignment

    def assignments(self) -> list[Assignment]:
        granted = container_scope(ACCOUNT_ID, GRANTED)
        return [
            Assignment(self.contributor.object_id, CONTRIBUTOR, granted, "test:contributor-on-granted"),
            Assignment(self.reader.object_id, READER, granted, "test:reader-on-granted"),
            Assignment(self.account_contributor.object_id, CONTRIBUTOR, ACCOUNT_ID, "test:contributor-on-account"),
            Assignment(self.creator.object_id, CREATE_ONLY, granted, "test:creator-on-granted"),
        ]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: str


@dataclass
class Gateway:
    tenant: Tenant
    people: People
    certs: CertPaths
    account_key: str
    azurite_url: str  # https://127.0.0.1:<port>/<account>: the keyed, path-style way in that infra uses
    proxy: str  # joins HOST to the gateway
    direct_proxy: str  # joins HOST to Azurite itself
    admin_url: str  # https://127.0.0.1:<gateway port>
    http: aiohttp.ClientSession

    def token(self, who: Identity, audience: str = STORAGE, **mint: Any) -> str:
        return self.tenant.mint(who, audience, **mint)[0]

    def client(self, who: Identity | str, *, proxy: str | None = None) -> BlobServiceClient:
        """An aio client with a token for `who` (or this very token), by the Azure host name."""
        token = who if isinstance(who, str) else self.token(who)
        return BlobServiceClient(
            ENDPOINT,
            credential=AsyncStaticTokenCredential(token),
            connection_verify=str(self.certs.ca),
            proxies={"https": proxy or self.proxy},
            retry_total=0,
        )

    def keyed_client(self, *, through_gateway: bool) -> BlobServiceClient:
        credential = {"account_name": ACCOUNT, "account_key": self.account_key}
        if through_gateway:
            return BlobServiceClient(
                ENDPOINT, credential=credential, connection_verify=str(self.certs.ca), proxies={"https": self.proxy}
            )
        return BlobServiceClient(self.azurite_url, credential=credential, connection_verify=str(self.certs.ca))

    async def seed(self, container: str, name: str, data: bytes) -> None:
        async with self.keyed_client(through_gateway=False) as service:
            await service.get_blob_client(container, name).upload_blob(data, overwrite=True)

    async def exists(self, container: str, name: str) -> bool:
        async with self.keyed_client(through_gateway=False) as service:
            return bool(await service.get_blob_client(container, name).exists())

    async def send(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, data: bytes = b""
    ) -> Reply:
        """One raw request to the account by its Azure name, through the gateway."""
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        async with self.http.request(
            method, ENDPOINT + path, headers=dict(headers or {}), data=data, proxy=self.proxy, ssl=context
        ) as response:
            return Reply(response.status, response.headers, await response.text())

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "x-ms-version": VERSION}

    async def decisions(self) -> list[dict[str, Any]]:
        async with self.http.get(self.admin_url + DECISIONS_PATH, ssl=self.admin_tls()) as response:
            assert response.status == 200
            document = await response.json()
        return list(document["decisions"])

    async def clear_decisions(self) -> None:
        async with self.http.delete(self.admin_url + DECISIONS_PATH, ssl=self.admin_tls()) as response:
            assert response.status == 204

    def admin_tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certs.ca))


async def _serve_tls(app: web.Application, certs: CertPaths) -> tuple[web.AppRunner, int]:
    """As the stack serves its in-process services: the local CA's server certificate, loopback only."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=context)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])


async def _start_azurite(folder: Path, certs: CertPaths, key: str) -> tuple[Child, int]:
    child = await start_data_azurite(0, account=ACCOUNT, key=key, certs=certs, log_dir=folder)
    port = child.ports[0]  # bound by Azurite itself, so no other process can take it first
    credential = {"account_name": ACCOUNT, "account_key": key}
    # What Bicep creates in Azure, with the key only infra holds.
    async with BlobServiceClient(
        f"https://{LOOPBACK}:{port}/{ACCOUNT}", credential=credential, connection_verify=str(certs.ca)
    ) as service:
        for name in (GRANTED, OTHER):
            await service.create_container(name)
    return child, port


async def _proxy(target_port: int, stack: contextlib.AsyncExitStack) -> str:
    proxy = HostProxy({f"{HOST}:443": (LOOPBACK, target_port)})
    port = await proxy.start(LOOPBACK)
    stack.push_async_callback(proxy.close)
    return f"http://{LOOPBACK}:{port}"


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    folder = tmp_path_factory.mktemp("blob-gateway")
    certs = ensure_certificates(folder / "certs")
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    tenant, people = Tenant(), People()
    async with contextlib.AsyncExitStack() as stack:
        azurite, azurite_port = await _start_azurite(folder, certs, key)
        stack.push_async_callback(azurite.stop)
        app = create_blob_gateway(
            upstream=f"https://{LOOPBACK}:{azurite_port}",
            upstream_ca=certs.ca,
            verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, storage_audiences(ACCOUNT)),
            authorizer=Authorizer(people.assignments()),
            account_name=ACCOUNT,
            account_id=ACCOUNT_ID,
            tenant_id=tenant.tenant_id,
        )
        runner, gateway_port = await _serve_tls(app, certs)
        stack.push_async_callback(runner.cleanup)
        http = await stack.enter_async_context(aiohttp.ClientSession(trust_env=False))
        yield Gateway(
            tenant=tenant,
            people=people,
            certs=certs,
            account_key=key,
            azurite_url=f"https://{LOOPBACK}:{azurite_port}/{ACCOUNT}",
            proxy=await _proxy(gateway_port, stack),
            direct_proxy=await _proxy(azurite_port, stack),
            admin_url=f"https://{LOOPBACK}:{gateway_port}",
            http=http,
        )


def _error_code(error: HttpResponseError) -> str | None:
    code = getattr(error, "error_code", None)  # set by azure-storage-blob, not declared by azure-core
    return None if code is None else str(code)


# --- allowed: the role's scope and actions, end to end


async def test_contributor_on_the_container_uploads_and_downloads(gateway: Gateway) -> None:
    await gateway.clear_decisions()
    async with gateway.client(gateway.people.contributor) as service:
        blob = service.get_blob_client(GRANTED, "contributor/one.json")
        await blob.upload_blob(b'{"n": 1}', overwrite=False)
        downloaded = await (await blob.download_blob()).readall()
        properties = await blob.get_blob_properties()
    assert downloaded == b'{"n": 1}'
    assert properties.size == 8  # Content-Length survives a HEAD through the gateway
    allowed = {(d["action"], d["source"]) for d in await gateway.decisions() if d["allowed"]}
    assert (WRITE.action, "test:contributor-on-granted") in allowed
    assert (READ.action, "test:contributor-on-granted") in allowed


async def test_the_sync_client_works_through_the_gateway(gateway: Gateway) -> None:
    token = gateway.token(gateway.people.reader)

    def list_then_write() -> tuple[list[str], HttpResponseError]:
        with SyncBlobServiceClient(
            ENDPOINT,
            credential=StaticTokenCredential(token),
            connection_verify=str(gateway.certs.ca),
            proxies={"https": gateway.proxy},
            retry_total=0,
        ) as service:
            names = [blob.name for blob in service.get_container_client(GRANTED).list_blobs()]
            with pytest.raises(HttpResponseError) as refused:
                service.get_blob_client(GRANTED, "sync/refused.txt").upload_blob(b"x")
        return names, refused.value

    # The gateway runs on this event loop, so the blocking client runs on a thread.
    names, refused = await asyncio.to_thread(list_then_write)
    assert "contributor/one.json" in names
    assert refused.status_code == 403
    assert _error_code(refused) == "AuthorizationPermissionMismatch"


async def test_an_assignment_at_the_account_covers_every_container(gateway: Gateway) -> None:
    await gateway.clear_decisions()
    async with gateway.client(gateway.people.account_contributor) as service:
        for container in (GRANTED, OTHER):
            await service.get_blob_client(container, "account-wide.txt").upload_blob(b"x", overwrite=True)
        listed = [container.name async for container in service.list_containers()]
    assert {GRANTED, OTHER} <= set(listed)
    assert await gateway.exists(OTHER, "account-wide.txt")
    granted_by = {(d["scope"], d["source"]) for d in await gateway.decisions() if d["allowed"]}
    assert granted_by >= {
        (container_scope(ACCOUNT_ID, GRANTED), "test:contributor-on-account"),
        (container_scope(ACCOUNT_ID, OTHER), "test:contributor-on-account"),
        (ACCOUNT_ID, "test:contributor-on-account"),  # List Containers
    }


async def test_container_operations_are_checked_against_control_plane_actions(gateway: Gateway) -> None:
    async with gateway.client(gateway.people.reader) as service:
        container = service.get_container_client(GRANTED)
        assert (await container.get_container_properties()).name == GRANTED  # containers/read: a Reader action
        with pytest.raises(HttpResponseError) as refused:
            await container.set_container_metadata({"owner": "reader"})  # containers/write: not a Reader action
    assert _error_code(refused.value) == "AuthorizationPermissionMismatch"


async def test_add_action_creates_a_blob_but_cannot_replace_one(gateway: Gateway) -> None:
    async with gateway.client(gateway.people.creator) as service:
        blob = service.get_blob_client(GRANTED, "creator/once.txt")
        await blob.upload_blob(b"first")
        with pytest.raises(HttpResponseError) as refused:
            await blob.upload_blob(b"second", overwrite=True)
        # Without overwrite (If-None-Match: *) the answer is the same: the write is refused before it is tried.
        with pytest.raises(HttpResponseError) as refused_again:
            await blob.upload_blob(b"second", overwrite=False)
        missing = service.get_blob_client(GRANTED, "creator/never.txt")
        with pytest.raises(HttpResponseError) as no_role:  # a write the creator's role does not grant at all
            await missing.set_blob_metadata({"a": "b"})
    # Azure's answer to a caller that may create but not write (errors.unauthorized_blob_overwrite).
    assert refused.value.status_code == 403
    # error_code is azure-storage-blob's StorageErrorCode, a str enum: compare it as a string.
    codes = [getattr(e.value, "error_code", None) for e in (refused, refused_again, no_role)]
    assert codes == ["UnauthorizedBlobOverwrite", "UnauthorizedBlobOverwrite", "AuthorizationPermissionMismatch"]
    async with gateway.keyed_client(through_gateway=False) as keyed:
        content = await (await keyed.get_blob_client(GRANTED, "creator/once.txt").download_blob()).readall()
    assert content == b"first"


async def test_large_bodies_stream_through_in_blocks_and_ranges(gateway: Gateway) -> None:
    await gateway.clear_decisions()
    data = secrets.token_bytes(300 * 1024)
    async with BlobServiceClient(
        ENDPOINT,
        credential=AsyncStaticTokenCredential(gateway.token(gateway.people.contributor)),
        connection_verify=str(gateway.certs.ca),
        proxies={"https": gateway.proxy},
        retry_total=0,
        max_single_put_size=64 * 1024,  # forces Put Block + Put Block List
        max_block_size=64 * 1024,
        max_single_get_size=64 * 1024,  # forces ranged Get Blob
        max_chunk_get_size=64 * 1024,
    ) as service:
        blob = service.get_blob_client(GRANTED, "contributor/large.bin")
        await blob.upload_blob(data, overwrite=True)
        downloaded = await (await blob.download_blob()).readall()
    assert downloaded == data
    single = secrets.token_bytes(3 * 1024 * 1024)  # one Put Blob, beyond aiohttp's default 1 MiB body limit
    async with gateway.client(gateway.people.contributor) as service:
        blob = service.get_blob_client(GRANTED, "contributor/ä b+c.bin")  # quoted names pass as sent
        await blob.upload_blob(single, overwrite=True)
        assert await (await blob.download_blob()).readall() == single
    operations = {d["operation"] for d in await gateway.decisions() if d["allowed"]}
    assert {"Put Block", "Put Block List", "Get Blob"} <= operations


async def test_azurites_own_answers_come_back_unchanged(gateway: Gateway) -> None:
    async with gateway.client(gateway.people.contributor) as service:
        blob = service.get_blob_client(GRANTED, "contributor/create-only.txt")
        with pytest.raises(ResourceNotFoundError):
            await blob.get_blob_properties()
        await blob.upload_blob(b"once", overwrite=False)
        with pytest.raises(ResourceExistsError) as again:  # If-None-Match: *, as the app's archive writes
            await blob.upload_blob(b"twice", overwrite=False)
    assert _error_code(again.value) == "BlobAlreadyExists"


# --- refused: RBAC


async def test_reader_cannot_write(gateway: Gateway) -> None:
    async with gateway.client(gateway.people.reader) as service:
        with pytest.raises(HttpResponseError) as refused:
            await service.get_blob_client(GRANTED, "reader/nope.txt").upload_blob(b"x")
    assert refused.value.status_code == 403
    assert _error_code(refused.value) == "AuthorizationPermissionMismatch"
    assert not await gateway.exists(GRANTED, "reader/nope.txt")


async def test_a_role_on_one_container_grants_nothing_on_another(gateway: Gateway) -> None:
    await gateway.seed(OTHER, "elsewhere.txt", b"not yours")
    async with gateway.client(gateway.people.contributor) as service:
        with pytest.raises(HttpResponseError) as write:
            await service.get_blob_client(OTHER, "contributor/nope.txt").upload_blob(b"x")
        with pytest.raises(HttpResponseError) as read:
            await service.get_blob_client(OTHER, "elsewhere.txt").download_blob()
        with pytest.raises(HttpResponseError) as head:  # no body on a HEAD: the code is in x-ms-error-code
            await service.get_blob_client(OTHER, "elsewhere.txt").get_blob_properties()
        with pytest.raises(HttpResponseError) as listing:
            [container async for container in service.list_containers()]  # needs the account scope
    for refused in (write, read, head, listing):
        assert _error_code(refused.value) == "AuthorizationPermissionMismatch"
    assert not await gateway.exists(OTHER, "contributor/nope.txt")


async def test_a_principal_without_assignment_is_refused(gateway: Gateway) -> None:
    await gateway.seed(GRANTED, "public-looking.txt", b"x")
    async with gateway.client(gateway.people.outsider) as service:
        with pytest.raises(HttpResponseError) as read:
            await service.get_blob_client(GRANTED, "public-looking.txt").download_blob()
        with pytest.raises(HttpResponseError) as write:
            await service.get_blob_client(GRANTED, "outsider.txt").upload_blob(b"x")
    assert _error_code(read.value) == _error_code(write.value) == "AuthorizationPermissionMismatch"


async def test_the_refusal_is_azures_xml_error(gateway: Gateway) -> None:
    headers = {**gateway.bearer(gateway.token(gateway.people.reader)), "x-ms-client-request-id": "client-42"}
    reply = await gateway.send(
        "PUT", f"/{GRANTED}/shape.txt", headers={**headers, "x-ms-blob-type": "BlockBlob"}, data=b"x"
    )
    assert reply.status == 403
    assert reply.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    assert reply.headers["Content-Type"] == "application/xml"
    assert reply.headers["Server"] == "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"
    assert reply.headers["x-ms-version"] == VERSION
    assert reply.headers["x-ms-client-request-id"] == "client-42"
    request_id = reply.headers["x-ms-request-id"]
    assert re.fullmatch(
        r'<\?xml version="1.0" encoding="utf-8"\?><Error><Code>AuthorizationPermissionMismatch</Code>'
        r"<Message>This request is not authorized to perform this operation using this permission.\n"
        rf"RequestId:{request_id}\nTime:\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{7}}Z</Message></Error>",
        reply.body,
    )


# --- refused: authentication


async def test_a_token_with_a_bad_signature_is_refused(gateway: Gateway) -> None:
    impostor = Tenant(tenant_id=gateway.tenant.tenant_id)  # same issuer, another key
    forged = impostor.mint(gateway.people.account_contributor, STORAGE)[0]
    async with gateway.client(forged) as service:
        with pytest.raises(ClientAuthenticationError) as refused:
            await service.get_blob_client(GRANTED, "forged.txt").upload_blob(b"x")
    assert refused.value.status_code == 401
    assert _error_code(refused.value) == "InvalidAuthenticationInfo"
    assert not await gateway.exists(GRANTED, "forged.txt")


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("bad signature", "Signature validation failed. Signature is invalid."),
        ("expired", "Lifetime validation failed. The token is expired."),
        ("wrong audience", "Audience validation failed. Audience did not match."),
        ("wrong issuer", "Issuer validation failed. Issuer did not match."),
    ],
)
async def test_a_refused_token_gets_the_challenge_and_the_reason(gateway: Gateway, case: str, detail: str) -> None:
    who = gateway.people.account_contributor
    tokens = {
        "bad signature": lambda: Tenant(tenant_id=gateway.tenant.tenant_id).mint(who, STORAGE)[0],
        "expired": lambda: gateway.token(who, now=0, lifetime=3600),
        "wrong audience": lambda: gateway.token(who, "https://vault.azure.net"),
        "wrong issuer": lambda: gateway.token(who, overrides={"iss": "https://sts.windows.net/another-tenant/"}),
    }
    reply = await gateway.send("GET", f"/{GRANTED}?restype=container", headers=gateway.bearer(tokens[case]()))
    assert reply.status == 401
    assert reply.headers["x-ms-error-code"] == "InvalidAuthenticationInfo"
    assert reply.headers["WWW-Authenticate"] == (
        f"Bearer authorization_uri=https://login.microsoftonline.com/{gateway.tenant.tenant_id}/oauth2/authorize "
        "resource_id=https://storage.azure.com"
    )
    assert reply.headers["Server"] == "Microsoft-HTTPAPI/2.0"
    assert f"<Message>{AUTHENTICATE_MESSAGE}\nRequestId:" in reply.body
    assert f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail>" in reply.body


async def test_shared_key_is_refused(gateway: Gateway) -> None:
    async with gateway.keyed_client(through_gateway=True) as service:
        with pytest.raises(HttpResponseError) as refused:
            await service.get_blob_client(GRANTED, "keyed.txt").upload_blob(b"x")
    assert refused.value.status_code == 403
    assert _error_code(refused.value) == "KeyBasedAuthenticationNotPermitted"
    assert not await gateway.exists(GRANTED, "keyed.txt")


async def test_a_key_signed_sas_is_refused(gateway: Gateway) -> None:
    await gateway.seed(GRANTED, "shared.txt", b"x")
    sas = generate_blob_sas(
        ACCOUNT,
        GRANTED,
        "shared.txt",
        account_key=gateway.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    reply = await gateway.send("GET", f"/{GRANTED}/shared.txt?{sas}", headers={"x-ms-version": VERSION})
    assert reply.status == 403
    assert reply.headers["x-ms-error-code"] == "KeyBasedAuthenticationNotPermitted"
    assert "Key based authentication is not permitted on this storage account." in reply.body


async def test_an_anonymous_request_gets_the_bearer_challenge(gateway: Gateway) -> None:
    await gateway.seed(GRANTED, "anonymous.txt", b"x")
    reply = await gateway.send("GET", f"/{GRANTED}/anonymous.txt", headers={"x-ms-version": VERSION})
    assert reply.status == 401
    assert reply.headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert f"/{gateway.tenant.tenant_id}/oauth2/authorize" in reply.headers["WWW-Authenticate"]
    # Before the bearer challenge existed (x-ms-version < 2019-12-12, or none, as from a browser).
    old = await gateway.send("GET", f"/{GRANTED}/anonymous.txt")
    assert old.status == 409
    assert old.headers["x-ms-error-code"] == "PublicAccessNotPermitted"


async def test_authentication_comes_before_routing(gateway: Gateway) -> None:
    anonymous = await gateway.send("GET", "/?comp=no-such-operation", headers={"x-ms-version": VERSION})
    signed_in = await gateway.send(
        "GET", "/?comp=no-such-operation", headers=gateway.bearer(gateway.token(gateway.people.account_contributor))
    )
    assert anonymous.status == 401
    assert signed_in.status == 400  # refused, not forwarded: no rule says what it would need
    assert signed_in.headers["x-ms-error-code"] == "InvalidQueryParameterValue"


async def test_an_unreachable_azurite_is_an_internal_error(gateway: Gateway) -> None:
    app = create_blob_gateway(
        upstream=f"https://{LOOPBACK}:{free_port()}",  # nothing listens there
        upstream_ca=gateway.certs.ca,
        verifier=TokenVerifier(gateway.tenant.public_key_pem(), gateway.tenant.issuer, storage_audiences(ACCOUNT)),
        authorizer=Authorizer(gateway.people.assignments()),
        account_name=ACCOUNT,
        account_id=ACCOUNT_ID,
        tenant_id=gateway.tenant.tenant_id,
    )
    runner, port = await _serve_tls(app, gateway.certs)
    try:
        url = f"https://{LOOPBACK}:{port}/{ACCOUNT}/{GRANTED}/x.txt"  # path-style addressing works too
        headers = gateway.bearer(gateway.token(gateway.people.contributor))
        async with gateway.http.get(url, headers=headers, ssl=gateway.admin_tls()) as response:
            assert response.status == 500
            assert response.headers["x-ms-error-code"] == "InternalError"
    finally:
        await runner.cleanup()


# --- what tests can see


async def test_decisions_name_the_assignment_and_can_be_cleared(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await gateway.seed(GRANTED, "decided.txt", b"x")
    await gateway.clear_decisions()
    allowed, refused = gateway.token(gateway.people.contributor), gateway.token(gateway.people.outsider)
    async with gateway.client(allowed) as service:
        await (await service.get_blob_client(GRANTED, "decided.txt").download_blob()).readall()
        await (await service.get_blob_client(GRANTED, "decided.txt").download_blob()).readall()
    async with gateway.client(refused) as service:
        with pytest.raises(HttpResponseError):
            await service.get_blob_client(GRANTED, "decided.txt").download_blob()
    decisions = await gateway.decisions()
    assert {
        "operation": "Get Blob",
        "allowed": True,
        "action": READ.action,
        "scope": container_scope(ACCOUNT_ID, GRANTED),
        "principalId": gateway.people.contributor.object_id,
        "role": "Storage Blob Data Contributor",
        "source": "test:contributor-on-granted",
        "count": 2,
    } in decisions
    assert any(not d["allowed"] and d["principalId"] == gateway.people.outsider.object_id for d in decisions)
    for token in (allowed, refused):
        assert token not in str(decisions)
        assert token not in caplog.text
    await gateway.clear_decisions()
    assert await gateway.decisions() == []


async def test_decisions_answer_loopback_callers_only(gateway: Gateway) -> None:
    app = create_blob_gateway(
        upstream=f"https://{LOOPBACK}:1",
        upstream_ca=gateway.certs.ca,
        verifier=TokenVerifier(gateway.tenant.public_key_pem(), gateway.tenant.issuer, storage_audiences(ACCOUNT)),
        authorizer=Authorizer(()),
        account_name=ACCOUNT,
        account_id=ACCOUNT_ID,
        tenant_id=gateway.tenant.tenant_id,
    )
    for method in ("GET", "DELETE"):
        transport = mock.Mock(**{"get_extra_info.return_value": ("192.0.2.7", 50000)})
        request = make_mocked_request(method, DECISIONS_PATH, app=app, transport=transport)
        match = await app.router.resolve(request)
        with pytest.raises(web.HTTPForbidden):
            await match.handler(request)


# --- the operation table, without a server


def _operation(
    method: str, path: str, query: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> Operation:
    return resolve(
        method,
        parse_target(HOST, path, ACCOUNT),
        query or {},
        headers or {},
        account_id=ACCOUNT_ID,
        account_name=ACCOUNT,
    )


def _actions(operation: Operation) -> list[tuple[str, ...]]:
    return [tuple(p.action for p in requirement.any_of) for requirement in operation.requirements]


GRANTED_SCOPE = container_scope(ACCOUNT_ID, GRANTED)
WRITE_C = CONTAINER_WRITE.action


@pytest.mark.parametrize(
    ("method", "path", "query", "name", "actions"),
    [
        ("GET", "/granted/a/b.json", {}, "Get Blob", [(READ.action,)]),
        ("HEAD", "/granted/a/b.json", {}, "Get Blob Properties", [(READ.action,)]),
        ("PUT", "/granted/b", {}, "Put Blob", [(WRITE.action, ADD.action)]),
        ("PUT", "/granted/b", {"comp": "block", "blockid": "AA"}, "Put Block", [(WRITE.action,)]),
        ("PUT", "/granted/b", {"comp": "blocklist"}, "Put Block List", [(WRITE.action,)]),
        ("GET", "/granted/b", {"comp": "blocklist"}, "Get Block List", [(READ.action,)]),
        ("PUT", "/granted/b", {"comp": "metadata"}, "Set Blob Metadata", [(WRITE.action,)]),
        ("PUT", "/granted/b", {"comp": "properties"}, "Set Blob Properties", [(WRITE.action,)]),
        ("DELETE", "/granted/b", {}, "Delete Blob", [(f"{_BLOBS}/delete",)]),
        ("GET", "/granted/b", {"comp": "tags"}, "Get Blob Tags", [(f"{_BLOBS}/tags/read",)]),
        ("PUT", "/granted/b", {"comp": "tags"}, "Set Blob Tags", [(f"{_BLOBS}/tags/write",)]),
        ("GET", "/granted", {"restype": "container", "comp": "list"}, "List Blobs", [(READ.action,)]),
        ("PUT", "/granted", {"restype": "container"}, "Create Container", [(WRITE_C,)]),
        ("GET", "/granted", {"restype": "container"}, "Get Container Properties", [(CONTAINER_READ.action,)]),
        ("PUT", "/granted", {"restype": "container", "comp": "acl"}, "Set Container ACL", [(SET_ACL.action,)]),
        ("PUT", "/granted", {"restype": "container", "comp": "metadata"}, "Set Container Metadata", [(WRITE_C,)]),
    ],
)
def test_operations_map_to_the_documented_permission_at_the_container(
    method: str, path: str, query: dict[str, str], name: str, actions: list[tuple[str, ...]]
) -> None:
    operation = _operation(method, path, query)
    assert (operation.name, _actions(operation)) == (name, actions)
    assert [requirement.scope for requirement in operation.requirements] == [GRANTED_SCOPE]


def test_put_blob_creates_with_add_action_only_when_new() -> None:
    (requirement,) = _operation("PUT", "/granted/b").requirements
    assert [(p.action, p.new_blob_only) for p in requirement.any_of] == [(WRITE.action, False), (ADD.action, True)]


def test_account_operations_are_checked_at_the_account() -> None:
    listing = _operation("GET", "/", {"comp": "list"})
    key = _operation("POST", "/", {"restype": "service", "comp": "userdelegationkey"})
    assert listing.requirements[0].scope == key.requirements[0].scope == ACCOUNT_ID
    assert _actions(key) == [("Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",)]
    assert not key.requirements[0].any_of[0].data_action


def test_a_copy_in_the_account_also_reads_its_source() -> None:
    source = {"x-ms-copy-source": f"{ENDPOINT}/other/source.txt"}
    copy = _operation("PUT", "/granted/copy.txt", headers=source)
    assert copy.name == "Copy Blob"
    assert [r.scope for r in copy.requirements] == [GRANTED_SCOPE, container_scope(ACCOUNT_ID, OTHER)]
    assert _actions(copy)[1] == (READ.action,)
    foreign = _operation(
        "PUT", "/granted/copy.txt", headers={"x-ms-copy-source": "https://elsewhere.blob.core.windows.net/c/b"}
    )
    assert len(foreign.requirements) == 1


def test_targets_by_host_name_and_by_path() -> None:
    assert parse_target(HOST, "/granted/a%2Fb/c.txt", ACCOUNT) == Target(GRANTED, "a/b/c.txt")
    assert parse_target(f"{LOOPBACK}:10000", f"/{ACCOUNT}/granted/c.txt", ACCOUNT) == Target(GRANTED, "c.txt")
    assert _operation("GET", "/loose.txt").requirements[0].scope == container_scope(ACCOUNT_ID, "$root")
    with pytest.raises(Exception, match="InvalidUri"):
        parse_target("another.blob.core.windows.net", "/granted/c.txt", ACCOUNT)


def test_an_unknown_operation_is_refused_not_forwarded() -> None:
    with pytest.raises(Exception, match="InvalidQueryParameterValue"):
        _operation("GET", "/granted/b", {"comp": "no-such-operation"})
    with pytest.raises(Exception, match="UnsupportedHttpVerb"):
        _operation("POST", "/granted/b", {"comp": "tags"})
    assert _operation("OPTIONS", "/granted/b").anonymous
