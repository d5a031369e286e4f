"""infra_model evaluates main.bicep as a deployment would, and its grants manifest stays true.

The local stack serves what this model yields, so these tests pin that it yields what Azure would:
the app settings the site gets, resource ids, each identity kind's principal in the role
assignments, and a stale grants file, or a declared action infra/ does not grant, failing here rather
than after deploy.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from devstack import grants
from devstack.project import Project
from infra_model import access
from infra_model.deployment import IDENTITY, Context, Deferred, Deployment, EvaluationError, Principal, load
from infra_model.naming import check_names
from infra_model.resources import app_resources

from .conftest import INFRA, copy_infra, drop_resource, replace_text

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
DEVELOPER = "dddddddd-0000-0000-0000-000000000000"


def principal(resource_id: str, kind: str) -> Principal:
    ids = uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{resource_id}")
    return Principal(str(ids), f"client-{kind}", "tenant")


def deploy(infra_dir: Path = INFRA, **parameters: Any) -> Deployment:
    values = {"environmentName": "test", "location": "westeurope", "principalId": DEVELOPER, **parameters}
    return load(infra_dir, values, Context(SUBSCRIPTION, "tenant", principal))


def test_the_app_sees_the_resources_its_settings_name() -> None:
    resources = app_resources(deploy())
    settings = resources.settings
    assert settings["AZURE_KEY_VAULT_ENDPOINT"] == resources.vault.uri
    assert resources.vault.uri == f"https://{resources.vault.name}.vault.azure.net/"
    assert resources.vault.id == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.KeyVault/vaults/{resources.vault.name}"
    )
    assert resources.vault.purge_protection is True
    assert settings["EVENTS_CONTAINER"] in resources.data_account.containers
    assert settings["DIGESTS_CONTAINER"] in resources.data_account.containers
    assert resources.data_account.shared_key_access is False
    (container,) = resources.cosmos.containers
    assert (container.database, container.name) == (settings["COSMOS_DATABASE"], settings["COSMOS_CONTAINER"])
    assert container.partition_key_paths == ("/source",)
    assert container.default_ttl_seconds == 30 * 86400
    # Azure assigns the connection string; the model says so instead of inventing one.
    assert isinstance(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], Deferred)


def test_names_are_stable_per_environment_and_differ_between_environments() -> None:
    first, again = app_resources(deploy()), app_resources(deploy())
    other = app_resources(deploy(environmentName="other"))
    assert first.vault.name == again.vault.name
    assert first.vault.name != other.vault.name
    assert check_names(deploy()) == [], "every evaluated name must satisfy Azure's naming rules"


@pytest.mark.parametrize(("kind", "identity_type"), [("user", "UserAssigned"), ("system", "SystemAssigned")])
def test_the_app_roles_go_to_the_chosen_identity(kind: str, identity_type: str) -> None:
    deployment = deploy(appIdentityType=identity_type)
    resources = app_resources(deployment)
    assert resources.identity.kind == kind
    app = principal(resources.identity.resource_id, kind).principal_id
    granted = {a.role.name for a in access.assignments(deployment) if a.principal_id == app}
    assert "Key Vault Secrets User" in granted
    assert "Storage Blob Data Contributor" in granted
    assert ("AZURE_CLIENT_ID" in resources.settings) is (kind == "user")
    # The access alert's own identity holds one role of its own (tests/infra/test_monitoring.py).
    identities = deployment.of_type(IDENTITY)
    alerts = {i.properties["principalId"] for i in identities if i.id != resources.identity.resource_id}
    others = {a.principal_id for a in access.assignments(deployment)} - {app, DEVELOPER, *alerts}
    assert others == set(), "a role went to an identity the app does not run as"


def test_without_developer_access_only_the_app_holds_roles() -> None:
    deployment = deploy(developerAccess=False)
    assert DEVELOPER not in {a.principal_id for a in access.assignments(deployment)}


def test_environment_gives_the_public_cloud_suffixes(tmp_path: Path) -> None:
    """environment() as Bicep documents it for AzureCloud, as far as templates here read it."""
    (tmp_path / "main.bicep").write_text(
        "targetScope = 'subscription'\n"
        "output zone string = 'privatelink.blob.${environment().suffixes.storage}'\n"
        "output vault string = environment().suffixes.keyvaultDns\n"
        "output cloud string = environment().name\n"
    )
    outputs = load(tmp_path, {}, Context(SUBSCRIPTION, "tenant", principal)).outputs
    assert outputs == {
        "zone": "privatelink.blob.core.windows.net",
        "vault": ".vault.azure.net",
        "cloud": "AzureCloud",
    }


def test_private_networking_changes_the_network_not_the_app_settings() -> None:
    """The app keeps its public host names with vnetEnabled (the private DNS zones make them resolve to
    the endpoints inside the VNet); the site gains its integration subnet, and the accounts turn public
    access off."""
    public, private = app_resources(deploy()), app_resources(deploy(vnetEnabled=True))
    assert public.settings.keys() == private.settings.keys()
    assert {k: v for k, v in public.settings.items() if not isinstance(v, Deferred)} == {
        k: v for k, v in private.settings.items() if not isinstance(v, Deferred)
    }
    assert not public.site.properties.get("virtualNetworkSubnetId")
    deployment = deploy(vnetEnabled=True)
    (vnet,) = deployment.of_type("Microsoft.Network/virtualNetworks")
    assert private.site.properties["virtualNetworkSubnetId"] == f"{vnet.id}/subnets/app"
    endpoints = deployment.of_type("Microsoft.Network/privateEndpoints")
    targets = {
        (c["properties"]["privateLinkServiceId"], c["properties"]["groupIds"][0])
        for e in endpoints
        for c in e.properties["privateLinkServiceConnections"]
    }
    assert (private.vault.id, "vault") in targets
    assert (private.cosmos.id, "Sql") in targets
    assert (private.data_account.id, "blob") in targets


def test_a_function_the_model_does_not_know_fails_loudly(tmp_path: Path) -> None:
    root = copy_infra(tmp_path / "infra")
    replace_text(root / "main.bicep", "toLower(uniqueString(", "toLower(utcNow(")
    with pytest.raises(EvaluationError, match=r"utcNow\(\) is not modelled"):
        app_resources(deploy(root))


# ---- the grants file ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_grants_file_is_what_infra_grants() -> None:
    project = Project.find(ROOT)
    assert grants.is_current(project), (
        f"{project.grants_file.relative_to(ROOT)} is stale: run `python3 dev.py python -m devstack grants --write`"
    )


@pytest.mark.parametrize("identity_type", ["UserAssigned", "SystemAssigned"])
def test_every_declared_action_is_granted_in_either_identity_mode(identity_type: str) -> None:
    # As after `azd env set APP_IDENTITY_TYPE ...`.
    problems = grants.ungranted(Project.find(ROOT), {"APP_IDENTITY_TYPE": identity_type})
    assert problems == [], "\n".join(problems)


def test_an_action_infra_does_not_grant_is_named_with_its_fix(tmp_path: Path) -> None:
    project = Project.find(ROOT)
    root = copy_infra(tmp_path / "infra")
    drop_resource(root / "modules" / "access.bicep", "appSecretsUser")
    missing = [g for g in grants.resolve(project, root) if g.assignment is None]
    assert {g.declared.action.rsplit("/", 2)[-2] for g in missing} == {"readMetadata", "getSecret"}
    assert {g.fix for g in missing} == {
        "to grant it, assign the app's identity the built-in role 'Key Vault Secrets User' "
        "(the narrowest that has it) in infra/"
    }
