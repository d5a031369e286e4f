"""infra/ deployed to the local tenant: the names, settings and grants the stack serves.

`azd up` runs main.bicep with main.parameters.json resolved against the azd environment; the stack
evaluates the same files with a local azd environment (infra_model.parameters, infra_model.deployment)
and serves what comes out: the vault, account and Cosmos
DB names, the containers, the app settings of the site, and every role assignment, enforced per
data action by the three local services. Nothing here names a resource or a role.

The local identities stand in for what Azure creates: the user-assigned identity resource is the
local "app" identity, the site's system identity the local "system" one, and the deploying
developer (`principalId`) the local "developer".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_model import access, deployment
from infra_model.authorization import Authorizer
from infra_model.deployment import Context, Deferred, Deployment, Principal
from infra_model.naming import check_names
from infra_model.parameters import azd_parameters
from infra_model.resources import AppResources, ModelError, app_resources

from devstack.identities import LocalIdentities

# The local azd environment: what `azd env new` and the sign-in would supply.
ENVIRONMENT_NAME = "local"
LOCATION = "local"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000c0de"  # a subscription only the local tenant has

# App settings of the site that the Functions host consumes itself (its own storage and telemetry).
# Locally the host gets a plain Azurite instead, and Application Insights does not exist.
HOST_PLATFORM_SETTINGS = ("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_")


@dataclass(frozen=True)
class LocalDeployment:
    deployment: Deployment
    resources: AppResources
    authorizer: Authorizer

    def app_settings(self) -> dict[str, str]:
        """The site's app settings, minus those the Functions host itself consumes."""
        settings: dict[str, str] = {}
        for name, value in self.resources.settings.items():
            if name.startswith(HOST_PLATFORM_SETTINGS):
                continue
            if isinstance(value, Deferred):
                raise ModelError(f"app setting {name} is {value}: the local stack cannot serve it")
            settings[name] = str(value)
        return settings


def deploy(
    people: LocalIdentities,
    tenant_id: str,
    *,
    infra_dir: Path,
    environment: Mapping[str, str] | None = None,
) -> LocalDeployment:
    """`environment`: azd environment values (`azd env set NAME VALUE`) over the local defaults."""
    azd_environment = {
        "AZURE_ENV_NAME": ENVIRONMENT_NAME,
        "AZURE_LOCATION": LOCATION,
        "AZURE_PRINCIPAL_ID": people.developer.object_id,
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
        **(environment or {}),
    }
    parameters: dict[str, Any] = azd_parameters(infra_dir, azd_environment)
    # azd supplies these three whether or not the parameters file maps them.
    parameters.setdefault("environmentName", azd_environment["AZURE_ENV_NAME"])
    parameters.setdefault("location", azd_environment["AZURE_LOCATION"])
    parameters.setdefault("principalId", azd_environment["AZURE_PRINCIPAL_ID"])
    # Which user-assigned identity the site runs as is known only once the deployment is evaluated:
    # a first pass finds it (every identity gets a principal of its own), the second gives it the
    # local app identity's ids, which the local tokens carry.
    first = deployment.load(infra_dir, parameters, Context(SUBSCRIPTION_ID, tenant_id, _Principals(people, tenant_id)))
    site_identity = app_resources(first).identity
    app_identity = site_identity.resource_id if site_identity.kind == "user" else None
    principals = _Principals(people, tenant_id, app_identity=app_identity)
    evaluated = deployment.load(infra_dir, parameters, Context(SUBSCRIPTION_ID, tenant_id, principals))
    # Azure refuses the whole deployment for one bad name, so the stack does too, in the same words.
    names = check_names(evaluated)
    if names:
        raise ModelError("\n".join(f"Azure would refuse this name: {problem}" for problem in names))
    resources = app_resources(evaluated)
    _check_servable(resources)
    return LocalDeployment(deployment=evaluated, resources=resources, authorizer=access.authorizer(evaluated))


def _check_servable(resources: AppResources) -> None:
    """The local services emulate accounts as infra/ declares them: keys and anonymous access off.

    A Bicep change that turns either on would make Azure accept requests the stack refuses, so the
    stack says so instead of silently serving something else.
    """
    account, cosmos = resources.data_account, resources.cosmos
    unsupported = [
        f"{account.name} allows shared keys (allowSharedKeyAccess)" if account.shared_key_access else "",
        f"{account.name} allows anonymous blob access (allowBlobPublicAccess)" if account.public_blob_access else "",
        f"{cosmos.name} allows keys (disableLocalAuth is not true)" if not cosmos.local_auth_disabled else "",
    ]
    found = [problem for problem in unsupported if problem]
    if found:
        raise ModelError("the local stack serves only key-less accounts, but " + "; ".join(found))


class _Principals:
    """The ids Azure would give each managed identity of the deployment: the site's system identity is
    the local "system" one, the user-assigned identity the site runs as the local "app" one, and any
    other identity (an alert rule's, say) ids of its own, derived from its resource id, that no local
    token carries."""

    def __init__(self, people: LocalIdentities, tenant_id: str, *, app_identity: str | None = None) -> None:
        self._people = people
        self._tenant_id = tenant_id
        self._app_identity = (app_identity or "").lower()

    def __call__(self, resource_id: str, kind: str) -> Principal:
        if kind == "system":
            identity = self._people.system
        elif resource_id.lower() == self._app_identity:
            identity = self._people.app
        else:
            derived = uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower())
            return Principal(str(derived), str(uuid.uuid5(derived, "client")), self._tenant_id)
        return Principal(identity.object_id, identity.client_id, self._tenant_id)
