"""The whole local stack: what runs where, in which order, and what the app is told about it.

In-process (one asyncio loop): the token endpoint, the Key Vault fake, the Blob gateway, the Cosmos DB
front end and the host-name proxy: every token check and RBAC decision of the stack happens here.
Child processes (see launchers.py): Azurite for the data account (HTTPS + OAuth), Azurite for the
Functions host's own storage (plain), the Cosmos DB data engine (loopback, reached only through its
front end) and the local function host.

`python -m devstack up` and the pytest fixtures both run `start_stack`, so tests exercise exactly what a
developer starts.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import functools
import os
import secrets
import ssl
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from infra_model.authorization import Authorizer

from devstack import launchers, provision
from devstack.audit import AUDIT_FOLDER, AuditLog
from devstack.blob_gateway import create_blob_gateway, storage_audiences
from devstack.certs import CertPaths, ensure_certificates
from devstack.children import Child, ChildFailed, Echo
from devstack.cosmos_gateway import DEFAULT_RETRY_AFTER_MS, Throttle, cosmos_audiences, create_cosmos_gateway
from devstack.declaration import Declaration
from devstack.faults import FAULTS_PATH, FaultMode, Gate, create_faults_app
from devstack.host_proxy import HostProxy
from devstack.identities import LocalIdentities
from devstack.identity_endpoint import APP_SERVICE_PATH, create_identity_app
from devstack.keyvault import DeletionPolicy, SeedSecret, create_keyvault_app, load_seed
from devstack.launchers import LOOPBACK
from devstack.local_deployment import SUBSCRIPTION_ID, LocalDeployment, deploy
from devstack.node_packages import ensure_node_packages
from devstack.preflight import HOST_PORT_OPTION, StartError, port_taken_message, private_folder
from devstack.project import Project
from devstack.refusals import ObservedAuthorizer, Refusals
from devstack.settings_files import EnvFile, write_dotenv, write_env_file, write_local_settings
from devstack.tokens import Tenant, TokenVerifier

KEY_VAULT_RESOURCE = "https://vault.azure.net"
DEFAULT_HOST_PORT = 7071
DOTENV = ".env"  # beside test.http, where the REST Client extension looks for it


@dataclass(frozen=True)
class Ports:
    """0 means "pick a free one"; `functions=None` leaves the app to `func start`."""

    token: int = 0
    keyvault: int = 0
    proxy: int = 0
    blob: int = 0
    cosmos: int = 0  # the Cosmos DB front end (the engine behind it always binds a free port)
    host_storage: int = 0  # the first of three (blob, queue, table)
    functions: int | None = DEFAULT_HOST_PORT


@dataclass(frozen=True)
class StackOptions:
    project: Project  # the app: its entry point, infra/ and declaration ([tool.devstack])
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    # azd environment values (`azd env set NAME VALUE`) that main.parameters.json reads.
    environment: Mapping[str, str] = field(default_factory=dict)
    # Declared secrets left unset, as right after `azd up`: secret names, or the values that fill a
    # declared name's {SETTING} placeholder.
    unseeded: tuple[str, ...] = ()
    seed_file: Path | None = None
    certs_dir: Path | None = None  # default: <state_dir>/certs
    # The Bicep the stack serves instead of the project's (a copy with a grant removed shows what Azure
    # would refuse).
    infra_dir: Path | None = None
    # The vault's purge protection: None serves infra/'s enablePurgeProtection; False lets purges run.
    vault_purge_protection: bool | None = None
    # App settings added to (or overriding) the stack's own, e.g. SECRET_CACHE_SECONDS for tests.
    extra_settings: Mapping[str, str] = field(default_factory=dict)
    write_local_settings: bool = True
    force_local_settings: bool = False
    # The port debugpy listens on in the function host, for an editor to attach to; None = no debugger.
    debug_port: int | None = None
    # Where the function host's log lines go besides its log file (the terminal for `up`).
    host_echo: Echo | None = None
    # Where each refusal of the app's identity is shown (the terminal for `up`); None: nowhere.
    refusal_echo: Echo | None = None
    colour: bool = False  # ANSI colours on refusal lines
    # Cosmos DB answers item requests 429 (x-ms-retry-after-ms, sub-status 3200) from the start, as a
    # provisioned container over its RU/s; the faults control point's "throttle" mode switches it too.
    cosmos_throttle: bool = False
    cosmos_retry_after_ms: int = DEFAULT_RETRY_AFTER_MS


@dataclass
class RunningStack:
    children: list[Child] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    proxies: list[HostProxy] = field(default_factory=list)
    env_file: EnvFile = field(default_factory=EnvFile.empty)

    async def stop(self) -> None:
        # Children in reverse order of start: the function host first, as the only client of the rest.
        for child in reversed(self.children):
            await child.stop()
        for proxy in self.proxies:
            await proxy.close()
        for runner in self.runners:
            await runner.cleanup()


def _account_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


@dataclass(frozen=True)
class _Plan:
    """Everything decided before anything starts: certificates, tenant, identities, keys and ports."""

    options: StackOptions
    certs: CertPaths
    tenant: Tenant
    people: LocalIdentities
    local: LocalDeployment
    access_file: Path
    log_dir: Path
    identity_header: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    function_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    master_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    data_key: str = field(default_factory=_account_key)
    host_key: str = field(default_factory=_account_key)

    @classmethod
    def make(cls, options: StackOptions) -> _Plan:
        state = options.state_dir
        log_dir = private_folder(state / "logs")
        tenant = Tenant()
        certs = ensure_certificates(options.certs_dir or state / "certs")
        people = LocalIdentities()
        infra_dir = options.infra_dir or options.project.infra_dir
        local = deploy(people, tenant.tenant_id, infra_dir=infra_dir, environment=options.environment)
        access_file = local.authorizer.write(state / "access.json")
        return cls(options, certs, tenant, people, local, access_file, log_dir)


@dataclass(frozen=True)
class _ServicePorts:
    """Where the Node services listen, as they reported it."""

    blob: int
    cosmos_engine: int
    host_storage: tuple[int, int, int]  # blob, queue, table


@dataclass(frozen=True)
class _Endpoints:
    token: int
    vault: int
    proxy: int
    blob_gateway: int
    blob: int
    cosmos: int  # the front end
    host_storage: tuple[int, int, int]
    data_account: str
    faults: int

    @property
    def token_base(self) -> str:
        return f"http://{LOOPBACK}:{self.token}"

    @property
    def vault_direct(self) -> str:
        return f"https://{LOOPBACK}:{self.vault}"

    @property
    def blob_direct(self) -> str:
        return f"https://{LOOPBACK}:{self.blob}/{self.data_account}"

    @property
    def cosmos_direct(self) -> str:
        return f"https://localhost:{self.cosmos}/"


async def start_stack(options: StackOptions) -> RunningStack:
    ensure_node_packages()
    plan = _Plan.make(options)
    refusals = _refusals(plan)
    running = RunningStack()
    try:
        # The Node services first: they bind their own ports, which the gateway and the proxy need.
        services = await _start_services(plan, running)
        endpoints = await _serve_in_process(plan, services, running, refusals)
        await _provision(plan, endpoints, services)
        settings = _app_settings(plan, endpoints)
        host_url = await _start_function_host(plan, settings, running)
        running.env_file = _describe(plan, endpoints, settings, host_url, running)
        app_dir = options.project.root
        if options.write_local_settings:
            write_local_settings(app_dir / "local.settings.json", settings, force=options.force_local_settings)
            if host_url:
                write_dotenv(app_dir / DOTENV, running.env_file)
        write_env_file(options.state_dir / "env.json", running.env_file)
    except BaseException:
        await running.stop()
        raise
    return running


def _refusals(plan: _Plan) -> Refusals | None:
    echo = plan.options.refusal_echo
    if echo is None:
        return None
    options = plan.options
    return Refusals.for_app(
        options.project,
        infra_dir=options.infra_dir,
        environment=options.environment,
        resources=plan.local.resources,
        people=plan.people,
        out=echo,
        colour=options.colour,
    )


def _observed(app: web.Application, service: str, refusals: Refusals | None) -> web.Application:
    """`app` reporting the refusals of the app's identity (it must decide with an ObservedAuthorizer)."""
    if refusals is not None:
        app.middlewares.append(refusals.middleware(service))
    return app


