"""The resources a function app's deployment contains, found by type, as the local stack serves them.

One function app (`Microsoft.Web/sites`), one Key Vault, one Cosmos DB account and two storage
accounts: the Functions host's own (the one its `AzureWebJobsStorage__blobServiceUri` setting, a
platform setting, points at) and the app's data account (the other). Names, endpoints, containers and
app settings are whatever infra/ evaluates to, so a resource renamed in the Bicep is renamed locally
too, and nothing here knows which settings an app reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from infra_model.deployment import SITE, DeployedResource, Deployment

VAULT = "Microsoft.KeyVault/vaults"
STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
BLOB_CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
COSMOS_ACCOUNT = "Microsoft.DocumentDB/databaseAccounts"
COSMOS_SQL_CONTAINER = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"


@dataclass(frozen=True)
class Vault:
    name: str
    id: str
    uri: str
    soft_delete_days: int | None
    purge_protection: bool

    @property
    def host(self) -> str:
        return _host(self.uri)


@dataclass(frozen=True)
class StorageAccount:
    name: str
    id: str
    blob_endpoint: str
    containers: tuple[str, ...]
    shared_key_access: bool
    public_blob_access: bool

    @property
    def blob_host(self) -> str:
        return _host(self.blob_endpoint)


@dataclass(frozen=True)
class CosmosContainer:
    database: str
    name: str
    partition_key_paths: tuple[str, ...]
    default_ttl_seconds: int | None


@dataclass(frozen=True)
class CosmosAccount:
    name: str
    id: str
    endpoint: str
    containers: tuple[CosmosContainer, ...]
    local_auth_disabled: bool

    @property
    def host(self) -> str:
        return _host(self.endpoint)


@dataclass(frozen=True)
class AppIdentity:
    kind: str  # "user" (user-assigned) or "system"
    resource_id: str  # the identity resource, or the site for a system identity


@dataclass(frozen=True)
class AppResources:
    site: DeployedResource
    settings: dict[str, Any]  # name -> value; Deferred where Azure assigns the value
    identity: AppIdentity
    vault: Vault
    data_account: StorageAccount
    host_account: StorageAccount  # AzureWebJobsStorage: the Functions host's own storage
    cosmos: CosmosAccount


# The Functions host's identity-based storage connection (platform setting, "Connecting to host storage
# with an identity"): the account it names is the host's own, not the app's data.
HOST_STORAGE_SETTING = "AzureWebJobsStorage__blobServiceUri"


class ModelError(ValueError):
    """infra/ deploys something the local model cannot serve; the message says what, in one line."""


def app_resources(deployment: Deployment) -> AppResources:
    site = _only(deployment, SITE, "function app")
    settings = {str(s["name"]): s["value"] for s in site.properties["siteConfig"]["appSettings"]}
    if HOST_STORAGE_SETTING not in settings:
        raise ModelError(
            f"the function app has no {HOST_STORAGE_SETTING} setting: give the host identity-based storage"
        )
    host_account = _by_endpoint(deployment, STORAGE_ACCOUNT, settings[HOST_STORAGE_SETTING])
    data_accounts = [a for a in deployment.of_type(STORAGE_ACCOUNT) if a.id != host_account.id]
    if len(data_accounts) != 1:
        raise ModelError(
            f"infra/ deploys {len(data_accounts)} storage accounts besides the host's; "
            "the local stack serves exactly one"
        )
    return AppResources(
        site=site,
        settings=settings,
        identity=_identity(site),
        vault=_vault(_only(deployment, VAULT, "Key Vault")),
        data_account=_storage(deployment, data_accounts[0]),
        host_account=_storage(deployment, host_account),
        cosmos=_cosmos(deployment, _only(deployment, COSMOS_ACCOUNT, "Cosmos DB account")),
    )


def _only(deployment: Deployment, resource_type: str, what: str) -> DeployedResource:
    found = deployment.of_type(resource_type)
    if len(found) != 1:
        raise ModelError(f"infra/ deploys {len(found)} {what}s ({resource_type}); the local stack serves exactly one")
    return found[0]


def _identity(site: DeployedResource) -> AppIdentity:
    kind = str(site.identity.get("type", ""))
    if kind == "UserAssigned":
        (resource_id,) = site.identity["userAssignedIdentities"]
        return AppIdentity("user", str(resource_id))
    if kind == "SystemAssigned":
        return AppIdentity("system", site.id)
    raise ValueError(f"the function app's identity type is {kind!r}; the model knows UserAssigned and SystemAssigned")


def _by_endpoint(deployment: Deployment, resource_type: str, endpoint: str) -> DeployedResource:
    host = _host(endpoint)
    for resource in deployment.of_type(resource_type):
        if _host(str(_endpoint_of(resource))) == host:
            return resource
    raise ModelError(f"no {resource_type} in infra/ serves {endpoint}")


def _endpoint_of(resource: DeployedResource) -> Any:
    properties = resource.properties
    return properties.get("vaultUri") or properties.get("documentEndpoint") or properties["primaryEndpoints"]["blob"]


def _vault(resource: DeployedResource) -> Vault:
    properties = resource.properties
    return Vault(
        name=resource.short_name,
        id=resource.id,
        uri=str(properties["vaultUri"]),
        soft_delete_days=properties.get("softDeleteRetentionInDays"),
        purge_protection=bool(properties.get("enablePurgeProtection", False)),
    )


def _storage(deployment: Deployment, account: DeployedResource) -> StorageAccount:
    containers = tuple(c.short_name for c in deployment.of_type(BLOB_CONTAINER) if c.id.startswith(account.id + "/"))
    properties = account.properties
    return StorageAccount(
        name=account.short_name,
        id=account.id,
        blob_endpoint=str(properties["primaryEndpoints"]["blob"]),
        containers=containers,
        # Both default to allowed in Azure when the property is absent.
        shared_key_access=bool(properties.get("allowSharedKeyAccess", True)),
        public_blob_access=bool(properties.get("allowBlobPublicAccess", True)),
    )


def _cosmos(deployment: Deployment, account: DeployedResource) -> CosmosAccount:
    containers = []
    for container in deployment.of_type(COSMOS_SQL_CONTAINER):
        if not container.id.startswith(account.id + "/"):
            continue
        _account, database, name = container.name.split("/")
        resource = container.properties["resource"]
        containers.append(
            CosmosContainer(
                database=database,
                name=name,
                partition_key_paths=tuple(resource["partitionKey"]["paths"]),
                default_ttl_seconds=resource.get("defaultTtl"),
            )
        )
    return CosmosAccount(
        name=account.short_name,
        id=account.id,
        endpoint=str(account.properties["documentEndpoint"]),
        containers=tuple(containers),
        local_auth_disabled=bool(account.properties.get("disableLocalAuth", False)),
    )


def _host(endpoint: str) -> str:
    return (urlsplit(endpoint).hostname or "").lower()
