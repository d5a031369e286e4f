"""infra/ is correct by construction: every rule in rules.py holds for the real Bicep, and the roles
are exactly the least-privilege set the README promises, whichever identity kind the app runs as."""

from __future__ import annotations

import dataclasses

import pytest

from inbox.permissions import NEEDS, Target
from inbox.settings import Settings, all_setting_names, required_setting_names
from infra_model.deployment import Deployment
from infra_model.syntax import Infra, call_arguments, lookup, text

from . import rules
from .conftest import INFRA

# Built-in role definition IDs (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
QUEUE_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
TABLE_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
# Cosmos DB data-plane role "Cosmos DB Built-in Data Contributor" (a sqlRoleDefinitions id).
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
# The app's custom Cosmos DB role, named by the expression access.bicep assigns it with.
APP_INDEX_ROLE = "appIndexRole.id"

# Scopes, as (resource type, name path) inside modules/access.bicep.
HOST_ACCOUNT = ("Microsoft.Storage/storageAccounts", "hostStorageAccountName")
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
EVENTS = (CONTAINER, "dataStorageAccountName/default/eventsContainerName")
DIGESTS = (CONTAINER, "dataStorageAccountName/default/digestsContainerName")
VAULT = ("Microsoft.KeyVault/vaults", "keyVaultName")
APP_INSIGHTS = ("Microsoft.Insights/components", "applicationInsightsName")
COSMOS_DATABASE = ("Microsoft.DocumentDB/databaseAccounts/sqlDatabases", "cosmosAccountName/cosmosDatabaseName")
INDEX_CONTAINER = (
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
    "cosmosAccountName/cosmosDatabaseName/cosmosContainerName",
)

APP = "appPrincipalId"
DEVELOPER = "developerPrincipalId"

# The app's identity (user-assigned or system, the same module grants both): what the Functions host
# and the app's code need, nothing broader.
APP_GRANTS = {
    (BLOB_OWNER, *HOST_ACCOUNT),
    (QUEUE_CONTRIBUTOR, *HOST_ACCOUNT),
    (TABLE_CONTRIBUTOR, *HOST_ACCOUNT),
    (BLOB_CONTRIBUTOR, *EVENTS),
    (BLOB_CONTRIBUTOR, *DIGESTS),
    (SECRETS_USER, *VAULT),
    (APP_INDEX_ROLE, *INDEX_CONTAINER),
    (METRICS_PUBLISHER, *APP_INSIGHTS),
}
# The developer: the data roles for `func start` (Cosmos DB's broader, to look after the data),
# write access to secrets, no telemetry role.
DEVELOPER_GRANTS = {
    (BLOB_OWNER, *HOST_ACCOUNT),
    (QUEUE_CONTRIBUTOR, *HOST_ACCOUNT),
    (TABLE_CONTRIBUTOR, *HOST_ACCOUNT),
    (BLOB_CONTRIBUTOR, *EVENTS),
    (BLOB_CONTRIBUTOR, *DIGESTS),
    (SECRETS_OFFICER, *VAULT),
    (COSMOS_DATA_CONTRIBUTOR, *COSMOS_DATABASE),
}


def app_grants(infra: Infra) -> list[str]:
    return rules.grant_set(infra, APP, APP_GRANTS)


def developer_grants(infra: Infra) -> list[str]:
    return rules.grant_set(infra, DEVELOPER, DEVELOPER_GRANTS)


def grant_locations(infra: Infra) -> list[str]:
    return rules.grant_locations(infra, "modules/access.bicep", {APP, DEVELOPER})


# The data actions the app's code performs on Cosmos DB, from the code's own declaration.
COSMOS_NEEDS = [need.action for need in NEEDS if need.dependency == "cosmos"]


def cosmos_custom_roles(infra: Infra) -> list[str]:
    return rules.cosmos_custom_roles(infra, "modules/access.bicep", COSMOS_NEEDS)


def identity_modules(infra: Infra) -> list[str]:
    return rules.identity_modules(
        infra,
        access="modules/access.bicep",
        identity="modules/identity.bicep",
        function_app="modules/function-app.bicep",
    )


def settings_coverage(infra: Infra) -> list[str]:
    return rules.settings_coverage(infra, required_setting_names(), all_setting_names())


def parameters_file(infra: Infra) -> list[str]:
    return rules.parameters_file(infra, infra.root / "main.parameters.json")


RULES = {
    "syntax": rules.syntax,
    "module_sources": rules.module_sources,
    "module_params": rules.module_params,
    "module_outputs": rules.module_outputs,
    "parameters_file": parameters_file,
    "runtime": rules.runtime,
    "settings_coverage": settings_coverage,
    "identity_wiring": rules.identity_wiring,
    "identity_modules": identity_modules,
    "guarded_outputs": rules.guarded_outputs,
    "app_grants": app_grants,
    "developer_grants": developer_grants,
    "grant_locations": grant_locations,
    "no_broad_scopes": rules.no_broad_scopes,
    "principal_types": rules.principal_types,
    "grant_names": rules.grant_names,
    "cosmos_custom_roles": cosmos_custom_roles,
    "storage_accounts": rules.storage_accounts,
    "key_vaults": rules.key_vaults,
    "local_auth": rules.local_auth,
    "web_apps": rules.web_apps,
    "private_networking": rules.private_networking,
}


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_infra_follows_rule(infra: Infra, rule: str) -> None:
    assert RULES[rule](infra) == []


