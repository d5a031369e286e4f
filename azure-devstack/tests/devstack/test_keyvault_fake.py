"""The Key Vault fake, pinned twice: by raw HTTP against the REST contract, and by the real SecretClient.

Every test serves a fresh vault over real HTTPS on 127.0.0.1 (a free port) with the local CA. The SDK
tests pass `verify_challenge_resource=False` because they reach the vault by IP; the app itself goes
through the vault proxy by its Azure-shaped name and keeps the check on. Microsoft's own SDK test
suite runs against the whole stack in tests/conformance/.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import itertools
import json
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient
from devstack.certs import CertPaths, ensure_certificates
from devstack.identities import LocalIdentities
from devstack.keyvault import (
    GET_DELETED_SECRET,
    GET_DELETED_SECRETS,
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    OPERATIONS,
    DeletionPolicy,
    SeedSecret,
    create_keyvault_app,
    load_seed,
)
from devstack.keyvault import operations as vault_operations
from devstack.keyvault.rbac import REQUIREMENTS
from devstack.local_deployment import deploy
from devstack.tokens import Identity, Tenant, TokenVerifier
from infra_model.authorization import Assignment, Authorizer, permits
from infra_model.roles import built_in_role

VAULT_RESOURCE = "https://vault.azure.net"
API_VERSION = "7.6"
MINIMAL_INFRA = Path(__file__).resolve().parents[1] / "minimal_app" / "infra"
SEEDED = "greeting"
VERSION_ID = re.compile(r"[0-9a-f]{32}")
DAY = 24 * 3600
# infra/'s vault: 7 days' retention and purge protection (key-vault.bicep), as the stack serves it.
PROTECTED = DeletionPolicy(retention_days=7, purge_protection=True)
NEW_VAULT = DeletionPolicy()  # a vault made without the properties: 90 days, no purge protection
MISSING_TOKEN = "AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."
# Mixed case, as ARM ids are written: Key Vault's 403 prints it lower-cased.
VAULT_ID = (
    "/subscriptions/6f1f7a52-0c55-4b1e-9d0e-3c2b1a000001/resourceGroups/rg-Inbox"
    "/providers/Microsoft.KeyVault/vaults/notes-local"
)
SECRETS_USER = built_in_role("4633458b-17de-408a-b874-0445c86b69e6")
SECRETS_OFFICER = built_in_role("b86a8fe4-44ce-4948-aee5-eccb2c155cd7")
SCOPED_SECRET = "api-key-tolkien"


@dataclass(frozen=True)
class People:
    reader: Identity = field(default_factory=lambda: Identity.new("user"))
    officer: Identity = field(default_factory=lambda: Identity.new("user"))
    scoped: Identity = field(default_factory=lambda: Identity.new("user"))  # Secrets User on one secret only
    outsider: Identity = field(default_factory=lambda: Identity.new("user"))  # a valid token, no role

    def authorizer(self) -> Authorizer:
        return Authorizer(
            [
                Assignment(self.reader.object_id, SECRETS_USER, VAULT_ID, "test:reader"),
                Assignment(self.officer.object_id, SECRETS_OFFICER, VAULT_ID, "test:officer"),
                Assignment(self.scoped.object_id, SECRETS_USER, f"{VAULT_ID}/secrets/{SCOPED_SECRET}", "test:scoped"),
            ]
        )


def resource_line(scope: str) -> str:
    """The Resource line of Key Vault's 403: the scope checked, as a lower-cased ARM id."""
    return f"Resource: '{scope.lower()}'\r\n"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.body["error"]
        return error


@dataclass
class Vault:
    url: str
    tenant: Tenant
    people: People
    ca: Path
    http: aiohttp.ClientSession

    def token(self, who: Identity, audience: str = VAULT_RESOURCE, **mint: Any) -> str:
        return self.tenant.mint(who, audience, **mint)[0]

    async def send(
        self,
        method: str,
        target: str,
        *,
        token: str | None = None,
        body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request; `target` is a path (the vault's origin is added) or an absolute link."""
        url = target if target.startswith("https://") else self.url + target
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        async with self.http.request(method, url, data=data, headers=sent) as response:
            text = await response.text()
            parsed = json.loads(text) if text else None
            return Reply(response.status, response.headers, parsed)

    async def as_officer(self, method: str, target: str, body: object = None) -> Reply:
        return await self.send(method, target, token=self.token(self.people.officer), body=body)

    async def stats(self) -> dict[str, int]:
        reply = await self.send("GET", "/stats")
        assert reply.status == 200
        return dict(reply.body)

    async def decisions(self) -> list[dict[str, Any]]:
        reply = await self.send("GET", "/_devstack/authorizations")
        assert reply.status == 200
        return list(reply.body["decisions"])


def kv(path: str, **query: str | int) -> str:
    """A data-plane path with the api-version every Key Vault request carries."""
    params = "".join(f"&{key}={value}" for key, value in query.items())
    return f"{path}?api-version={API_VERSION}{params}"


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request here is for 127.0.0.1: no proxy from the developer's shell may take it elsewhere."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return ensure_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return Tenant()


@pytest.fixture(scope="module")
def people() -> People:
    return People()


@contextlib.asynccontextmanager
async def serving(
    certs: CertPaths, tenant: Tenant, people: People, deletion: DeletionPolicy = NEW_VAULT
) -> AsyncIterator[Vault]:
    app = create_keyvault_app(
        verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {VAULT_RESOURCE}),
        tenant_id=tenant.tenant_id,
        authorizer=people.authorizer(),
        vault_id=VAULT_ID,
        seed=[SeedSecret(SEEDED, "seeded-value", content_type="text/plain", tags={"purpose": "test"})],
        deletion=deletion,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certs.server_cert, certs.server_key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    client_tls = ssl.create_default_context(cafile=str(certs.ca))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls)) as http:
        try:
            yield Vault(f"https://127.0.0.1:{port}", tenant, people, certs.ca, http)
        finally:
            await runner.cleanup()


@pytest.fixture
async def vault(certs: CertPaths, tenant: Tenant, people: People) -> AsyncIterator[Vault]:
    """A vault as a new one is made: 90 days' retention, no purge protection."""
    async with serving(certs, tenant, people) as served:
        yield served


@pytest.fixture
async def protected_vault(certs: CertPaths, tenant: Tenant, people: People) -> AsyncIterator[Vault]:
    async with serving(certs, tenant, people, PROTECTED) as served:
        yield served


# --- authentication and authorisation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", kv(f"/secrets/{SEEDED}")),
        ("DELETE", kv(f"/secrets/{SEEDED}")),
        ("GET", kv("/deletedsecrets")),
        # Authentication comes before the path is judged: none of these is a served operation.
        ("GET", kv("/keys/some-key")),
        ("GET", "/"),
        ("POST", kv(f"/secrets/{SEEDED}")),
        ("GET", kv("/secrets/bad_name")),
        ("GET", f"/secrets/{SEEDED}?api-version=1999-01-01"),
    ],
)
async def test_request_without_token_gets_the_challenge_whatever_its_path(
    vault: Vault, method: str, target: str
) -> None:
    reply = await vault.send(method, target)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert reply.error == {"code": "Unauthorized", "message": MISSING_TOKEN}
    assert (await vault.stats())["challenge"] == 1


