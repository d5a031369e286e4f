"""infra/ is correct by construction: every rule in rules.py holds for the real Bicep, and the roles
are exactly the least-privilege set the README promises, whichever identity kind the app runs as.

The checks state requirements (Azure's naming rules, the app's own settings and declaration, defaults
that must agree), not this template's names: test_renames.py renames resources and runs them all.
"""

from __future__ import annotations

from typing import Any

import pytest
from infra_model.deployment import Deployment
from infra_model.naming import assigned_by_azure
from infra_model.resources import BLOB_CONTAINER, COSMOS_SQL_CONTAINER, app_resources
from infra_model.syntax import Infra, call_arguments, text

from frame.settings import SettingsError

from . import rules
from .conftest import APP_SETTINGS, DECLARATION, INFRA, all_setting_names, required_setting_names

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
# The app's custom role on the archive (create and read blobs), by the expression that names it.
APP_ARCHIVE_ROLE = "appArchiveRole.name"

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
# The identity the access alert runs as: its one role is test_monitoring.py's to check.
ALERTS = "alertPrincipalId"

# The app's identity (user-assigned or system, the same module grants both): what the Functions host
# and the app's code need, nothing broader.
APP_GRANTS = {
    (BLOB_OWNER, *HOST_ACCOUNT),
    (QUEUE_CONTRIBUTOR, *HOST_ACCOUNT),
    (TABLE_CONTRIBUTOR, *HOST_ACCOUNT),
    (APP_ARCHIVE_ROLE, *EVENTS),
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
    return rules.grant_locations(infra, "modules/access.bicep", {APP, DEVELOPER, ALERTS})


# The data actions the app's code performs on Cosmos DB, from the app's own declaration.
COSMOS_NEEDS = [action.action for resource in DECLARATION.of_service("cosmos") for action in resource.actions]


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


def names(infra: Infra) -> list[str]:
    return rules.names(infra, DECLARATION)


def declared_resources(infra: Infra) -> list[str]:
    return rules.declared_resources(infra, DECLARATION)


def app_accepts_its_settings(infra: Infra) -> list[str]:
    """With either identity kind, the app's own settings object accepts the values the deployment gives
    the function app: the sources, container names and numbers infra/ passes are ones the app takes."""
    problems = []
    for kind, deployment in rules.deployments(infra, networks=False):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        settings = app_resources(deployment).settings
        values = {name: str(value) for name, value in settings.items() if not assigned_by_azure(value)}
        try:
            for app_settings in APP_SETTINGS:
                app_settings.from_environment(values)
        except SettingsError as error:
            problems.append(
                f"the function app's settings ({kind}) are refused by the app: {error}; "
                "change the value infra/ gives it (main.bicep, or the default in main.parameters.json)"
            )
    return problems


# Any number of days: the one given must reach both expiry settings.
RETENTION_DAYS = 17
LIFECYCLE = "Microsoft.Storage/storageAccounts/managementPolicies"
# The field the app's store partitions the index by: every query it runs is scoped to one source.
PARTITION_KEY = "/source"


def retention(infra: Infra) -> list[str]:
    """Payloads and their index records expire together after retentionDays: a lifecycle rule of the
    storage account holding the EVENTS_CONTAINER container deletes block blobs under '<container>/'
    after that many days, and the Cosmos DB container COSMOS_DATABASE/COSMOS_CONTAINER name has
    defaultTtl retentionDays * 86400 seconds (and the partition key the app's queries use)."""
    try:
        deployment = rules.evaluate(infra, retentionDays=RETENTION_DAYS)
        settings = app_resources(deployment).settings
    except (ValueError, KeyError) as error:
        return [f"main.bicep does not evaluate with retentionDays={RETENTION_DAYS}: {error}"]
    # A missing setting or resource is settings_coverage's and declared_resources' to report.
    events, database, container = (settings.get(n) for n in ("EVENTS_CONTAINER", "COSMOS_DATABASE", "COSMOS_CONTAINER"))
    problems = _payloads_expire(deployment, str(events)) if events else []
    return problems + (_index_expires(deployment, str(database), str(container)) if database and container else [])


def _payloads_expire(deployment: Deployment, container: str) -> list[str]:
    holders = [c for c in deployment.of_type(BLOB_CONTAINER) if c.short_name == container]
    if not holders:
        return []
    account_id = holders[0].id.split("/blobServices/")[0]
    policies = [p for p in deployment.of_type(LIFECYCLE) if p.id.startswith(account_id + "/")]
    rules_found = [rule for policy in policies for rule in policy.properties.get("policy", {}).get("rules", [])]
    for rule in rules_found:
        definition = rule.get("definition", {})
        days = _get(definition, "actions.baseBlob.delete.daysAfterModificationGreaterThan")
        if (
            rule.get("enabled", True)
            and f"{container}/" in _get(definition, "filters.prefixMatch", [])
            and "blockBlob" in _get(definition, "filters.blobTypes", [])
            and days == RETENTION_DAYS
        ):
            return []
    account = account_id.rsplit("/", 1)[-1]
    return [
        f"no lifecycle rule of storage account {account} deletes the block blobs under '{container}/' after "
        f"retentionDays (given {RETENTION_DAYS}; {len(rules_found)} other rule(s) found); add one to its "
        "managementPolicies in infra/"
    ]


def _index_expires(deployment: Deployment, database: str, name: str) -> list[str]:
    found = [c for c in deployment.of_type(COSMOS_SQL_CONTAINER) if c.name.split("/")[1:] == [database, name]]
    if not found:
        return []
    where = f"Cosmos DB container {database}/{name} ({found[0].source})"
    resource = found[0].properties.get("resource", {})
    problems = []
    if resource.get("defaultTtl") != RETENTION_DAYS * 86400:
        problems.append(
            f"{where}: defaultTtl is {resource.get('defaultTtl')!r} with retentionDays={RETENTION_DAYS}; "
            "set it to retentionDays * 86400, so index records expire with their payloads"
        )
    paths = _get(resource, "partitionKey.paths")
    if paths != [PARTITION_KEY]:
        problems.append(
            f"{where}: partition key paths are {paths!r}; the app partitions its index by [{PARTITION_KEY!r}]"
        )
    return problems


def _get(value: Any, path: str, default: Any = None) -> Any:
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return default if value is None else value


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
    "names": names,
    "declared_resources": declared_resources,
    "app_accepts_its_settings": app_accepts_its_settings,
    "retention": retention,
}