def _audited(app: web.Application, audit: AuditLog, service: str, resource_id: str, name: str = "") -> web.Application:
    """`app` writing an access-audit record per data-plane request (it must decide with an ObservedAuthorizer)."""
    app.middlewares.append(audit.middleware(service, resource_id, name))
    return app


async def _closed(audit: AuditLog) -> None:
    audit.close()


async def _serve_in_process(
    plan: _Plan, services: _ServicePorts, running: RunningStack, refusals: Refusals | None
) -> _Endpoints:
    """The token endpoint, the vault, the Blob gateway and the proxy, in front of the running `services`."""
    ports, resources = plan.options.ports, plan.local.resources
    # Observed always: the access audit (devstack/audit.py) records each decision with its request.
    authorizer: Authorizer = ObservedAuthorizer(plan.local.authorizer)
    audit = AuditLog(plan.log_dir / AUDIT_FOLDER, subscription_id=SUBSCRIPTION_ID)
    token_faults = Gate()
    identity_app = create_identity_app(
        tenant=plan.tenant, directory=plan.people.directory(), identity_header=plan.identity_header, faults=token_faults
    )
    token_port = await _serve(identity_app, ports.token, running, option="--token-port")
    vault_app = create_keyvault_app(
        verifier=TokenVerifier(plan.tenant.public_key_pem(), plan.tenant.issuer, {KEY_VAULT_RESOURCE}),
        tenant_id=plan.tenant.tenant_id,
        authorizer=authorizer,
        vault_id=resources.vault.id,
        seed=_seed_secrets(plan.options, plan.local),
        deletion=DeletionPolicy.for_vault(resources.vault, purge_protection=plan.options.vault_purge_protection),
    )
    vault_app.on_cleanup.append(lambda _app: _closed(audit))
    vault_port = await _serve(
        _audited(_observed(vault_app, "keyvault", refusals), audit, "keyvault", resources.vault.id),
        ports.keyvault,
        running,
        tls=plan.certs,
        option="--keyvault-port",
    )
    blob_port = services.blob
    account = resources.data_account
    gateway = create_blob_gateway(
        upstream=f"https://{LOOPBACK}:{blob_port}",
        upstream_ca=plan.certs.ca,
        verifier=TokenVerifier(plan.tenant.public_key_pem(), plan.tenant.issuer, storage_audiences(account.name)),
        authorizer=authorizer,
        account_name=account.name,
        account_id=account.id,
        tenant_id=plan.tenant.tenant_id,
    )
    audited_gateway = _audited(_observed(gateway, "blob", refusals), audit, "blob", account.id, account.name)
    gateway_port = await _serve(audited_gateway, 0, running, tls=plan.certs)
    cosmos = resources.cosmos
    throttle = Throttle(on=plan.options.cosmos_throttle, retry_after_ms=plan.options.cosmos_retry_after_ms)
    cosmos_app = create_cosmos_gateway(
        engine=f"http://{LOOPBACK}:{services.cosmos_engine}",
        verifier=TokenVerifier(plan.tenant.public_key_pem(), plan.tenant.issuer, cosmos_audiences(cosmos.host)),
        authorizer=authorizer,
        account_name=cosmos.name,
        account_id=cosmos.id,
        throttle=throttle,
    )
    audited_cosmos = _audited(_observed(cosmos_app, "cosmos", refusals), audit, "cosmos", cosmos.id)
    cosmos_port = await _serve(audited_cosmos, ports.cosmos, running, tls=plan.certs, option="--cosmos-port")
    proxy = HostProxy(
        {
            f"{resources.vault.host}:443": (LOOPBACK, vault_port),
            f"{account.blob_host}:443": (LOOPBACK, gateway_port),
            f"{resources.cosmos.host}:443": (LOOPBACK, cosmos_port),
        }
    )
    running.proxies.append(proxy)
    try:
        proxy_port = await proxy.start(LOOPBACK, ports.proxy)
    except OSError as error:
        raise _bind_error(error, ports.proxy, "--proxy-port") from None
    # The one control point for injected outages (devstack/faults.py): each target is a switch.
    faults = create_faults_app(
        {
            "identity": token_faults.set,
            "keyvault": functools.partial(proxy.fault, host=resources.vault.host),
            "blob": functools.partial(proxy.fault, host=account.blob_host),
            "cosmos": functools.partial(_cosmos_fault, proxy=proxy, host=cosmos.host, throttle=throttle),
            "proxy": proxy.fault,
        },
        modes={"cosmos": ("refuse", "freeze", "throttle")},
        active={"cosmos": "throttle"} if throttle.on else None,
    )
    faults_port = await _serve(faults, 0, running)
    host_ports = services.host_storage
    return _Endpoints(
        token_port, vault_port, proxy_port, gateway_port, blob_port, cosmos_port, host_ports, account.name, faults_port
    )