def refused_token(vault: Vault, case: str) -> str:
    reader = vault.people.reader
    if case == "wrong_audience":
        return vault.token(reader, "https://storage.azure.com")
    if case == "expired":
        return vault.token(reader, now=time.time() - 7200, lifetime=3600)
    if case == "other_key":
        return Tenant(tenant_id=vault.tenant.tenant_id).mint(reader, VAULT_RESOURCE)[0]
    if case == "wrong_issuer":
        # Signed with the right key, so only the issuer check can refuse it.
        impostor = Tenant(key=vault.tenant.key, key_id=vault.tenant.key_id)
        return impostor.mint(reader, VAULT_RESOURCE)[0]
    assert case == "garbage"
    return "not-a-jwt"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_audience", "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://storage"),
        ("expired", "[TokenExpired]"),
        ("other_key", "AKV10046"),
        ("wrong_issuer", "AKV10032: Invalid issuer"),
        ("garbage", "[BearerReadAccessTokenFailed]"),
    ],
)
async def test_refused_token_gets_401_with_key_vaults_wording(vault: Vault, case: str, message: str) -> None:
    token = refused_token(vault, case)
    reply = await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=token)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith('Bearer authorization="https://login.microsoftonline.com/')
    assert reply.error["code"] == "Unauthorized"
    assert reply.error["message"].startswith(message)
    assert token not in json.dumps(reply.body)
    assert (await vault.stats())["rejected"] == 1


@pytest.mark.parametrize(
    ("method", "path", "action", "scope"),
    [
        ("GET", f"/secrets/{SEEDED}", "getSecret/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("GET", f"/secrets/{SEEDED}/versions", "readMetadata/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("GET", "/secrets", "readMetadata/action", VAULT_ID),
        ("PUT", "/secrets/new", "setSecret/action", f"{VAULT_ID}/secrets/new"),
        ("PATCH", f"/secrets/{SEEDED}/", "update/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("DELETE", f"/secrets/{SEEDED}", "delete", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("GET", f"/deletedsecrets/{SEEDED}", "readMetadata/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("GET", "/deletedsecrets", "readMetadata/action", VAULT_ID),
        ("POST", f"/deletedsecrets/{SEEDED}/recover", "recover/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("DELETE", f"/deletedsecrets/{SEEDED}", "purge/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("POST", f"/secrets/{SEEDED}/backup", "backup/action", f"{VAULT_ID}/secrets/{SEEDED}"),
        ("POST", "/secrets/restore", "restore/action", VAULT_ID),
    ],
)
async def test_caller_without_an_assignment_is_forbidden_by_rbac_for_the_action_and_scope(
    vault: Vault, method: str, path: str, action: str, scope: str
) -> None:
    outsider = vault.people.outsider
    body = {"value": "x"} if method in {"PUT", "PATCH"} or path.endswith("/restore") else None
    reply = await vault.send(method, kv(path), token=vault.token(outsider), body=body)
    assert reply.status == 403
    assert reply.error["code"] == "Forbidden"
    assert reply.error["innererror"] == {"code": "ForbiddenByRbac"}
    message = reply.error["message"]
    assert f"oid={outsider.object_id}" in message
    assert f"Action: 'Microsoft.KeyVault/vaults/secrets/{action}'\r\n" in message
    assert resource_line(scope) in message
    assert "Vault: notes-local;" in message
    assert (await vault.stats())["rejected"] == 1


async def test_secrets_user_reads_but_may_not_write(vault: Vault) -> None:
    token = vault.token(vault.people.reader)
    assert (await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=token)).status == 200
    assert (await vault.send("GET", kv("/secrets"), token=token)).status == 200
    assert (await vault.send("GET", kv(f"/secrets/{SEEDED}/versions"), token=token)).status == 200
    write = await vault.send("PUT", kv("/secrets/new"), token=token, body={"value": "x"})
    assert (write.status, write.error["innererror"]) == (403, {"code": "ForbiddenByRbac"})
    assert "Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'" in write.error["message"]
    assert resource_line(f"{VAULT_ID}/secrets/new") in write.error["message"]
    update = await vault.send("PATCH", kv(f"/secrets/{SEEDED}/"), token=token, body={"contentType": "x"})
    assert update.status == 403
    assert "secrets/update/action" in update.error["message"]


async def test_secrets_officer_writes_and_updates(vault: Vault) -> None:
    assert (await vault.as_officer("PUT", kv("/secrets/new"), {"value": "x"})).status == 200
    assert (await vault.as_officer("PATCH", kv("/secrets/new/"), {"contentType": "text/plain"})).status == 200


async def test_assignment_on_one_secret_allows_that_secret_only(vault: Vault) -> None:
    await vault.as_officer("PUT", kv(f"/secrets/{SCOPED_SECRET}"), {"value": "tolkien-api-key"})
    token = vault.token(vault.people.scoped)
    reply = await vault.send("GET", kv(f"/secrets/{SCOPED_SECRET.upper()}"), token=token)  # names ignore case
    assert (reply.status, reply.body["value"]) == (200, "tolkien-api-key")
    assert (await vault.send("GET", kv(f"/secrets/{SCOPED_SECRET}/versions"), token=token)).status == 200

    other = await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=token)
    assert (other.status, other.error["innererror"]) == (403, {"code": "ForbiddenByRbac"})
    assert resource_line(f"{VAULT_ID}/secrets/{SEEDED}") in other.error["message"]
    listing = await vault.send("GET", kv("/secrets"), token=token)  # checked at the vault, above the assignment
    assert listing.status == 403
    assert resource_line(VAULT_ID) in listing.error["message"]


async def test_decisions_name_the_assignment_that_allowed_each_request(vault: Vault) -> None:
    reader, outsider = vault.people.reader, vault.people.outsider
    for _ in range(2):
        await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=vault.token(reader))
    await vault.send("GET", kv("/secrets"), token=vault.token(outsider))
    await vault.send("GET", kv(f"/secrets/{SEEDED}"))  # the challenge: no decision is taken
    assert await vault.decisions() == [
        {
            "allowed": True,
            "action": "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "scope": f"{VAULT_ID}/secrets/{SEEDED}",
            "principalId": reader.object_id,
            "role": "Key Vault Secrets User",
            "source": "test:reader",
            "count": 2,
        },
        {
            "allowed": False,
            "action": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            "scope": VAULT_ID,
            "principalId": outsider.object_id,
            "role": None,
            "source": None,
            "count": 1,
        },
    ]
    assert (await vault.send("DELETE", "/_devstack/authorizations")).status == 204
    assert await vault.decisions() == []


@pytest.mark.parametrize(
    ("peer", "answered"),
    [(("192.0.2.7", 5000), False), (("10.1.2.3", 5000), False), (None, False), (("::ffff:127.0.0.1", 5000), True)],
)
async def test_decisions_answer_loopback_callers_only(
    tenant: Tenant, people: People, peer: tuple[str, int] | None, answered: bool
) -> None:
    """Every test here calls from 127.0.0.1, so the other peers are given to a request built in memory."""
    app = create_keyvault_app(
        verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {VAULT_RESOURCE}),
        tenant_id=tenant.tenant_id,
        authorizer=people.authorizer(),
        vault_id=VAULT_ID,
    )
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: peer if name == "peername" else default
    for method, success in (("GET", 200), ("DELETE", 204)):
        request = make_mocked_request(method, "/_devstack/authorizations", app=app, transport=transport)
        response = await (await app.router.resolve(request)).handler(request)
        assert response.status == (success if answered else 403)