def expect_no_problems(problems: list[str]) -> None:
    """Fail with the problems themselves, one line each, and nothing else."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_infra_follows_rule(infra: Infra, rule: str) -> None:
    expect_no_problems(RULES[rule](infra))


def test_every_bicep_file_under_infra_is_parsed() -> None:
    on_disk = {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    unread = sorted(on_disk ^ set(Infra(INFRA).files))
    assert not unread, (
        f"infra_model.syntax.Infra does not read {unread}; every .bicep file under infra/ must be checked"
    )
    assert "main.bicep" in on_disk, "infra/main.bicep is missing; azure.yaml deploys it"
    assert len(on_disk) > 1, "infra/ has no modules; the checks expect main.bicep to deploy modules/*.bicep"


def test_main_deploys_at_subscription_scope_and_modules_into_the_resource_group(infra: Infra) -> None:
    main = infra.main
    assert main.target_scope == "subscription", (
        "main.bicep must say targetScope = 'subscription' (it creates the group)"
    )
    types = [r.type for r in main.resources.values()]
    assert types == ["Microsoft.Resources/resourceGroups"], (
        f"main.bicep declares {types}; it declares only the resource group, everything else goes in a module"
    )
    (group,) = main.resources.values()
    for module in main.modules.values():
        scope = module.get("scope")
        target = infra.module_target(main, module)
        if scope is None and target is not None and target.target_scope == "subscription":
            continue  # a subscription-level module (the Activity log's setting) deploys where main.bicep does
        assert (text(scope) if scope is not None else None) == group.symbol, (
            f"main.bicep: module {module.symbol} is not deployed into the resource group; give it scope: {group.symbol}"
        )


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
        "alertPrincipalId": "monitoring.outputs.alertPrincipalId",
        "logAnalyticsName": "monitoring.outputs.logAnalyticsName",
    }
    for symbol, given in (("accessForUserIdentity", user), ("accessForSystemIdentity", system)):
        passed = {k: v for k, v in given.items() if k != "appPrincipalId"}
        differing = {k: v for k, v in passed.items() ^ expected_scopes.items()}
        assert not differing, (
            f"main.bicep: {symbol} differs in {sorted(differing)}; bind each scope to the output of the module "
            "that creates the resource, the same for both identity kinds"
        )
    assert user["appPrincipalId"] == "!useSystemIdentity ? identity.outputs.principalId : ''", (
        "main.bicep: accessForUserIdentity must grant to identity.outputs.principalId, behind !useSystemIdentity"
    )
    assert system["appPrincipalId"] == "useSystemIdentity ? functionApp.outputs.principalId : ''", (
        "main.bicep: accessForSystemIdentity must grant to functionApp.outputs.principalId, behind useSystemIdentity"
    )


def test_the_cosmos_role_covers_every_cosmos_need_on_the_index_container(infra: Infra) -> None:
    """The app declares its Cosmos DB actions on one container, its index (a declared Cosmos DB resource
    is a database and a container), which is the one container the custom role is assigned at
    (cosmos_custom_roles checks the actions, declared_resources that the container is deployed)."""
    assert COSMOS_NEEDS, "the app declares no Cosmos DB data action; this check has nothing to compare"
    declared = [resource.name for resource in DECLARATION.of_service("cosmos")]
    assert len(declared) == 1, (
        f"the app declares Cosmos DB containers {declared}; the custom role is assigned at one container, "
        "so assign it (and this check's INDEX_CONTAINER) at each"
    )
    index_grants = [(g.scope_type, g.scope_name) for g in rules.grants_of(infra, APP) if g.role_id == APP_INDEX_ROLE]
    assert index_grants == [INDEX_CONTAINER], (
        f"the app's custom Cosmos DB role is assigned at {index_grants}; assign it once, at the index container"
    )


def test_app_roles_are_unconditional_and_developer_roles_optional(infra: Infra) -> None:
    conditional = [g.symbol for g in rules.grants_of(infra, APP) if g.conditional]
    assert not conditional, f"the app's roles {conditional} are conditional; the app needs them in every deployment"
    unconditional = [g.symbol for g in rules.grants_of(infra, DEVELOPER) if not g.conditional]
    assert not unconditional, f"developer roles {unconditional} are always granted; put them behind grantDeveloper"
    access = infra.file("modules/access.bicep")
    assert text(access.variables["grantDeveloper"]) == "!empty(developerPrincipalId)", (
        "access.bicep: grantDeveloper must be !empty(developerPrincipalId), so no principal means no developer role"
    )


def test_developer_principal_type_is_a_parameter_that_accepts_service_principals(infra: Infra) -> None:
    main = infra.main
    principal_type = main.params["principalType"]
    assert main.literal(principal_type.default) == "User", "main.bicep: principalType must default to 'User'"
    assert "ServicePrincipal" in (principal_type.allowed_values(main) or []), (
        "main.bicep: principalType must allow 'ServicePrincipal', or a CI identity cannot provision"
    )


def test_function_app_waits_for_the_user_assigned_identity_roles(infra: Infra) -> None:
    main = infra.main
    assert "accessForUserIdentity" in main.modules["functionApp"].depends_on, (
        "main.bicep: functionApp must depend on accessForUserIdentity, or the host starts without its roles"
    )
    # The system identity's roles cannot precede the site: they reference its principal instead.
    assert "functionApp.outputs.principalId" in text(main.modules["accessForSystemIdentity"].body), (
        "main.bicep: accessForSystemIdentity must read functionApp.outputs.principalId"
    )


def test_identity_kind_defaults_to_user_assigned(infra: Infra) -> None:
    main = infra.main
    kind = main.params["appIdentityType"]
    assert main.literal(kind.default) == "UserAssigned", "main.bicep: appIdentityType must default to 'UserAssigned'"
    assert kind.allowed_values(main) == ["UserAssigned", "SystemAssigned"], (
        f"main.bicep: appIdentityType allows {kind.allowed_values(main)}; allow exactly UserAssigned, SystemAssigned"
    )


def test_runtime_is_python_313_on_flex_consumption(infra: Infra) -> None:
    for file, site in rules.function_apps(infra):
        runtime = file.literal(site.get("properties.functionAppConfig.runtime"))
        assert runtime == {"name": "python", "version": "3.13"}, (
            f"{file.path.name}: {site.symbol} runs {runtime}; set functionAppConfig.runtime to python 3.13"
        )


SCALE_PARAMS = ("maximumInstanceCount", "instanceMemoryMB", "httpPerInstanceConcurrency", "alwaysReadyInstances")


def test_scale_settings_come_from_main_bicep_parameters(infra: Infra) -> None:
    """Each scale knob is a main.bicep parameter that reaches functionAppConfig.scaleAndConcurrency:
    its default when none is given (main.parameters.json's defaults agree, parameters_file checks it),
    and any value given. Always-ready instances go to the group of all HTTP functions, `http`."""
    main = infra.main
    defaults = {name: main.literal(main.params[name].default) for name in SCALE_PARAMS}
    assert _scale(rules.evaluate(infra)) == _expected_scale(**defaults), (
        "functionAppConfig.scaleAndConcurrency does not carry main.bicep's scale parameters' defaults; "
        f"pass each of {', '.join(SCALE_PARAMS)} through to function-app.bicep"
    )
    given = {"maximumInstanceCount": 100, "instanceMemoryMB": 4096, "httpPerInstanceConcurrency": 32}
    given["alwaysReadyInstances"] = 2
    assert _scale(rules.evaluate(infra, **given)) == _expected_scale(**given), (
        f"functionAppConfig.scaleAndConcurrency does not follow the scale parameters given ({given}); "
        "pass each through to function-app.bicep"
    )


def _expected_scale(
    maximumInstanceCount: int, instanceMemoryMB: int, httpPerInstanceConcurrency: int, alwaysReadyInstances: int
) -> dict[str, Any]:
    ready = [{"name": "http", "instanceCount": alwaysReadyInstances}] if alwaysReadyInstances else []
    return {
        "maximumInstanceCount": maximumInstanceCount,
        "instanceMemoryMB": instanceMemoryMB,
        "alwaysReady": ready,
        "triggers": {"http": {"perInstanceConcurrency": httpPerInstanceConcurrency}},
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


def test_the_sources_the_app_accepts_come_from_the_webhook_sources_parameter(infra: Infra) -> None:
    """Whatever sources are deployed, the app is told them (WEBHOOK_SOURCES), and each has a signing
    secret name the app declares: a source added with `azd env set WEBHOOK_SOURCES` needs no other edit."""
    given = "alpha,beta-2"
    settings = app_resources(rules.evaluate(infra, webhookSources=given)).settings
    assert settings.get("WEBHOOK_SOURCES") == given, (
        f"webhookSources={given!r} gave the function app WEBHOOK_SOURCES={settings.get('WEBHOOK_SOURCES')!r}; "
        "pass main.bicep's webhookSources through to that app setting"
    )
    secrets = {name for r in DECLARATION.of_service("keyvault") for name in r.secrets(settings)}
    assert len(secrets) == len(given.split(",")), (
        f"{DECLARATION.path.name} declares secrets {sorted(secrets)} for sources {given!r}; "
        "declare one signing secret per source (secret-names with a {WEBHOOK_SOURCES} placeholder)"
    )


def test_cosmos_db_is_serverless(infra: Infra) -> None:
    """The README's cost model: Cosmos DB bills per request, with nothing provisioned."""
    accounts = [(file, r) for file, r in infra.resources_of_type(rules.COSMOS_ACCOUNT) if not r.existing]
    assert accounts, "infra/ deploys no Cosmos DB account"
    for file, account in accounts:
        capabilities = file.literal(account.get("properties.capabilities")) or []
        assert {"name": "EnableServerless"} in capabilities, (
            f"{file.path.name}: {account.symbol} is not serverless; "
            "add {name: 'EnableServerless'} to its capabilities"
        )


def test_outputs_give_azd_what_the_hook_and_app_need(infra: Infra) -> None:
    outputs = set(infra.main.outputs)
    app_level = {n for n in all_setting_names() if n not in {"AZURE_CLIENT_ID", "AZURE_TOKEN_CREDENTIALS"}}
    tunables = {"MAX_PAYLOAD_BYTES", "SECRET_CACHE_SECONDS", "REQUEST_DEADLINE_SECONDS", "AZURE_LOG_LEVEL"}
    assert app_level - tunables <= outputs
    assert {"AZURE_FUNCTION_APP_NAME", "AZURE_APP_IDENTITY_CLIENT_ID", "AZURE_KEY_VAULT_NAME"} <= outputs
    # Exported under this name, azd's environment would point DefaultAzureCredential at a
    # managed identity in every tool azd starts.
    assert "AZURE_CLIENT_ID" not in outputs
