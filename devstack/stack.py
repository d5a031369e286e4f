"""The whole local stack: what runs where, in which order, and what the app is told about it.

In-process (one asyncio loop): the token endpoint, the Key Vault fake and the host-name proxy.
Child processes: Azurite for the data account (HTTPS + OAuth), Azurite for the Functions host's own
storage (plain), the Cosmos server and the local function host.

`python -m devstack up` and the pytest fixtures both run `run_stack`, so tests exercise exactly what a
developer starts.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from devstack import provision
from devstack.certs import CertPaths, ensure_certificates
from devstack.children import Child, ReadyLine, ReadyPort, base_environment, free_port, node_executable, start_child
from devstack.host_proxy import HostProxy
from devstack.identity_endpoint import APP_SERVICE_PATH, Directory, create_identity_app
from devstack.keyvault import SECRETS_OFFICER, SECRETS_USER, SeedSecret, create_keyvault_app, load_seed
from devstack.node_packages import NODE_DIR, ensure_node_packages
from devstack.settings_files import EnvFile, write_env_file, write_local_settings
from devstack.tokens import Identity, Tenant, TokenVerifier

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent

AZURITE = NODE_DIR / "node_modules" / "azurite" / "dist" / "src"
KEY_VAULT_RESOURCE = "https://vault.azure.net"
# Names the app sees; in Azure they come from Bicep (infra/), here from the stack.
DATA_ACCOUNT = "inboxdata"
VAULT_HOST = "inbox-local.vault.azure.net"
BLOB_HOST = f"{DATA_ACCOUNT}.blob.core.windows.net"
COSMOS_HOST = "inbox-local.documents.azure.com"
HOST_ACCOUNT = "inboxhost"
COSMOS_DATABASE = "inbox"
COSMOS_CONTAINER = "events"
BLOB_CONTAINERS = ("events", "digests")
DEFAULT_SOURCES = "github,demo"
DEFAULT_HOST_PORT = 7071
RETENTION_DAYS = 30


@dataclass(frozen=True)
class Ports:
    """0 means "pick a free one"; `functions=None` leaves the app to `func start`."""

    token: int = 0
    keyvault: int = 0
    proxy: int = 0
    blob: int = 0
    cosmos: int = 0
    host_storage: int = 0
    functions: int | None = DEFAULT_HOST_PORT


@dataclass(frozen=True)
class StackOptions:
    app_dir: Path
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    sources: str = DEFAULT_SOURCES
    seed_file: Path | None = None
    certs_dir: Path | None = None  # default: <state_dir>/certs
    # App settings added to (or overriding) the stack's own, e.g. SECRET_CACHE_SECONDS for tests.
    extra_settings: Mapping[str, str] = field(default_factory=dict)
    write_local_settings: bool = True
    force_local_settings: bool = False
    # Where the function host's log lines go besides its log file (the terminal for `up`).
    host_echo: TextIO | None = None


@dataclass(frozen=True)
class LocalIdentities:
    """The identities of the local tenant and the roles each one holds, as Bicep grants them in Azure."""

    system: Identity = field(default_factory=lambda: Identity.new("system"))
    app: Identity = field(default_factory=lambda: Identity.new("user"))  # the app's user-assigned identity
    developer: Identity = field(default_factory=lambda: Identity.new("user"))  # stands in for `az login`
    outsider: Identity = field(default_factory=lambda: Identity.new("user"))  # holds no role anywhere

    def directory(self) -> Directory:
        return Directory(system=self.system, user_assigned=(self.app, self.developer, self.outsider))

    def keyvault_roles(self) -> dict[str, frozenset[str]]:
        return {
            self.system.object_id: frozenset({SECRETS_USER}),
            self.app.object_id: frozenset({SECRETS_USER}),
            self.developer.object_id: frozenset({SECRETS_OFFICER}),
        }

    def data_contributors(self) -> tuple[Identity, ...]:
        return (self.system, self.app, self.developer)

    def as_json(self) -> dict[str, dict[str, str]]:
        return {
            name: {"clientId": i.client_id, "objectId": i.object_id, "kind": i.kind}
            for name, i in (
                ("system", self.system),
                ("app", self.app),
                ("developer", self.developer),
                ("outsider", self.outsider),
            )
        }


@dataclass
class RunningStack:
    env_file: EnvFile
    children: list[Child]
    runners: list[web.AppRunner]
    proxy: HostProxy

    async def stop(self) -> None:
        # The host first: it is the only client of the others.
        for child in reversed(self.children):
            await child.stop()
        await self.proxy.close()
        for runner in self.runners:
            await runner.cleanup()


async def start_stack(options: StackOptions) -> RunningStack:
    ensure_node_packages()
    state = options.state_dir
    for folder in (state, state / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    certs = ensure_certificates(options.certs_dir or state / "certs")
    tenant = Tenant()
    people = LocalIdentities()
    issuer_key = state / "issuer-public.pem"
    issuer_key.write_bytes(tenant.public_key_pem())
    identity_header = secrets.token_urlsafe(24)
    children: list[Child] = []
    runners: list[web.AppRunner] = []
    proxy = HostProxy({})
    try:
        token_runner, token_port = await _serve(
            create_identity_app(tenant=tenant, directory=people.directory(), identity_header=identity_header),
            options.ports.token,
        )
        runners.append(token_runner)
        seed = _seed_secrets(options)
        vault_app = create_keyvault_app(
            verifier=TokenVerifier(tenant.public_key_pem(), tenant.issuer, {KEY_VAULT_RESOURCE}),
            tenant_id=tenant.tenant_id,
            roles=people.keyvault_roles(),
            seed=seed,
        )
        vault_runner, vault_port = await _serve(vault_app, options.ports.keyvault, tls=certs)
        runners.append(vault_runner)
        data_key, host_key, cosmos_key = (_account_key() for _ in range(3))
        blob_port = options.ports.blob or free_port()
        cosmos_port = options.ports.cosmos or free_port()
        proxy = HostProxy(
            {
                f"{VAULT_HOST}:443": (LOOPBACK, vault_port),
                f"{BLOB_HOST}:443": (LOOPBACK, blob_port),
                f"{COSMOS_HOST}:443": (LOOPBACK, cosmos_port),
            }
        )
        proxy_port = await proxy.start(LOOPBACK, options.ports.proxy)
        host_ports = _three_ports(options.ports.host_storage)
        log_dir = state / "logs"
        started = await asyncio.gather(
            _start_data_azurite(blob_port, data_key, certs, log_dir),
            _start_host_azurite(host_ports, host_key, log_dir),
            _start_cosmos(
                cosmos_port,
                key=cosmos_key,
                certs=certs,
                issuer=tenant.issuer,
                issuer_key=issuer_key,
                contributors=people.data_contributors(),
                log_dir=log_dir,
            ),
            return_exceptions=True,
        )
        children.extend(c for c in started if isinstance(c, Child))
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome

        # The stack provisions over the direct loopback addresses, with the keys only it knows.
        blob_direct = f"https://{LOOPBACK}:{blob_port}/{DATA_ACCOUNT}"
        cosmos_direct = f"https://localhost:{cosmos_port}/"
        await provision.blob_containers(
            blob_direct, account=DATA_ACCOUNT, key=data_key, names=BLOB_CONTAINERS, ca=certs.ca
        )
        await provision.cosmos_container(
            cosmos_direct,
            key=cosmos_key,
            database=COSMOS_DATABASE,
            container=COSMOS_CONTAINER,
            ttl_seconds=RETENTION_DAYS * 86400,
            ca=certs.ca,
        )

        settings = {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": _host_storage_connection(host_ports, host_key),
            "AZURE_CLIENT_ID": people.app.client_id,
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
            "AZURE_KEY_VAULT_ENDPOINT": f"https://{VAULT_HOST}/",
            "AZURE_STORAGE_BLOB_ENDPOINT": f"https://{BLOB_HOST}",
            "AZURE_COSMOS_ENDPOINT": f"https://{COSMOS_HOST}:443/",
            "COSMOS_DATABASE": COSMOS_DATABASE,
            "COSMOS_CONTAINER": COSMOS_CONTAINER,
            "WEBHOOK_SOURCES": options.sources,
            # Local only: where the managed-identity credential gets tokens, which CA to trust, and the
            # proxy that maps the Azure host names above to the local services. Azure needs none of these.
            "IDENTITY_ENDPOINT": f"http://{LOOPBACK}:{token_port}{APP_SERVICE_PATH}",
            "IDENTITY_HEADER": identity_header,
            "SSL_CERT_FILE": str(certs.ca_bundle),
            "REQUESTS_CA_BUNDLE": str(certs.ca_bundle),
            "HTTPS_PROXY": f"http://{LOOPBACK}:{proxy_port}",
            "NO_PROXY": "127.0.0.1,localhost,::1",
            **options.extra_settings,
        }
        function_key, master_key = secrets.token_urlsafe(30), secrets.token_urlsafe(30)
        host_url = ""
        if options.ports.functions is not None:
            host_port = options.ports.functions or free_port()
            host = await _start_function_host(
                options, host_port, settings, keys=(function_key, master_key), log_dir=log_dir
            )
            children.append(host)
            host_url = f"http://{LOOPBACK}:{host_port}"

        token_base = f"http://{LOOPBACK}:{token_port}"
        env_file = EnvFile(
            host_url=host_url,
            function_key=function_key,
            master_key=master_key,
            token_stats_url=f"{token_base}/stats",
            keyvault_stats_url=f"https://{LOOPBACK}:{vault_port}/stats",
            ca_bundle=str(certs.ca_bundle),
            settings=settings,
            devstack={
                "identities": people.as_json(),
                "tenantId": tenant.tenant_id,
                "imdsAuthorityHost": token_base,
                "tokenMintUrl": f"{token_base}/_devstack/mint",
                "keyvaultDirectUrl": f"https://{LOOPBACK}:{vault_port}",
                "blobDirectUrl": blob_direct,
                "cosmosDirectUrl": cosmos_direct,
                "keyvaultFaultsUrl": f"https://{LOOPBACK}:{vault_port}/_devstack/faults",
                "cosmosFaultsUrl": f"https://{LOOPBACK}:{cosmos_port}/_devstack/faults",
                "caCert": str(certs.ca),
                "logDir": str(log_dir),
                "pids": {"stack": os.getpid(), **{c.name: c.pid for c in children}},
            },
        )
        if options.write_local_settings:
            write_local_settings(options.app_dir / "local.settings.json", settings, force=options.force_local_settings)
        write_env_file(state / "env.json", env_file)
        return RunningStack(env_file, children, runners, proxy)
    except BaseException:
        await RunningStack(EnvFile.empty(), children, runners, proxy).stop()
        raise


async def _serve(app: web.Application, port: int, *, tls: CertPaths | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    ssl_context = None
    if tls is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls.server_cert, tls.server_key)
    site = web.TCPSite(runner, LOOPBACK, port, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])


def _seed_secrets(options: StackOptions) -> list[SeedSecret]:
    """The seed file's secrets, plus a random `webhook-<source>` secret for each source it lacks."""
    seed = load_seed(options.seed_file) if options.seed_file else []
    named = {s.name for s in seed}
    for source in filter(None, (s.strip() for s in options.sources.split(","))):
        if f"webhook-{source}" not in named:
            seed.append(SeedSecret(name=f"webhook-{source}", value=secrets.token_urlsafe(32)))
    return seed