@pytest.mark.parametrize(
    "vault_id",
    [
        "https://notes-local.vault.azure.net",
        "/subscriptions/s/resourceGroups/rg",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/notes",
        f"{VAULT_ID}/secrets/x",
    ],
)
def test_vault_id_must_be_the_vaults_arm_id(tenant: Tenant, people: People, vault_id: str) -> None:
    with pytest.raises(ValueError, match="vault_id must be"):
        create_keyvault_app(
            verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {VAULT_RESOURCE}),
            tenant_id=tenant.tenant_id,
            authorizer=people.authorizer(),
            vault_id=vault_id,
        )


def test_built_in_roles_grant_the_served_operations_as_documented() -> None:
    """Secrets User reads (values, metadata, listings, deleted secrets' metadata); Secrets Officer does
    every served operation, delete, recover, purge, backup and restore included."""
    user_may = {op for op in OPERATIONS if permits(SECRETS_USER, REQUIREMENTS[op].action)}
    officer_may = {op for op in OPERATIONS if permits(SECRETS_OFFICER, REQUIREMENTS[op].action)}
    assert user_may == {GET_SECRET, GET_SECRET_VERSIONS, GET_SECRETS, GET_DELETED_SECRET, GET_DELETED_SECRETS}
    assert officer_may == set(OPERATIONS)


# --- operations -----------------------------------------------------------------------------------


async def test_set_then_get_latest_and_each_version(vault: Vault) -> None:
    first = await vault.as_officer("PUT", kv("/secrets/rotating"), {"value": "one", "contentType": "text/plain"})
    second = await vault.as_officer("PUT", kv("/secrets/rotating"), {"value": "two", "tags": {"k": "v"}})
    assert first.status == second.status == 200
    first_version = first.body["id"].rsplit("/", 1)[1]
    assert VERSION_ID.fullmatch(first_version)
    assert first.body["id"] == f"{vault.url}/secrets/rotating/{first_version}"
    attributes = second.body["attributes"]
    assert attributes["enabled"] is True
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable"
    assert isinstance(attributes["created"], int)
    assert abs(attributes["created"] - time.time()) < 60

    for latest in (kv("/secrets/rotating"), kv("/secrets/rotating/")):
        reply = await vault.as_officer("GET", latest)
        assert (reply.body["value"], reply.body["id"], reply.body["tags"]) == ("two", second.body["id"], {"k": "v"})
    older = await vault.as_officer("GET", kv(f"/secrets/rotating/{first_version}"))
    assert (older.body["value"], older.body["contentType"]) == ("one", "text/plain")


async def test_names_are_case_insensitive_and_keep_their_first_spelling(vault: Vault) -> None:
    reply = await vault.as_officer("GET", kv(f"/secrets/{SEEDED.upper()}"))
    assert reply.body["value"] == "seeded-value"
    assert f"/secrets/{SEEDED}/" in reply.body["id"]


async def test_update_changes_properties_not_the_value(vault: Vault) -> None:
    change = {"contentType": "application/json", "tags": {"a": "b"}, "attributes": {"exp": 2000000000}}
    reply = await vault.as_officer("PATCH", kv(f"/secrets/{SEEDED}/"), change)
    assert reply.status == 200
    assert "value" not in reply.body
    assert (reply.body["contentType"], reply.body["tags"], reply.body["attributes"]["exp"]) == (
        "application/json",
        {"a": "b"},
        2000000000,
    )
    assert (await vault.as_officer("GET", kv(f"/secrets/{SEEDED}"))).body["value"] == "seeded-value"


async def test_disabled_version_is_refused_but_still_listed(vault: Vault) -> None:
    old = (await vault.as_officer("PUT", kv("/secrets/cycled"), {"value": "old"})).body["id"]
    new = (await vault.as_officer("PUT", kv("/secrets/cycled"), {"value": "new"})).body["id"]
    old_path, new_path = (link.removeprefix(vault.url) for link in (old, new))
    patched = await vault.as_officer("PATCH", kv(new_path), {"attributes": {"enabled": False}})
    assert patched.body["attributes"]["enabled"] is False

    for refused in (kv(new_path), kv("/secrets/cycled")):  # the disabled one is also the latest
        reply = await vault.as_officer("GET", refused)
        assert reply.status == 403
        assert reply.error == {
            "code": "Forbidden",
            "message": "Operation get is not allowed on a disabled secret.",
            "innererror": {"code": "SecretDisabled"},
        }
    assert (await vault.as_officer("GET", kv(old_path))).body["value"] == "old"
    listed = await vault.as_officer("GET", kv("/secrets/cycled/versions"))
    assert {item["id"]: item["attributes"]["enabled"] for item in listed.body["value"]} == {old: True, new: False}


async def test_expired_secret_is_still_served(vault: Vault) -> None:
    """Key Vault treats exp and nbf as information for the client, not as a gate."""
    expired_at, not_yet = int(time.time()) - 3600, int(time.time()) + 3600
    written = {"value": "stale", "attributes": {"exp": expired_at, "nbf": not_yet}}
    assert (await vault.as_officer("PUT", kv("/secrets/stale"), written)).status == 200
    reply = await vault.as_officer("GET", kv("/secrets/stale"))
    assert reply.status == 200
    assert (reply.body["value"], reply.body["attributes"]["exp"], reply.body["attributes"]["nbf"]) == (
        "stale",
        expired_at,
        not_yet,
    )


@pytest.mark.parametrize(
    "path",
    ["/secrets/never-written", f"/secrets/{SEEDED}/{uuid.uuid4().hex}", f"/secrets/{SEEDED}/not-a-version"],
)
async def test_unknown_secret_or_version_is_secret_not_found(vault: Vault, path: str) -> None:
    reply = await vault.as_officer("GET", kv(path))
    assert reply.status == 404
    assert reply.error["code"] == "SecretNotFound"
    assert "was not found in this key vault" in reply.error["message"]


async def test_versions_of_a_secret_that_does_not_exist_are_an_empty_list(vault: Vault) -> None:
    """Key Vault's recorded answer: 200 with no versions, not a 404."""
    reply = await vault.as_officer("GET", kv("/secrets/never-written/versions"))
    assert (reply.status, reply.body) == (200, {"value": [], "nextLink": None})


async def test_ids_and_links_follow_the_host_the_client_used(vault: Vault) -> None:
    token = vault.token(vault.people.officer)
    for host in ("notes-local.vault.azure.net", "notes-local.vault.azure.net:443"):
        reply = await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=token, headers={"Host": host})
        assert reply.body["id"].startswith(f"https://notes-local.vault.azure.net/secrets/{SEEDED}/")
    await vault.as_officer("PUT", kv("/secrets/zeta"), {"value": "x"})  # listed after the seeded one
    listing = await vault.send("GET", kv("/secrets", maxresults=1), token=token, headers={"Host": "a.vault.azure.net"})
    assert listing.body["nextLink"].startswith("https://a.vault.azure.net/secrets?api-version=7.6&$skiptoken=")
    assert listing.body["value"][0]["id"] == f"https://a.vault.azure.net/secrets/{SEEDED}"