def _cosmos_fault(mode: FaultMode | None, *, proxy: HostProxy, host: str, throttle: Throttle) -> None:
    """Cosmos DB's switch: "throttle" is the front end's 429s; "refuse" and "freeze" are the proxy's."""
    throttle.set(mode == "throttle")
    proxy.fault(None if mode == "throttle" else mode, host=host)


async def _start_services(plan: _Plan, running: RunningStack) -> _ServicePorts:
    """Both Azurites and the Cosmos DB engine, in parallel; any that started is stopped if another fails.

    A port left at 0 is bound by the child itself, which reports it (children.py says why)."""
    resources, ports = plan.local.resources, plan.options.ports
    first = ports.host_storage
    starts: list[Coroutine[Any, Any, Child]] = [
        launchers.start_data_azurite(
            ports.blob, account=resources.data_account.name, key=plan.data_key, certs=plan.certs, log_dir=plan.log_dir
        ),
        launchers.start_host_azurite(
            (first, first + 1, first + 2) if first else (0, 0, 0),
            account=plan.local.resources.host_account.name,
            key=plan.host_key,
            log_dir=plan.log_dir,
        ),
        launchers.start_cosmos(0, log_dir=plan.log_dir),
    ]
    outcomes = await asyncio.gather(*starts, return_exceptions=True)
    started = [o for o in outcomes if isinstance(o, Child)]
    running.children.extend(started)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    data, host, cosmos_engine = started
    host_blob, host_queue, host_table = host.ports
    return _ServicePorts(data.ports[0], cosmos_engine.ports[0], (host_blob, host_queue, host_table))