def test_every_bicep_file_under_infra_is_parsed() -> None:
    on_disk = {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    assert on_disk == set(Infra(INFRA).files)
    assert "main.bicep" in on_disk
    assert len(on_disk) > 1


def test_main_deploys_at_subscription_scope_and_modules_into_the_resource_group(infra: Infra) -> None:
    main = infra.main
    assert main.target_scope == "subscription"
    assert [r.type for r in main.resources.values()] == ["Microsoft.Resources/resourceGroups"]
    for module in main.modules.values():
        scope = module.get("scope")
        assert scope is not None, module.symbol
        assert text(scope) == "rg", module.symbol


def test_role_scopes_are_the_resources_the_app_uses(infra: Infra) -> None:
    """The names in access.bicep's scopes are bound to the resources main.bicep creates, the same
    for both identity kinds; only the principal differs (identity_modules checks which)."""
    main = infra.main
    user, system = (
        {name: text(value) for name, value in main.modules[symbol].params.items()}
        for symbol in ("accessForUserIdentity", "accessForSystemIdentity")
    )
    expected_scopes = {
        "developerPrincipalId": "developerAccess ? principalId : ''",
        "developerPrincipalType": "principalType",
        "hostStorageAccountName": "hostStorage.outputs.name",
        "dataStorageAccountName": "dataStorage.outputs.name",
        "eventsContainerName": "dataStorage.outputs.eventsContainerName",
        "digestsContainerName": "dataStorage.outputs.digestsContainerName",
        "keyVaultName": "keyVault.outputs.name",
        "cosmosAccountName": "cosmos.outputs.name",
        "cosmosDatabaseName": "cosmos.outputs.databaseName",
        "cosmosContainerName": "cosmos.outputs.containerName",
        "applicationInsightsName": "monitoring.outputs.applicationInsightsName",
    }
    assert {k: v for k, v in user.items() if k != "appPrincipalId"} == expected_scopes
    assert {k: v for k, v in system.items() if k != "appPrincipalId"} == expected_scopes
    assert user["appPrincipalId"] == "!useSystemIdentity ? identity.outputs.principalId : ''"
    assert system["appPrincipalId"] == "useSystemIdentity ? functionApp.outputs.principalId : ''"


def test_the_cosmos_role_covers_every_cosmos_need_on_the_index_container(infra: Infra) -> None:
    """inbox.permissions says where the app needs its Cosmos DB actions: the index container, which
    is the one container the custom role is assigned at (cosmos_custom_roles checks the actions)."""
    assert COSMOS_NEEDS
    assert {need.target for need in NEEDS if need.dependency == "cosmos"} == {Target.INDEX_CONTAINER}
    index_grants = [g for g in rules.grants_of(infra, APP) if g.role_id == APP_INDEX_ROLE]
    assert [(g.scope_type, g.scope_name) for g in index_grants] == [INDEX_CONTAINER]


def test_app_roles_are_unconditional_and_developer_roles_optional(infra: Infra) -> None:
    assert all(not g.conditional for g in rules.grants_of(infra, APP))
    assert all(g.conditional for g in rules.grants_of(infra, DEVELOPER))
    access = infra.file("modules/access.bicep")
    assert text(access.variables["grantDeveloper"]) == "!empty(developerPrincipalId)"


def test_developer_principal_type_is_a_parameter_that_accepts_service_principals(infra: Infra) -> None:
    main = infra.main
    principal_type = main.params["principalType"]
    assert main.literal(principal_type.default) == "User"
    assert "ServicePrincipal" in (principal_type.allowed_values(main) or [])


def test_function_app_waits_for_the_user_assigned_identity_roles(infra: Infra) -> None:
    main = infra.main
    assert "accessForUserIdentity" in main.modules["functionApp"].depends_on
    # The system identity's roles cannot precede the site: they reference its principal instead.
    assert "functionApp.outputs.principalId" in text(main.modules["accessForSystemIdentity"].body)


def test_identity_kind_defaults_to_user_assigned(infra: Infra) -> None:
    main = infra.main
    kind = main.params["appIdentityType"]
    assert main.literal(kind.default) == "UserAssigned"
    assert kind.allowed_values(main) == ["UserAssigned", "SystemAssigned"]


def test_runtime_is_python_313_on_flex_consumption(infra: Infra) -> None:
    file = infra.file("modules/function-app.bicep")
    site = file.resources["site"]
    assert file.literal(site.get("properties.functionAppConfig.runtime")) == {"name": "python", "version": "3.13"}


def test_scale_settings_come_from_main_bicep_parameters() -> None:
    """Each scale knob is a main.bicep parameter that reaches functionAppConfig.scaleAndConcurrency,
    with the defaults the README argues for: 16 requests in flight per instance ("Speed and
    reliability", "One Flex instance"), no always-ready instance, at most 40 instances."""
    default = _scale(rules.evaluate(Infra(INFRA)))
    assert default == {
        "maximumInstanceCount": 40,
        "instanceMemoryMB": 2048,
        "alwaysReady": [],
        "triggers": {"http": {"perInstanceConcurrency": 16}},
    }
    tuned = _scale(
        rules.evaluate(
            Infra(INFRA),
            maximumInstanceCount=100,
            instanceMemoryMB=4096,
            httpPerInstanceConcurrency=32,
            alwaysReadyInstances=2,
        )
    )
    assert tuned == {
        "maximumInstanceCount": 100,
        "instanceMemoryMB": 4096,
        "alwaysReady": [{"name": "http", "instanceCount": 2}],
        "triggers": {"http": {"perInstanceConcurrency": 32}},
    }


def _scale(deployment: Deployment) -> object:
    (site,) = deployment.of_type(rules.WEB_SITE)
    return site.properties["functionAppConfig"]["scaleAndConcurrency"]


@pytest.mark.parametrize(
    ("param", "low", "high"),
    [
        ("maximumInstanceCount", 1, 1000),
        ("httpPerInstanceConcurrency", 1, 1000),
        ("alwaysReadyInstances", 0, 1000),
    ],
)
def test_scale_parameters_are_bounded_as_flex_consumption_accepts(
    infra: Infra, param: str, low: int, high: int
) -> None:
    main = infra.main
    decorators = main.params[param].decorators
    assert main.literal(call_arguments(decorators["minValue"])[0]) == low
    assert main.literal(call_arguments(decorators["maxValue"])[0]) == high


def test_private_networking_is_off_by_default(infra: Infra) -> None:
    """The default deploys no network, so `azd up` works from a laptop and the local stack (which
    evaluates the defaults) serves what Azure would; main.bicep says why next to the parameter."""
    main = infra.main
    assert main.literal(main.params["vnetEnabled"].default) is False
    assert main.params["vnetEnabled"].type == "bool"


def test_names_the_app_uses_match_the_code(infra: Infra) -> None:
    """Container names come from the same defaults inbox/settings.py falls back to."""
    defaults = {f.metadata["env"]: f.metadata["default"] for f in dataclasses.fields(Settings)}
    main = infra.main
    assert main.literal(main.variables["eventsContainerName"]) == defaults["EVENTS_CONTAINER"]
    assert main.literal(main.variables["digestsContainerName"]) == defaults["DIGESTS_CONTAINER"]
    assert main.literal(main.variables["cosmosDatabaseName"]) == "inbox"
    assert main.literal(main.variables["cosmosContainerName"]) == "events"
    assert main.literal(main.params["webhookSources"].default) == "github"


def test_cosmos_container_is_partitioned_by_source_and_expires_with_retention(infra: Infra) -> None:
    cosmos = infra.file("modules/cosmos.bicep")
    container = cosmos.resources["container"]
    assert cosmos.literal(container.get("properties.resource.partitionKey.paths")) == ["/source"]
    ttl = container.get("properties.resource.defaultTtl")
    assert ttl is not None
    assert text(ttl) == "retentionDays * 86400"
    capabilities = cosmos.literal(cosmos.resources["account"].get("properties.capabilities"))
    assert {"name": "EnableServerless"} in capabilities


def test_archived_payloads_expire_after_retention_days(infra: Infra) -> None:
    data = infra.file("modules/data-storage.bicep")
    policy_rules = data.resources["lifecycle"].get("properties.policy.rules")
    assert policy_rules is not None
    (rule,) = policy_rules.named_children
    prefixes = lookup(rule, "definition.filters.prefixMatch")
    assert prefixes is not None
    assert [data.render(p) for p in prefixes.named_children] == ["${eventsContainer.name}/"]
    days = lookup(rule, "definition.actions.baseBlob.delete.daysAfterModificationGreaterThan")
    assert days is not None
    assert text(days) == "retentionDays"
    container_name = data.resources["eventsContainer"].get("name")
    assert container_name is not None
    assert text(container_name) == "eventsContainerName"


def test_outputs_give_azd_what_the_hook_and_app_need(infra: Infra) -> None:
    outputs = set(infra.main.outputs)
    app_level = {n for n in all_setting_names() if n not in {"AZURE_CLIENT_ID", "AZURE_TOKEN_CREDENTIALS"}}
    tunables = {"MAX_PAYLOAD_BYTES", "SECRET_CACHE_SECONDS", "REQUEST_DEADLINE_SECONDS", "AZURE_LOG_LEVEL"}
    assert app_level - tunables <= outputs
    assert {"AZURE_FUNCTION_APP_NAME", "AZURE_APP_IDENTITY_CLIENT_ID", "AZURE_KEY_VAULT_NAME"} <= outputs
    # Exported under this name, azd's environment would point DefaultAzureCredential at a
    # managed identity in every tool azd starts.
    assert "AZURE_CLIENT_ID" not in outputs