async def test_listing_pages_follow_next_links_and_never_show_values(vault: Vault) -> None:
    names = {f"page-{index}" for index in range(7)}
    for name in names:
        await vault.as_officer("PUT", kv(f"/secrets/{name}"), {"value": "secret-value"})
    link: str | None = kv("/secrets", maxresults=3)
    sizes, seen = [], []
    while link:
        page = await vault.as_officer("GET", link)
        assert page.status == 200
        sizes.append(len(page.body["value"]))
        seen += [item["id"].rsplit("/", 1)[1] for item in page.body["value"]]
        assert all("value" not in item for item in page.body["value"])
        link = page.body["nextLink"]
    assert sizes == [3, 3, 2]
    assert seen == sorted(names | {SEEDED})


async def test_versions_page_in_creation_order(vault: Vault) -> None:
    written = [(await vault.as_officer("PUT", kv("/secrets/many"), {"value": str(n)})).body["id"] for n in range(4)]
    first = await vault.as_officer("GET", kv("/secrets/many/versions", maxresults=3))
    second = await vault.as_officer("GET", first.body["nextLink"])
    assert [item["id"] for item in first.body["value"] + second.body["value"]] == written
    assert second.body["nextLink"] is None


@pytest.mark.parametrize(
    "query",
    [{"maxresults": 0}, {"maxresults": 26}, {"maxresults": "three"}, {"$skiptoken": "%%%"}],
)
async def test_bad_paging_parameters_are_bad_parameter(vault: Vault, query: dict[str, str | int]) -> None:
    reply = await vault.as_officer("GET", kv("/secrets", **query))
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")


@pytest.mark.parametrize("requested", ["application/x-pem-file", "application/x-pkcs12", "APPLICATION/X-PEM-FILE"])
async def test_get_with_a_supported_out_content_type_serves_the_value_as_stored(vault: Vault, requested: str) -> None:
    """No secret here backs a certificate, so there is nothing to convert (Azure's answer for a plain
    secret is not recorded; Microsoft's suite accepts 200, 400 or 404)."""
    reply = await vault.as_officer("GET", kv(f"/secrets/{SEEDED}", outContentType=requested))
    assert (reply.status, reply.body["value"], reply.body["contentType"]) == (200, "seeded-value", "text/plain")


@pytest.mark.parametrize("requested", ["text/plain", "application/json", ""])
async def test_get_with_an_unsupported_out_content_type_is_bad_parameter(vault: Vault, requested: str) -> None:
    reply = await vault.as_officer("GET", kv(f"/secrets/{SEEDED}", outContentType=requested))
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")
    assert "outContentType" in reply.error["message"]


# --- soft delete, recovery and purge ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "reported"),
    [
        (PROTECTED, ("CustomizedRecoverable", 7)),
        (DeletionPolicy(retention_days=7, purge_protection=False), ("CustomizedRecoverable+Purgeable", 7)),
        (DeletionPolicy(retention_days=90, purge_protection=True), ("Recoverable", 90)),
        (NEW_VAULT, ("Recoverable+Purgeable", 90)),
    ],
)
async def test_every_secret_reports_the_vaults_recovery_level_and_days(
    certs: CertPaths, tenant: Tenant, people: People, policy: DeletionPolicy, reported: tuple[str, int]
) -> None:
    async with serving(certs, tenant, people, policy) as served:
        written = await served.as_officer("PUT", kv("/secrets/levelled"), {"value": "x"})
        listed = await served.as_officer("GET", kv("/secrets"))
        deleted = await served.as_officer("DELETE", kv("/secrets/levelled"))
    for attributes in (written.body["attributes"], listed.body["value"][0]["attributes"], deleted.body["attributes"]):
        assert (attributes["recoveryLevel"], attributes["recoverableDays"]) == reported


def test_the_stack_serves_the_retention_and_purge_protection_infra_declares() -> None:
    local = deploy(LocalIdentities(), str(uuid.uuid4()), infra_dir=MINIMAL_INFRA)
    assert (
        DeletionPolicy.for_vault(local.resources.vault) == PROTECTED
    )  # minimal_app/infra/app.bicep: 7 days, protected
    unprotected = DeletionPolicy.for_vault(local.resources.vault, purge_protection=False)
    assert (unprotected.retention_days, unprotected.recovery_level) == (7, "CustomizedRecoverable+Purgeable")


@pytest.mark.parametrize("days", [0, 6, 91])
def test_retention_outside_key_vaults_range_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="softDeleteRetentionInDays must be 7 to 90"):
        DeletionPolicy(retention_days=days)


async def test_delete_answers_the_deleted_bundle_and_the_secret_leaves_the_live_api(protected_vault: Vault) -> None:
    vault = protected_vault
    written = await vault.as_officer("PUT", kv("/secrets/doomed"), {"value": "v", "tags": {"k": "v"}})
    before = time.time()
    reply = await vault.as_officer("DELETE", kv("/secrets/doomed"))
    assert reply.status == 200
    body = reply.body
    assert "value" not in body
    assert (body["id"], body["tags"], body["attributes"]) == (
        written.body["id"],
        {"k": "v"},
        written.body["attributes"],
    )
    assert body["recoveryId"] == f"{vault.url}/deletedsecrets/doomed"
    assert abs(body["deletedDate"] - before) < 60
    assert body["scheduledPurgeDate"] == body["deletedDate"] + 7 * DAY

    assert (await vault.as_officer("GET", kv("/secrets/doomed"))).error["code"] == "SecretNotFound"
    assert (await vault.as_officer("GET", kv("/secrets/doomed/versions"))).body == {"value": [], "nextLink": None}
    assert [item["id"] for item in (await vault.as_officer("GET", kv("/secrets"))).body["value"]] == [
        f"{vault.url}/secrets/{SEEDED}"
    ]
    assert (await vault.as_officer("GET", kv("/deletedsecrets/doomed"))).body == body
    again = await vault.as_officer("DELETE", kv("/secrets/doomed"))
    assert (again.status, again.error["code"]) == (404, "SecretNotFound")


