"""Drive the app through the local function host, and look behind it as the developer identity.

Requests go to the host over HTTP exactly as a sender or API caller sends them. To prepare and check
state (secret versions, blobs, index records), tests use the stack's "developer" identity, which holds
the roles a developer gets from Bicep (Key Vault Secrets Officer, data contributor roles), through the
same managed-identity token endpoint the app uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.cosmos import ContainerProxy, CosmosClient
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from devstack.testing import StackInfo

from webhooks.signing import sign

KeyKind = str  # "function", "master" or "none"


@dataclass
class Inbox:
    stack: StackInfo
    credential: TokenCredential
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return f"{self.stack.env.host_url}/api/{path}"

    # --- calling the app -------------------------------------------------------------------------

    def deliver(
        self,
        source: str,
        body: bytes,
        *,
        secret: str | None = None,
        event_id: str | None = None,
        event_type: str = "push",
        signature: str | None = None,
        content_type: str = "application/json",
    ) -> requests.Response:
        headers = {"Content-Type": content_type, "X-GitHub-Event": event_type}
        if event_id is not None:
            headers["X-GitHub-Delivery"] = event_id
        if signature is None:
            signature = sign(secret if secret is not None else self.secret(source), body)
        if signature:
            headers["X-Hub-Signature-256"] = signature
        return self.http.post(self.url(f"webhooks/{source}"), data=body, headers=headers, timeout=60)

    def get(
        self, path: str, *, key: KeyKind = "function", params: Mapping[str, str] | None = None
    ) -> requests.Response:
        headers = {}
        if key != "none":
            headers["x-functions-key"] = self.stack.env.function_key if key == "function" else self.stack.env.master_key
        return self.http.get(self.url(path), headers=headers, params=params, timeout=60)

    def run_timer(self, name: str) -> requests.Response:
        return self.http.post(
            f"{self.stack.env.host_url}/admin/functions/{name}?wait=true",
            json={"input": ""},
            headers={"x-functions-key": self.stack.env.master_key},
            timeout=120,
        )

    # --- looking behind the app as the developer -------------------------------------------------

    @property
    def _proxies(self) -> dict[str, str]:
        # Explicit, not from the environment: every stack serves the same Azure host names.
        return {"https": self.stack.settings["HTTPS_PROXY"]}

    @property
    def vault(self) -> SecretClient:
        return SecretClient(
            self.stack.settings["AZURE_KEY_VAULT_ENDPOINT"],
            self.credential,
            connection_verify=self.stack.ca,
            proxies=self._proxies,
        )

    def secret(self, source: str) -> str:
        value = self.vault.get_secret(f"webhook-{source}").value
        assert value
        return value

    def container(self, name: str) -> ContainerClient:
        service = BlobServiceClient(
            self.stack.settings["AZURE_STORAGE_BLOB_ENDPOINT"],
            self.credential,
            connection_verify=self.stack.ca,
            proxies=self._proxies,
        )
        return service.get_container_client(name)

    @property
    def index(self) -> ContainerProxy:
        s = self.stack.settings
        client = CosmosClient(
            s["AZURE_COSMOS_ENDPOINT"], self.credential, connection_verify=self.stack.ca, proxies=self._proxies
        )
        return client.get_database_client(s["COSMOS_DATABASE"]).get_container_client(s["COSMOS_CONTAINER"])

    def records(self, source: str, event_id: str) -> list[dict[str, Any]]:
        query = "SELECT * FROM c WHERE c.source = @s AND c.id = @id"
        parameters: list[dict[str, Any]] = [{"name": "@s", "value": source}, {"name": "@id", "value": event_id}]
        return list(self.index.query_items(query, parameters=parameters, partition_key=source))

    def blobs(self, prefix: str) -> list[str]:
        return [b.name for b in self.container("events").list_blobs(name_starts_with=prefix)]

    def fault(self, service: str, spec: Mapping[str, Any] | None) -> None:
        """Make Key Vault or Cosmos answer errors (spec) or behave again (None)."""
        url = self.stack.env.devstack[f"{service}FaultsUrl"]
        proxies = {"https": "", "http": ""}
        if spec is None:
            response = requests.delete(url, verify=self.stack.ca, proxies=proxies, timeout=10)
        else:
            response = requests.post(url, json=spec, verify=self.stack.ca, proxies=proxies, timeout=10)
        response.raise_for_status()


def new_id() -> str:
    return str(uuid.uuid4())


PROBLEM = "application/problem+json"


def assert_problem(response: requests.Response, status: int, slug: str) -> dict[str, Any]:
    """The answer is a problem+json document of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:webhook-inbox:problem:{slug}"
    assert body["status"] == status
    return body