async def _provision(plan: _Plan, endpoints: _Endpoints, services: _ServicePorts) -> None:
    """What Bicep creates in Azure: blob containers over Azurite's own address, with the key only the stack
    knows; Cosmos DB databases and containers in the engine behind its front end, as the resource provider
    does."""
    resources = plan.local.resources
    await provision.blob_containers(
        endpoints.blob_direct,
        account=endpoints.data_account,
        key=plan.data_key,
        names=resources.data_account.containers,
        ca=plan.certs.ca,
    )
    for container in resources.cosmos.containers:
        await provision.cosmos_container(f"http://{LOOPBACK}:{services.cosmos_engine}", container=container)


def _app_settings(plan: _Plan, endpoints: _Endpoints) -> dict[str, str]:
    return {
        # What Core Tools needs locally (Flex Consumption rejects it in Azure), and the host's own storage.
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": launchers.host_storage_connection(
            endpoints.host_storage, account=plan.local.resources.host_account.name, key=plan.host_key
        ),
        # The site's app settings, as infra/ deploys them.
        **plan.local.app_settings(),
        # Local only: where the managed-identity credential gets tokens, which CA to trust, and the
        # proxy that maps the Azure host names above to the local services. Azure needs none of these.
        "IDENTITY_ENDPOINT": f"{endpoints.token_base}{APP_SERVICE_PATH}",
        "IDENTITY_HEADER": plan.identity_header,
        "SSL_CERT_FILE": str(plan.certs.ca_bundle),
        "REQUESTS_CA_BUNDLE": str(plan.certs.ca_bundle),
        "HTTPS_PROXY": f"http://{LOOPBACK}:{endpoints.proxy}",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        **plan.options.extra_settings,
    }


async def _start_function_host(plan: _Plan, settings: Mapping[str, str], running: RunningStack) -> str:
    """The app on the local host; "" when the port is left to `func start`."""
    port = plan.options.ports.functions
    if port is None:
        return ""
    try:
        host = await launchers.start_function_host(
            plan.options.project.root,
            port,  # 0: the host binds a free port and reports it
            settings=settings,
            keys=(plan.function_key, plan.master_key),
            log_dir=plan.log_dir,
            echo=plan.options.host_echo,
            debug_port=plan.options.debug_port,
        )
    except ChildFailed as failure:
        # Taken since `up` checked it: say so in one line, as `up` would have.
        if port and "address already in use" in str(failure).lower():
            raise StartError(port_taken_message(port, HOST_PORT_OPTION)) from None
        raise
    running.children.append(host)
    return f"http://{LOOPBACK}:{host.ports[0]}"