async def test_deleted_secrets_are_listed_in_pages_by_name_without_versions(vault: Vault) -> None:
    names = [f"gone-{index}" for index in range(5)]
    for name in names:
        await vault.as_officer("PUT", kv(f"/secrets/{name}"), {"value": "v", "contentType": "text/plain"})
        await vault.as_officer("DELETE", kv(f"/secrets/{name}"))
    link: str | None = kv("/deletedsecrets", maxresults=2)
    pages = []
    while link:
        page = await vault.as_officer("GET", link)
        pages.append(page.body["value"])
        link = page.body["nextLink"]
        assert link is None or link.startswith(f"{vault.url}/deletedsecrets?api-version={API_VERSION}&$skiptoken=")
    assert [len(page) for page in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert [item["id"] for item in items] == [f"{vault.url}/secrets/{name}" for name in names]
    assert all(item["recoveryId"].endswith(f"/deletedsecrets/{item['id'].rsplit('/', 1)[1]}") for item in items)
    assert all({"deletedDate", "scheduledPurgeDate", "contentType"} <= set(item) for item in items)
    assert all("value" not in item for item in items)


async def test_recover_restores_every_version_with_its_times(protected_vault: Vault) -> None:
    vault = protected_vault
    first = (await vault.as_officer("PUT", kv("/secrets/kept"), {"value": "one"})).body
    second = (await vault.as_officer("PUT", kv("/secrets/kept"), {"value": "two"})).body
    await vault.as_officer("DELETE", kv("/secrets/kept"))
    recovered = await vault.as_officer("POST", kv("/deletedsecrets/kept/recover"))
    assert recovered.status == 200
    assert "value" not in recovered.body
    assert (recovered.body["id"], recovered.body["attributes"]) == (second["id"], second["attributes"])
    assert (await vault.as_officer("GET", kv("/secrets/kept"))).body["value"] == "two"
    older = first["id"].removeprefix(vault.url)
    assert (await vault.as_officer("GET", kv(older))).body == first
    gone = await vault.as_officer("GET", kv("/deletedsecrets/kept"))
    assert (gone.status, gone.error) == (404, {"code": "SecretNotFound", "message": "Deleted Secret not found: kept"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/deletedsecrets/nothing"),
        ("POST", "/deletedsecrets/nothing/recover"),
        ("DELETE", "/deletedsecrets/nothing"),
    ],
)
async def test_a_name_that_is_not_deleted_is_deleted_secret_not_found(
    protected_vault: Vault, method: str, path: str
) -> None:
    reply = await protected_vault.as_officer(method, kv(path))
    assert (reply.status, reply.error) == (
        404,
        {"code": "SecretNotFound", "message": "Deleted Secret not found: nothing"},
    )


async def test_setting_a_deleted_name_is_a_conflict_until_it_is_recovered(protected_vault: Vault) -> None:
    vault = protected_vault
    await vault.as_officer("PUT", kv("/secrets/Reused"), {"value": "old"})
    await vault.as_officer("DELETE", kv("/secrets/reused"))
    reply = await vault.as_officer("PUT", kv("/secrets/REUSED"), {"value": "new"})
    assert reply.status == 409
    assert reply.error == {
        "code": "Conflict",
        "message": "Secret Reused is currently in a deleted but recoverable state, and its name cannot be reused; "
        "in this state, the secret can only be recovered or purged.",
        "innererror": {"code": "ObjectIsDeletedButRecoverable"},
    }
    await vault.as_officer("POST", kv("/deletedsecrets/reused/recover"))
    assert (await vault.as_officer("PUT", kv("/secrets/reused"), {"value": "new"})).status == 200


async def test_purge_with_purge_protection_is_forbidden_and_the_secret_stays_recoverable(
    protected_vault: Vault,
) -> None:
    vault = protected_vault
    await vault.as_officer("PUT", kv("/secrets/protected"), {"value": "v"})
    await vault.as_officer("DELETE", kv("/secrets/protected"))
    reply = await vault.as_officer("DELETE", kv("/deletedsecrets/protected"))
    assert reply.status == 403
    assert reply.error == {
        "code": "Forbidden",
        "message": 'Operation "purge" is not allowed because purge protection is enabled for this vault. '
        "Key Vault service will automatically purge it after the retention period has passed. "
        "Vault: notes-local;location=local",
    }
    assert (await vault.as_officer("GET", kv("/deletedsecrets/protected"))).status == 200
    assert (await vault.as_officer("POST", kv("/deletedsecrets/protected/recover"))).status == 200


async def test_purge_without_purge_protection_frees_the_name(vault: Vault) -> None:
    await vault.as_officer("PUT", kv("/secrets/purged"), {"value": "old"})
    await vault.as_officer("DELETE", kv("/secrets/purged"))
    reply = await vault.as_officer("DELETE", kv("/deletedsecrets/purged"))
    assert (reply.status, reply.body) == (204, None)
    assert (await vault.as_officer("GET", kv("/deletedsecrets/purged"))).status == 404
    fresh = await vault.as_officer("PUT", kv("/secrets/purged"), {"value": "new"})
    assert fresh.status == 200
    assert len((await vault.as_officer("GET", kv("/secrets/purged/versions"))).body["value"]) == 1


async def test_the_vault_purges_a_deleted_secret_once_its_retention_has_passed(
    protected_vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = protected_vault
    await vault.as_officer("PUT", kv("/secrets/expiring"), {"value": "v"})
    deleted = (await vault.as_officer("DELETE", kv("/secrets/expiring"))).body
    monkeypatch.setattr(vault_operations, "_now", lambda: deleted["scheduledPurgeDate"] - 1)
    assert (await vault.as_officer("GET", kv("/deletedsecrets/expiring"))).status == 200
    monkeypatch.setattr(vault_operations, "_now", lambda: deleted["scheduledPurgeDate"])
    assert (await vault.as_officer("GET", kv("/deletedsecrets/expiring"))).status == 404
    assert (await vault.as_officer("GET", kv("/deletedsecrets"))).body["value"] == []
    assert (await vault.as_officer("PUT", kv("/secrets/expiring"), {"value": "again"})).status == 200


# --- backup and restore ---------------------------------------------------------------------------


async def test_restore_after_purge_brings_back_every_version_as_it_was(vault: Vault) -> None:
    versions = [(await vault.as_officer("PUT", kv("/secrets/saved"), {"value": v})).body for v in ("one", "two")]
    await vault.as_officer("PATCH", kv(versions[0]["id"].removeprefix(vault.url)), {"attributes": {"enabled": False}})
    backup = await vault.as_officer("POST", kv("/secrets/saved/backup"))
    assert backup.status == 200
    assert set(backup.body) == {"value"}
    await vault.as_officer("DELETE", kv("/secrets/saved"))
    await vault.as_officer("DELETE", kv("/deletedsecrets/saved"))

    restored = await vault.as_officer("POST", kv("/secrets/restore"), {"value": backup.body["value"]})
    assert restored.status == 200
    assert "value" not in restored.body
    assert (restored.body["id"], restored.body["attributes"]) == (versions[1]["id"], versions[1]["attributes"])
    listed = (await vault.as_officer("GET", kv("/secrets/saved/versions"))).body["value"]
    assert [(item["id"], item["attributes"]["enabled"]) for item in listed] == [
        (versions[0]["id"], False),
        (versions[1]["id"], True),
    ]
    assert (await vault.as_officer("GET", kv("/secrets/saved"))).body["value"] == "two"


async def test_a_backup_blob_is_opaque(vault: Vault) -> None:
    await vault.as_officer("PUT", kv("/secrets/opaque"), {"value": "plain-text-value", "tags": {"t": "tag"}})
    blob = (await vault.as_officer("POST", kv("/secrets/opaque/backup"))).body["value"]
    assert "=" not in blob  # base64url without padding, as Key Vault sends it
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    for plain in (b"plain-text-value", b"opaque", b"tag", base64.b64encode(b"plain-text-value")):
        assert plain not in raw


@pytest.mark.parametrize("live", [True, False])
async def test_restoring_a_name_in_use_is_a_conflict(protected_vault: Vault, live: bool) -> None:
    vault = protected_vault
    version = (await vault.as_officer("PUT", kv("/secrets/twin"), {"value": "v"})).body["id"]
    backup = (await vault.as_officer("POST", kv("/secrets/twin/backup"))).body
    if not live:
        await vault.as_officer("DELETE", kv("/secrets/twin"))
    reply = await vault.as_officer("POST", kv("/secrets/restore"), backup)
    assert (reply.status, reply.error["code"]) == (409, "Conflict")
    assert reply.error["message"].startswith(f"There was a conflict restoring the secret '{version}'. ")


async def test_a_changed_or_foreign_backup_blob_is_bad_parameter(
    vault: Vault, certs: CertPaths, tenant: Tenant, people: People
) -> None:
    await vault.as_officer("PUT", kv("/secrets/tampered"), {"value": "v"})
    blob = (await vault.as_officer("POST", kv("/secrets/tampered/backup"))).body["value"]
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    raw[-1] ^= 1
    changed = base64.urlsafe_b64encode(bytes(raw)).decode()
    await vault.as_officer("DELETE", kv("/secrets/tampered"))
    await vault.as_officer("DELETE", kv("/deletedsecrets/tampered"))
    for value in (changed, "not base64 at all!", base64.urlsafe_b64encode(b"{}").decode()):
        reply = await vault.as_officer("POST", kv("/secrets/restore"), {"value": value})
        assert (reply.status, reply.error["code"]) == (400, "BadParameter")
    async with serving(certs, tenant, people) as other:  # another vault: its own key
        reply = await other.as_officer("POST", kv("/secrets/restore"), {"value": blob})
        assert (reply.status, reply.error["code"]) == (400, "BadParameter")
    assert (await vault.as_officer("POST", kv("/secrets/restore"), {"value": blob})).status == 200


@pytest.mark.parametrize("body", [{}, {"value": 42}])
async def test_restore_without_a_blob_is_bad_parameter(vault: Vault, body: dict[str, object]) -> None:
    reply = await vault.as_officer("POST", kv("/secrets/restore"), body)
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")


async def test_a_secret_may_be_named_restore(vault: Vault) -> None:
    assert (await vault.as_officer("PUT", kv("/secrets/restore"), {"value": "v"})).status == 200
    assert (await vault.as_officer("GET", kv("/secrets/restore"))).body["value"] == "v"


# --- what clients get wrong ---------------------------------------------------------------------


@pytest.mark.parametrize("target", [f"/secrets/{SEEDED}", f"/secrets/{SEEDED}?api-version="])
async def test_missing_api_version_is_bad_parameter(vault: Vault, target: str) -> None:
    reply = await vault.as_officer("GET", target)
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")
    assert "api-version" in reply.error["message"]


@pytest.mark.parametrize("version", ["x", "7.9", "2099-01-01", "7.6-preview.9"])
async def test_unknown_api_version_is_bad_parameter_naming_the_latest(vault: Vault, version: str) -> None:
    reply = await vault.as_officer("GET", f"/secrets?api-version={version}")
    assert reply.status == 400
    assert reply.error == {
        "code": "BadParameter",
        "message": f"The specified version ({version}) is not recognized. "
        "Consider using the latest supported version (2026-04-01).",
    }


@pytest.mark.parametrize("version", ["7.6", "2025-07-01", "2026-04-01", "7.6-preview.2", "2016-10-01"])
async def test_published_api_versions_are_answered(vault: Vault, version: str) -> None:
    reply = await vault.as_officer("GET", f"/secrets?api-version={version}")
    assert reply.status == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/secrets/bad_name", {"value": "x"}),
        ("/secrets/" + "a" * 128, {"value": "x"}),
        ("/secrets/ok", b"{not json"),
        ("/secrets/ok", b'["value"]'),
        ("/secrets/ok", b"[" * 100_000),
        ("/secrets/ok", {"contentType": "text/plain"}),
        ("/secrets/ok", {"value": 42}),
        ("/secrets/ok", {"value": "x" * (25 * 1024 + 1)}),
        ("/secrets/ok", {"value": "x", "contentType": "t" * 256}),
        ("/secrets/ok", {"value": "x", "tags": {"n": 1}}),
        ("/secrets/ok", {"value": "x", "attributes": {"enabled": "yes"}}),
        ("/secrets/ok", {"value": "x", "attributes": {"exp": "tomorrow"}}),
        ("/secrets/ok", {"value": "x", "attributes": {"exp": True}}),
    ],
)
async def test_invalid_set_request_is_bad_parameter(vault: Vault, path: str, body: object) -> None:
    token = vault.token(vault.people.officer)
    if isinstance(body, bytes):
        reply = await vault.send("PUT", kv(path), token=token, data=body)
    else:
        reply = await vault.send("PUT", kv(path), token=token, body=body)
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")


