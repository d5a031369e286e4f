"""How each child process of the stack is started: its command line, environment and readiness signal.

Every port may be 0: the child then binds a free one and reports it (`Child.ports`, in the order the
arguments name them), which is how the stack starts them (children.py says why).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.certs import CertPaths
from devstack.children import (
    Child,
    Echo,
    ReadyLine,
    ReadyListening,
    base_environment,
    node_executable,
    start_child,
)
from devstack.node_packages import NODE_DIR

LOOPBACK = "127.0.0.1"
AZURITE = NODE_DIR / "node_modules" / "azurite" / "dist" / "src"
AZURITE_COMMON = ("--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent")
# Preloaded into both Azurites: lookups in their in-memory metadata use the most selective index, so
# an upload does not slow down as blobs accumulate (the module says why it did).
AZURITE_LOOKUPS = NODE_DIR / "azurite-lookups.js"


# The setting azure-identity reads the token endpoint's secret header from (App Service's protocol).
IDENTITY_HEADER_SETTING = "IDENTITY_HEADER"


async def start_data_azurite(port: int, *, account: str, key: str, certs: CertPaths, log_dir: Path) -> Child:
    """Blob for the app's data: HTTPS (bearer tokens need it) with OAuth checks on."""
    argv = [
        *_guarded(AZURITE / "blob" / "main.js"),
        *("--blobHost", LOOPBACK, "--blobPort", str(port)),
        *("--oauth", "basic", "--cert", str(certs.server_cert), "--key", str(certs.server_key)),
        *AZURITE_COMMON,
    ]
    # A random key per start replaces Azurite's well-known one, so no test can fall back to it.
    env = {**base_environment(), "AZURITE_ACCOUNTS": f"{account}:{key}"}
    ready = ReadyListening(("Blob",))
    return await start_child("azurite-data", argv, env=env, log_dir=log_dir, ready=ready, secrets=(key,))


async def start_host_azurite(ports: tuple[int, int, int], *, account: str, key: str, log_dir: Path) -> Child:
    """The Functions host's own storage (AzureWebJobsStorage for `func start`): a separate, plain account."""
    blob, queue, table = ports
    argv = [
        *_guarded(AZURITE / "azurite.js"),
        *("--blobHost", LOOPBACK, "--blobPort", str(blob)),
        *("--queueHost", LOOPBACK, "--queuePort", str(queue)),
        *("--tableHost", LOOPBACK, "--tablePort", str(table)),
        *AZURITE_COMMON,
    ]
    env = {**base_environment(), "AZURITE_ACCOUNTS": f"{account}:{key}"}
    ready = ReadyListening(("Blob", "Queue", "Table"))
    return await start_child("azurite-host", argv, env=env, log_dir=log_dir, ready=ready, secrets=(key,))


def host_storage_connection(ports: tuple[int, int, int], *, account: str, key: str) -> str:
    blob, queue, table = ports
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://{LOOPBACK}:{blob}/{account};"
        f"QueueEndpoint=http://{LOOPBACK}:{queue}/{account};"
        f"TableEndpoint=http://{LOOPBACK}:{table}/{account};"
    )


async def start_cosmos(port: int, *, log_dir: Path) -> Child:
    """The Cosmos DB data engine (devstack/node/cosmos.js): plain HTTP on loopback, no credentials of its own.

    Only a front end (`devstack.cosmos_gateway`) may be given its address: the stack's (tokens and RBAC
    from infra/), or a standalone account's (`devstack.cosmos_gateway.standalone`, with an account key)."""
    argv = [node_executable(), str(NODE_DIR / "cosmos.js"), *("--host", LOOPBACK, "--port", str(port))]
    return await start_child("cosmos", argv, env=base_environment(), log_dir=log_dir, ready=ReadyLine())


async def start_function_host(
    app_dir: Path,
    port: int,
    *,
    settings: Mapping[str, str],
    keys: tuple[str, str],
    log_dir: Path,
    echo: Echo | None,
    debug_port: int | None = None,
) -> Child:
    """The app, with its settings as environment variables, as `func start` gives them.

    With `debug_port`, the host runs under debugpy listening there (VS Code: "Attach to the local
    host"); it does not wait for the debugger, so start-up and the ready line are unchanged.
    """
    function_key, master_key = keys
    debugger = [] if debug_port is None else ["-X", "frozen_modules=off", "-m", "debugpy", "--listen"]
    debugger += [] if debug_port is None else [f"{LOOPBACK}:{debug_port}"]
    argv = [sys.executable, *debugger, "-m", "devstack.funchost", "--app-dir", str(app_dir), "--host", LOOPBACK]
    argv += ["--port", str(port)]
    env = {**base_environment(), **settings, "DEVSTACK_FUNCTION_KEY": function_key, "DEVSTACK_MASTER_KEY": master_key}
    # The keys, and the identity header that lets a caller get the app's tokens, never reach its log.
    secrets = (function_key, master_key, settings.get(IDENTITY_HEADER_SETTING, ""))
    return await start_child("functions", argv, env=env, log_dir=log_dir, ready=ReadyLine(), echo=echo, secrets=secrets)


def _guarded(script: Path) -> list[str]:
    """Run Azurite's `script` under guard.js, which ends it when the stack's stdin pipe closes."""
    return [node_executable(), "--require", str(AZURITE_LOOKUPS), str(NODE_DIR / "guard.js"), str(script)]