def _account_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


def _three_ports(first: int) -> tuple[int, int, int]:
    if first:
        return (first, first + 1, first + 2)
    return (free_port(), free_port(), free_port())


def _host_storage_connection(ports: tuple[int, int, int], key: str) -> str:
    blob, queue, table = ports
    return (
        f"DefaultEndpointsProtocol=http;AccountName={HOST_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint=http://{LOOPBACK}:{blob}/{HOST_ACCOUNT};"
        f"QueueEndpoint=http://{LOOPBACK}:{queue}/{HOST_ACCOUNT};"
        f"TableEndpoint=http://{LOOPBACK}:{table}/{HOST_ACCOUNT};"
    )


def _node_env(extra: Mapping[str, str]) -> dict[str, str]:
    return {**base_environment(), **extra}


async def _start_data_azurite(port: int, key: str, certs: CertPaths, log_dir: Path) -> Child:
    argv = [
        node_executable(),
        str(NODE_DIR / "guard.js"),
        str(AZURITE / "blob" / "main.js"),
        *("--blobHost", LOOPBACK, "--blobPort", str(port)),
        *("--oauth", "basic", "--cert", str(certs.server_cert), "--key", str(certs.server_key)),
        *("--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"),
    ]
    env = _node_env({"AZURITE_ACCOUNTS": f"{DATA_ACCOUNT}:{key}"})
    return await start_child("azurite-data", argv, env=env, log_dir=log_dir, ready=ReadyPort((port,)))