async def test_value_of_exactly_25_kib_is_accepted(vault: Vault) -> None:
    value = "é" * (25 * 1024 // 2)  # two bytes each in UTF-8: the limit is on bytes
    reply = await vault.as_officer("PUT", kv("/secrets/big"), {"value": value})
    assert reply.status == 200
    assert reply.body["value"] == value


async def test_missing_value_names_the_property(vault: Vault) -> None:
    reply = await vault.as_officer("PUT", kv("/secrets/ok"), {"tags": {}})
    assert reply.error == {"code": "BadParameter", "message": "Property 'value' is required."}


async def test_oversized_body_is_refused_from_its_length_alone(vault: Vault) -> None:
    """The fake answers 413 while most of the declared 64 MiB has not even been sent."""
    port = int(vault.url.rsplit(":", 1)[1])
    tls = ssl.create_default_context(cafile=str(vault.ca))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    try:
        head = (
            f"PUT {kv('/secrets/huge')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {vault.token(vault.people.officer)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n"
        )
        writer.write(head.encode() + b'{"value": "')
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):  # the server may hang up first: either is fine
            await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_oversized_body_without_a_length_is_cut_off(vault: Vault) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * (128 * 1024)  # 2.5 MiB in all, sent chunked

    headers = {"Authorization": f"Bearer {vault.token(vault.people.officer)}"}
    # A session of its own, closed at once: the server keeps draining a half-sent body while the client lingers.
    tls = ssl.create_default_context(cafile=str(vault.ca))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http,
        http.put(vault.url + kv("/secrets/huge"), data=chunks(), headers=headers) as response,
    ):
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "RequestEntityTooLarge"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/", 404, "NotFound"),
        ("GET", "/keys/some-key", 404, "NotFound"),
        ("POST", f"/secrets/{SEEDED}", 405, "MethodNotAllowed"),
        ("GET", "/secrets/restore/versions/extra", 400, "BadParameter"),
        ("PUT", f"/deletedsecrets/{SEEDED}", 405, "MethodNotAllowed"),
        ("GET", f"/deletedsecrets/{SEEDED}/recover", 405, "MethodNotAllowed"),
        ("GET", f"/deletedsecrets/{SEEDED}/other", 400, "BadParameter"),
        ("GET", f"/secrets/{SEEDED}/versions/extra", 400, "BadParameter"),
    ],
)
async def test_unserved_route_or_method_answers_in_key_vaults_error_shape(
    vault: Vault, method: str, path: str, status: int, code: str
) -> None:
    reply = await vault.send(method, kv(path), token=vault.token(vault.people.officer))
    assert (reply.status, reply.error["code"]) == (status, code)
    assert reply.error["message"]


# --- stats and faults ---------------------------------------------------------------------------


