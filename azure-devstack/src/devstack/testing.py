"""Helpers for code that drives the stack from outside: the pytest fixtures, benchmarks and tools.

`StackProcess` runs `python -m devstack up` exactly as a developer does (on free ports, into a state
folder of its own) and waits for env.json; `StackInfo` reads what that file says.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from azure.core.credentials import AccessToken

from devstack.project import Project, ProjectError
from devstack.settings_files import EnvFile

START_TIMEOUT_SECONDS = 120.0

Flavour = Literal["app_service", "imds"]
FLAVOURS: tuple[Flavour, ...] = ("app_service", "imds")
IDENTITY_VARIABLES = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "MSI_ENDPOINT")


def state_root() -> Path:
    """The state folder of the app around the working directory (its certificates are reused), or
    `.devstack` here when there is none."""
    try:
        return Project.find().state_dir
    except ProjectError:
        return Path.cwd() / ".devstack"


class StackProcess:
    """`project_dir`: the app to serve (default: the one around the working directory)."""

    def __init__(self, state_dir: Path, extra_args: Sequence[str] = (), *, project_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self.env_path = state_dir / "env.json"
        # The stack's own output: readable by its owner only, like the logs it writes.
        stack_log = os.open(state_dir / "stack.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "devstack", "up", "--state-dir", str(state_dir), "--host-port", "0"),
                *("--no-local-settings", "--quiet", "--exit-on-stdin-eof", *extra_args),
            ],
            cwd=project_dir or Project.find().root,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stack_log,
        )
        os.close(stack_log)

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> StackInfo:
        deadline = time.monotonic() + timeout
        while not self.env_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.state_dir / "stack.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"the local stack did not start (exit {self.process.returncode}):\n{log}")
            time.sleep(0.05)
        return StackInfo(EnvFile.load(self.env_path), self.state_dir)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        return self.process.returncode


@dataclass(frozen=True)
class StackInfo:
    env: EnvFile
    state_dir: Path

    @property
    def vault_url(self) -> str:
        return str(self.env.devstack["endpoints"]["vault"])

    @property
    def blob_url(self) -> str:
        """The data account's blob endpoint."""
        return str(self.env.devstack["endpoints"]["blob"])

    @property
    def cosmos_url(self) -> str:
        return str(self.env.devstack["endpoints"]["cosmos"])

    @property
    def settings(self) -> Mapping[str, str]:
        return self.env.settings

    @property
    def ca(self) -> str:
        return str(self.env.ca_bundle)

    def client_id(self, who: str) -> str:
        return str(self.env.devstack["identities"][who]["clientId"])

    def object_id(self, who: str) -> str:
        return str(self.env.devstack["identities"][who]["objectId"])

    def identity_environment(self, flavour: Flavour) -> dict[str, str]:
        """The variables through which azure-identity finds the token endpoint, in one protocol."""
        if flavour == "app_service":
            return {k: self.settings[k] for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.env.devstack["imdsAuthorityHost"]}

    def network_environment(self) -> dict[str, str]:
        """Proxy settings that route `*.vault.azure.net` to the local vault, as the app gets them."""
        return {k: self.settings[k] for k in ("HTTPS_PROXY", "NO_PROXY")}

    def mint(
        self,
        resource: str,
        *,
        who: str = "app",
        lifetime: int = 3600,
        issued_at: float | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        spec: dict[str, Any] = {"resource": resource, "clientId": self.client_id(who), "lifetimeSeconds": lifetime}
        if issued_at is not None:
            spec["issuedAt"] = issued_at
        if claims:
            spec["claims"] = dict(claims)
        headers = {"X-IDENTITY-HEADER": self.settings["IDENTITY_HEADER"], "Content-Type": "application/json"}
        reply = _http_json(self.env.devstack["tokenMintUrl"], method="POST", body=spec, headers=headers)
        return str(reply["access_token"])

    def token_counts(self) -> dict[tuple[str, str], int]:
        stats = _http_json(self.env.token_stats_url)
        return {(row["clientId"], row["resource"]): row["count"] for row in stats["requests"]}

    def keyvault_counts(self) -> dict[str, int]:
        return dict(_http_json(self.env.keyvault_stats_url, ca=self.env.devstack["caCert"]))

    def authorizations(self) -> dict[str, list[dict[str, Any]]]:
        """Every RBAC decision each service made so far (Decision.as_json() with a count), by service."""
        urls: dict[str, str] = self.env.devstack["authorizationsUrls"]
        ca = self.env.devstack["caCert"]
        return {service: list(_http_json(url, ca=ca)["decisions"]) for service, url in urls.items()}

    def pids(self) -> dict[str, int]:
        return dict(self.env.devstack["pids"])

    # --- outages (devstack/faults.py) ------------------------------------------------------------

    def fault(self, target: str, mode: str) -> None:
        """Make "keyvault", "blob", "cosmos", "identity" or "proxy" "refuse" or "freeze" until cleared; "cosmos"
        also "throttle" (429 with x-ms-retry-after-ms, sub-status 3200, as a container over its RU/s)."""
        _http_json(self.env.devstack["faultsUrl"], method="POST", body={"target": target, "mode": mode})

    def clear_faults(self, target: str | None = None) -> None:
        """Clear one target's fault, or every fault; held connections move on."""
        query = f"?{urllib.parse.urlencode({'target': target})}" if target else ""
        _http_json(self.env.devstack["faultsUrl"] + query, method="DELETE")

    def faults(self) -> dict[str, str]:
        return dict(_http_json(self.env.devstack["faultsUrl"])["faults"])

    def freeze_child(self, name: str) -> None:
        """SIGSTOP a child process by its name in pids() ("cosmos", "azurite-data", ...): it accepts, never answers."""
        os.kill(self.pids()[name], signal.SIGSTOP)

    def thaw_child(self, name: str) -> None:
        os.kill(self.pids()[name], signal.SIGCONT)

    def kill_child(self, name: str) -> None:
        """SIGKILL a child: gone for good (nothing restarts it), so only for a stack of the test's own."""
        os.kill(self.pids()[name], signal.SIGKILL)


class StaticTokenCredential:
    """Presents one fixed token: how tests hand a service an expired or foreign token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


class AsyncStaticTokenCredential(StaticTokenCredential):
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


def _http_json(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    ca: str | None = None,
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    context = ssl.create_default_context(cafile=ca) if ca else None
    # Loopback only: never through a proxy the developer may have configured.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited but not been reaped by its parent; it runs nothing.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True