async def _start_host_azurite(ports: tuple[int, int, int], key: str, log_dir: Path) -> Child:
    blob, queue, table = ports
    argv = [
        node_executable(),
        str(NODE_DIR / "guard.js"),
        str(AZURITE / "azurite.js"),
        *("--blobHost", LOOPBACK, "--blobPort", str(blob)),
        *("--queueHost", LOOPBACK, "--queuePort", str(queue)),
        *("--tableHost", LOOPBACK, "--tablePort", str(table)),
        *("--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"),
    ]
    env = _node_env({"AZURITE_ACCOUNTS": f"{HOST_ACCOUNT}:{key}"})
    return await start_child("azurite-host", argv, env=env, log_dir=log_dir, ready=ReadyPort(ports))


async def _start_cosmos(
    port: int,
    *,
    key: str,
    certs: CertPaths,
    issuer: str,
    issuer_key: Path,
    contributors: tuple[Identity, ...],
    log_dir: Path,
) -> Child:
    argv = [
        node_executable(),
        str(NODE_DIR / "cosmos.js"),
        *("--host", LOOPBACK, "--port", str(port)),
        *("--cert", str(certs.server_cert), "--key", str(certs.server_key)),
        *("--issuer-key", str(issuer_key), "--issuer", issuer, "--account-host", COSMOS_HOST),
        *("--data-contributors", ",".join(i.object_id for i in contributors)),
    ]
    env = _node_env({"COSMOS_MASTER_KEY": key})
    return await start_child("cosmos", argv, env=env, log_dir=log_dir, ready=ReadyLine())


async def _start_function_host(
    options: StackOptions,
    port: int,
    settings: Mapping[str, str],
    *,
    keys: tuple[str, str],
    log_dir: Path,
) -> Child:
    function_key, master_key = keys
    argv = [sys.executable, "-m", "devstack.funchost", "--app-dir", str(options.app_dir)]
    argv += ["--host", LOOPBACK, "--port", str(port)]
    env: dict[str, Any] = {**base_environment(), **settings}
    env["DEVSTACK_FUNCTION_KEY"] = function_key
    env["DEVSTACK_MASTER_KEY"] = master_key
    # The host imports devstack from the repo, wherever the app folder is.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return await start_child("functions", argv, env=env, log_dir=log_dir, ready=ReadyLine(), echo=options.host_echo)