async def test_stats_count_each_request_once(vault: Vault) -> None:
    reader, officer = vault.token(vault.people.reader), vault.token(vault.people.officer)
    await vault.send("GET", kv(f"/secrets/{SEEDED}"))
    await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=refused_token(vault, "expired"))
    await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=vault.token(vault.people.outsider))
    await vault.send("GET", kv(f"/secrets/{SEEDED}"), token=reader)
    await vault.send("GET", kv("/secrets/missing"), token=reader)
    await vault.send("GET", kv("/secrets"), token=reader)
    await vault.send("GET", kv(f"/secrets/{SEEDED}/versions"), token=reader)
    await vault.send("PUT", kv("/secrets/new"), token=officer, body={"value": "v"})
    await vault.send("PATCH", kv("/secrets/new/"), token=officer, body={"tags": {}})
    await vault.send("DELETE", kv("/secrets/new"), token=officer)
    await vault.send("GET", kv("/deletedsecrets/new"), token=officer)
    await vault.send("GET", kv("/deletedsecrets"), token=officer)
    await vault.send("POST", kv("/deletedsecrets/new/recover"), token=officer)
    backup = await vault.send("POST", kv("/secrets/new/backup"), token=officer)
    await vault.send("POST", kv("/secrets/restore"), token=officer, body=backup.body)  # 409: "new" exists
    await vault.send("DELETE", kv("/secrets/new"), token=officer)
    await vault.send("DELETE", kv("/deletedsecrets/new"), token=officer)
    await vault.send("GET", "/keys", token=officer)  # no operation: not counted
    await vault.send("GET", "/keys")  # no operation, but no token either: challenged first
    assert await vault.stats() == {
        "getSecret": 2,
        "getSecretVersions": 1,
        "getSecrets": 1,
        "setSecret": 1,
        "updateSecret": 1,
        "deleteSecret": 2,
        "getDeletedSecret": 1,
        "getDeletedSecrets": 1,
        "recoverDeletedSecret": 1,
        "purgeDeletedSecret": 1,
        "backupSecret": 1,
        "restoreSecret": 1,
        "challenge": 2,
        "rejected": 2,
    }


async def test_fault_answers_the_matching_operation_a_given_number_of_times(vault: Vault) -> None:
    fault = await vault.send("POST", "/_devstack/faults", body={"status": 503, "count": 2, "operation": "getSecret"})
    assert fault.body == {"status": 503, "count": 2, "operation": "getSecret"}
    for _ in range(2):
        reply = await vault.as_officer("GET", kv(f"/secrets/{SEEDED}"))
        assert (reply.status, reply.headers["Retry-After"], reply.error["code"]) == (503, "1", "ServiceUnavailable")
        assert (await vault.as_officer("GET", kv("/secrets"))).status == 200  # other operations unaffected
    assert (await vault.as_officer("GET", kv(f"/secrets/{SEEDED}"))).status == 200
    assert (await vault.send("GET", "/_devstack/faults")).body is None
    assert (await vault.stats())["getSecret"] == 3


async def test_fault_without_count_lasts_until_cleared(vault: Vault) -> None:
    await vault.send("POST", "/_devstack/faults", body={"status": 429, "count": None})
    for _ in range(3):
        reply = await vault.send("GET", kv(f"/secrets/{SEEDED}"))  # token-less too: the outage comes first
        assert (reply.status, reply.error["code"]) == (429, "Throttled")
    assert (await vault.send("DELETE", "/_devstack/faults")).status == 204
    assert (await vault.as_officer("GET", kv(f"/secrets/{SEEDED}"))).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"status": 200}',
        b'{"status": "503"}',
        b'{"status": 599}',
        b'{"status": 503, "count": 0}',
        b'{"status": 503, "operation": "getKey"}',
        b'{"status": 503, "times": 2}',
    ],
)
async def test_malformed_fault_is_refused(vault: Vault, body: bytes) -> None:
    reply = await vault.send("POST", "/_devstack/faults", data=body)
    assert (reply.status, reply.error["code"]) == (400, "BadParameter")
    assert (await vault.send("GET", "/_devstack/faults")).body is None


# --- seeding ------------------------------------------------------------------------------------


def test_seed_fills_in_random_values_and_keeps_metadata(tmp_path: Path) -> None:
    seed_file = tmp_path / "seed.json"
    entries = [
        {"name": "generated", "value": None, "contentType": "text/plain", "tags": {"purpose": "signing"}},
        {"name": "given", "value": "v1"},
        {"name": "given", "value": "v2"},
    ]
    seed_file.write_text(json.dumps({"secrets": entries}))
    first, second = load_seed(seed_file), load_seed(seed_file)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first[0].value)  # 32 random bytes, urlsafe base64
    assert first[0].value != second[0].value
    assert (first[0].content_type, dict(first[0].tags)) == ("text/plain", {"purpose": "signing"})
    assert [(s.name, s.value) for s in first[1:]] == [("given", "v1"), ("given", "v2")]


@pytest.mark.parametrize(
    "document",
    [[], {"secrets": {}}, {"secrets": [{"name": "bad_name", "value": "x"}]}, {"secrets": [{"name": "n", "value": 1}]}],
)
def test_malformed_seed_is_refused(tmp_path: Path, document: object) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"seed\.json"):
        load_seed(seed_file)


async def test_repeated_seed_names_become_versions(certs: CertPaths, tenant: Tenant, people: People) -> None:
    app = create_keyvault_app(
        verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {VAULT_RESOURCE}),
        tenant_id=tenant.tenant_id,
        authorizer=people.authorizer(),
        vault_id=VAULT_ID,
        seed=[SeedSecret("twice", "old"), SeedSecret("twice", "new")],
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        headers = {"Authorization": f"Bearer {tenant.mint(people.reader, VAULT_RESOURCE)[0]}"}
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + kv("/secrets/twice/versions"), headers=headers) as response:
                assert len((await response.json())["value"]) == 2
            async with http.get(base + kv("/secrets/twice"), headers=headers) as response:
                assert (await response.json())["value"] == "new"
    finally:
        await runner.cleanup()


# --- the real SDK, sync and aio -----------------------------------------------------------------


@dataclass
class Minter:
    """Mints a fresh token per request, like a managed-identity endpoint; `asked` records the scopes."""

    tenant: Tenant
    identity: Identity
    audience: str = VAULT_RESOURCE
    issued_at: float | None = None
    asked: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, scopes: tuple[str, ...]) -> AccessToken:
        self.asked.append(scopes)
        token, _ = self.tenant.mint(self.identity, self.audience, now=self.issued_at, lifetime=3600)
        # The expiry the credential reports, not the token's: the SDK must send even an expired token.
        return AccessToken(token, int(time.time()) + 3600)


class MintingCredential:
    def __init__(self, minter: Minter) -> None:
        self.minter = minter

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self.minter(scopes)


class AsyncMintingCredential:
    def __init__(self, minter: Minter) -> None:
        self.minter = minter

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self.minter(scopes)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncMintingCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def sdk_options(vault: Vault) -> dict[str, Any]:
    return {"connection_verify": str(vault.ca), "verify_challenge_resource": False, "retry_total": 0}


@pytest.fixture
def officer_minter(vault: Vault) -> Minter:
    return Minter(vault.tenant, vault.people.officer)


@pytest.fixture
async def sync_client(vault: Vault) -> AsyncIterator[Callable[[Minter], SecretClient]]:
    """Makes sync clients for the test (they run in a worker thread) and closes them after it."""
    made: list[SecretClient] = []

    def make(minter: Minter) -> SecretClient:
        made.append(SecretClient(vault.url, MintingCredential(minter), **sdk_options(vault)))
        return made[-1]

    yield make
    for client in made:
        client.close()
    # The sync SDK keeps the connection of an error response checked out until that response is garbage;
    # collecting it closes the socket, so the server's TLS shutdown is not left waiting at teardown.
    gc.collect()
    await asyncio.sleep(0.01)