def _describe(
    plan: _Plan, endpoints: _Endpoints, settings: dict[str, str], host_url: str, running: RunningStack
) -> EnvFile:
    return EnvFile(
        host_url=host_url,
        function_key=plan.function_key,
        master_key=plan.master_key,
        token_stats_url=f"{endpoints.token_base}/stats",
        keyvault_stats_url=f"{endpoints.vault_direct}/stats",
        ca_bundle=str(plan.certs.ca_bundle),
        settings=settings,
        devstack={
            "identities": plan.people.as_json(),
            "tenantId": plan.tenant.tenant_id,
            "imdsAuthorityHost": endpoints.token_base,
            "tokenMintUrl": f"{endpoints.token_base}/_devstack/mint",
            "keyvaultDirectUrl": endpoints.vault_direct,
            "blobDirectUrl": endpoints.blob_direct,
            "cosmosDirectUrl": endpoints.cosmos_direct,
            "keyvaultFaultsUrl": f"{endpoints.vault_direct}/_devstack/faults",
            "cosmosFaultsUrl": f"{endpoints.cosmos_direct}_devstack/faults",
            # Outages of any dependency, the token endpoint or the proxy: refuse or freeze (devstack/faults.py).
            "faultsUrl": f"http://{LOOPBACK}:{endpoints.faults}{FAULTS_PATH}",
            # What each service decided, per principal, action and scope, and which assignment allowed it.
            "authorizationsUrls": {
                "keyvault": f"{endpoints.vault_direct}/_devstack/authorizations",
                "blob": f"https://{LOOPBACK}:{endpoints.blob_gateway}/_devstack/authorizations",
                "cosmos": f"{endpoints.cosmos_direct}_devstack/authorizations",
            },
            "accessFile": str(plan.access_file),
            # What infra/ deploys, by Azure endpoint: the app's settings name them however it likes.
            "endpoints": {
                "vault": plan.local.resources.vault.uri,
                "blob": plan.local.resources.data_account.blob_endpoint,
                "cosmos": plan.local.resources.cosmos.endpoint,
            },
            "resourceIds": {
                "vault": plan.local.resources.vault.id,
                "dataAccount": plan.local.resources.data_account.id,
                "cosmos": plan.local.resources.cosmos.id,
            },
            # The proxy that joins those Azure host names to the local services, and the token endpoint.
            "proxyUrl": f"http://{LOOPBACK}:{endpoints.proxy}",
            "tokenEndpoint": f"{endpoints.token_base}{APP_SERVICE_PATH}",
            "caCert": str(plan.certs.ca),
            "logDir": str(plan.log_dir),
            "pids": {"stack": os.getpid(), **{c.name: c.pid for c in running.children}},
        },
    )


async def _serve(
    app: web.Application, port: int, running: RunningStack, *, tls: CertPaths | None = None, option: str = ""
) -> int:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    running.runners.append(runner)
    ssl_context = None
    if tls is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls.server_cert, tls.server_key)
    site = web.TCPSite(runner, LOOPBACK, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as error:
        raise _bind_error(error, port, option) from None
    server = site._server
    assert isinstance(server, asyncio.Server)
    return int(server.sockets[0].getsockname()[1])


def _bind_error(error: OSError, port: int, option: str) -> Exception:
    """A port taken since `up` checked it, in `up`'s words; any other failure as it is."""
    if error.errno == errno.EADDRINUSE and port and option:
        return StartError(port_taken_message(port, option))
    return error


def declared_secrets(project: Project, local: LocalDeployment) -> dict[str, str]:
    """Each secret name the app declares (`secret-names` of its Key Vault resources) with the setting
    value that filled its placeholder: `--unseeded` takes either."""
    settings = local.app_settings()
    declared: dict[str, str] = {}
    for resource in Declaration.load(project.access_file).of_service("keyvault"):
        declared.update(resource.secrets(settings))
    return declared


def _seed_secrets(options: StackOptions, local: LocalDeployment) -> list[SeedSecret]:
    """The seed file's secrets, plus a random value for each secret the app declares, except those left
    unseeded (as right after `azd up`, when the vault is empty)."""
    declared = declared_secrets(options.project, local)
    chosen = set(options.unseeded)
    left_out = {name for name, value in declared.items() if {name, value} & chosen}
    unknown = sorted(chosen - set(declared) - set(declared.values()))
    if unknown:
        raise StartError(
            f"--unseeded names no declared secret: {', '.join(unknown)} (declared: {', '.join(declared) or 'none'})"
        )
    seed = [s for s in (load_seed(options.seed_file) if options.seed_file else []) if s.name not in left_out]
    named = {s.name for s in seed}
    seed += [
        SeedSecret(name=name, value=secrets.token_urlsafe(32)) for name in declared if name not in named | left_out
    ]
    return seed