def sync_round_trip(client: SecretClient) -> None:
    first = client.set_secret("sdk-sync", "one", content_type="text/plain", tags={"k": "v"})
    second = client.set_secret("sdk-sync", "two")
    assert client.get_secret("sdk-sync").value == "two"
    older = client.get_secret("sdk-sync", first.properties.version)
    assert (older.value, older.properties.content_type, older.properties.tags) == ("one", "text/plain", {"k": "v"})
    versions = {p.version for p in client.list_properties_of_secret_versions("sdk-sync")}
    assert versions == {first.properties.version, second.properties.version}

    disabled = client.update_secret_properties("sdk-sync", first.properties.version, enabled=False)
    assert disabled.enabled is False
    with pytest.raises(HttpResponseError) as refused:
        client.get_secret("sdk-sync", first.properties.version)
    assert refused.value.status_code == 403
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("never-written")


async def test_sync_client_round_trip(
    vault: Vault, officer_minter: Minter, sync_client: Callable[[Minter], SecretClient]
) -> None:
    await asyncio.to_thread(sync_round_trip, sync_client(officer_minter))
    assert set(officer_minter.asked) == {("https://vault.azure.net/.default",)}
    stats = await vault.stats()
    assert (stats["challenge"], stats["setSecret"], stats["updateSecret"]) == (1, 2, 1)


def sync_pages(client: SecretClient) -> list[list[str]]:
    for index in range(8):
        client.set_secret(f"listed-{index}", "value")
    pages = client.list_properties_of_secrets(max_page_size=3).by_page()
    return [[str(properties.name) for properties in page] for page in pages]


async def test_sync_client_pages_through_the_listing(
    vault: Vault, officer_minter: Minter, sync_client: Callable[[Minter], SecretClient]
) -> None:
    pages = await asyncio.to_thread(sync_pages, sync_client(officer_minter))
    assert [len(page) for page in pages] == [3, 3, 3]
    assert list(itertools.chain.from_iterable(pages)) == sorted([f"listed-{index}" for index in range(8)] + [SEEDED])
    assert (await vault.stats())["getSecrets"] == 3


async def test_async_client_round_trip(vault: Vault, officer_minter: Minter) -> None:
    credential = AsyncMintingCredential(officer_minter)
    async with AsyncSecretClient(vault.url, credential, **sdk_options(vault)) as client:
        first = await client.set_secret("sdk-aio", "one")
        second = await client.set_secret("sdk-aio", "two", content_type="text/plain")
        assert (await client.get_secret("sdk-aio")).value == "two"
        assert (await client.get_secret("sdk-aio", first.properties.version)).value == "one"
        versions = {p.version async for p in client.list_properties_of_secret_versions("sdk-aio")}
        assert versions == {first.properties.version, second.properties.version}

        await client.update_secret_properties("sdk-aio", enabled=False)  # no version: the latest
        with pytest.raises(HttpResponseError) as refused:
            await client.get_secret("sdk-aio")
        assert refused.value.status_code == 403
        with pytest.raises(ResourceNotFoundError):
            await client.get_secret("never-written")

        for index in range(6):
            await client.set_secret(f"listed-{index}", "value")
        pages = client.list_properties_of_secrets(max_page_size=3).by_page()
        sizes = [len([properties async for properties in page]) async for page in pages]
    assert sizes == [3, 3, 2]


def bad_minter(vault: Vault, case: str) -> Minter:
    reader = vault.people.reader
    if case == "wrong_audience":
        return Minter(vault.tenant, reader, audience="https://storage.azure.com")
    if case == "expired":
        return Minter(vault.tenant, reader, issued_at=time.time() - 7200)
    if case == "other_key":
        return Minter(Tenant(tenant_id=vault.tenant.tenant_id), reader)
    assert case == "no_role"
    return Minter(vault.tenant, vault.people.outsider)


SDK_REFUSALS = [("wrong_audience", 401), ("expired", 401), ("other_key", 401), ("no_role", 403)]


@pytest.mark.parametrize(("case", "status"), SDK_REFUSALS)
async def test_sync_client_surfaces_refusals(
    vault: Vault, case: str, status: int, sync_client: Callable[[Minter], SecretClient]
) -> None:
    client = sync_client(bad_minter(vault, case))
    with pytest.raises(HttpResponseError) as refused:
        await asyncio.to_thread(client.get_secret, SEEDED)
    assert refused.value.status_code == status
    assert isinstance(refused.value, ClientAuthenticationError) == (status == 401)


@pytest.mark.parametrize(("case", "status"), SDK_REFUSALS)
async def test_async_client_surfaces_refusals(vault: Vault, case: str, status: int) -> None:
    credential = AsyncMintingCredential(bad_minter(vault, case))
    async with AsyncSecretClient(vault.url, credential, **sdk_options(vault)) as client:
        with pytest.raises(HttpResponseError) as refused:
            await client.get_secret(SEEDED)
    assert refused.value.status_code == status
    assert isinstance(refused.value, ClientAuthenticationError) == (status == 401)


async def test_async_client_retries_through_an_injected_fault(vault: Vault, officer_minter: Minter) -> None:
    await vault.send("POST", "/_devstack/faults", body={"status": 503, "count": 1, "operation": "getSecret"})
    options = {**sdk_options(vault), "retry_total": 2, "retry_backoff_factor": 0}
    async with AsyncSecretClient(vault.url, AsyncMintingCredential(officer_minter), **options) as client:
        assert (await client.get_secret(SEEDED)).value == "seeded-value"
    stats = await vault.stats()
    # The first (token-less) attempt met the fault, the retry met the challenge, then the real call.
    assert (stats["getSecret"], stats["challenge"]) == (2, 1)


async def test_async_client_deletes_recovers_backs_up_and_restores(vault: Vault, officer_minter: Minter) -> None:
    credential = AsyncMintingCredential(officer_minter)
    async with AsyncSecretClient(vault.url, credential, **sdk_options(vault)) as client:
        created = await client.set_secret("sdk-cycle", "one")
        deleted = await client.delete_secret("sdk-cycle")  # polls get-deleted until it answers
        assert (deleted.recovery_id, deleted.properties.version) == (
            f"{vault.url}/deletedsecrets/sdk-cycle",
            created.properties.version,
        )
        assert [d.name async for d in client.list_deleted_secrets()] == ["sdk-cycle"]
        with pytest.raises(ResourceExistsError):
            await client.set_secret("sdk-cycle", "two")
        recovered = await client.recover_deleted_secret("sdk-cycle")
        assert recovered.version == created.properties.version
        assert (await client.get_secret("sdk-cycle")).value == "one"

        backup = await client.backup_secret("sdk-cycle")
        await client.delete_secret("sdk-cycle")
        await client.purge_deleted_secret("sdk-cycle")
        restored = await client.restore_secret_backup(backup)
        assert restored.version == created.properties.version
        assert [p.version async for p in client.list_properties_of_secret_versions("never-written")] == []


async def test_async_client_sees_purge_refused_by_purge_protection(protected_vault: Vault) -> None:
    credential = AsyncMintingCredential(Minter(protected_vault.tenant, protected_vault.people.officer))
    async with AsyncSecretClient(protected_vault.url, credential, **sdk_options(protected_vault)) as client:
        await client.set_secret("sdk-protected", "v")
        await client.delete_secret("sdk-protected")
        with pytest.raises(HttpResponseError) as refused:
            await client.purge_deleted_secret("sdk-protected")
        assert (refused.value.status_code, refused.value.error and refused.value.error.code) == (403, "Forbidden")
        assert (await client.get_deleted_secret("sdk-protected")).properties.recovery_level == "CustomizedRecoverable"
