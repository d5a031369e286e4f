"""Each rule catches the mistake it exists for: a copy of infra/ with one deliberate error fails it.

Every case names the file, the edit, the rule that must object and a fragment of its message. The
edit must match the file exactly as often as stated, so a stale case fails loudly instead of
passing against an unchanged copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from . import rules
from .conftest import Mutate
from .test_bicep import RETENTION_DAYS, RULES


@dataclass(frozen=True)
class Case:
    file: str
    old: str = ""
    new: str = ""
    expect: int = 1
    drop: str = ""
    rule: str = ""
    message: str = ""
    also: tuple[str, ...] = field(default=())


APP_INDEX_SCOPE = "scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}/colls/${cosmosContainerName}'"

CASES = {
    # The mistakes the issue names.
    "shared key access turned on": Case(
        "modules/host-storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: true",
        rule="storage_accounts",
        message="allowSharedKeyAccess is True",
    ),
    "role widened to the resource group": Case(
        "modules/access.bicep",
        "roleIds.storageBlobDataContributor)\n  scope: digestsContainer\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roleIds.storageBlobDataContributor)\n    principalId: appPrincipalId",
        "roleIds.storageBlobDataContributor)\n  scope: resourceGroup()\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roleIds.storageBlobDataContributor)\n    principalId: appPrincipalId",
        rule="no_broad_scopes",
        message="at resourceGroup scope",
        also=("app_grants",),
    ),
    "role scope left out (defaults to the resource group)": Case(
        "modules/access.bicep",
        "name: guid(keyVault.id, appPrincipalId, roleIds.keyVaultSecretsUser)\n  scope: keyVault\n",
        "name: guid(keyVault.id, appPrincipalId, roleIds.keyVaultSecretsUser)\n",
        rule="no_broad_scopes",
        message="appSecretsUser grants",
        also=("app_grants",),
    ),
    "role dropped": Case(
        "modules/access.bicep",
        drop="appMetricsPublisher",
        rule="app_grants",
        message="missing ('3913510d-42f4-4e42-8a64-420c390055eb'",
    ),
    "module param renamed": Case(
        "modules/function-app.bicep",
        "webhookSources",
        "webhookSourceList",
        expect=2,
        rule="module_params",
        message="passes undeclared param webhookSources",
    ),
    "principalType hard-coded to 'User'": Case(
        "modules/access.bicep",
        "principalType: developerPrincipalType",
        "principalType: 'User'",
        expect=6,
        rule="principal_types",
        message="hard-codes principalType 'User'",
    ),
    "runtime set to dotnet-isolated": Case(
        "modules/function-app.bicep",
        "name: 'python'",
        "name: 'dotnet-isolated'",
        rule="runtime",
        message="'dotnet-isolated', not 'python'",
    ),
    # More of the same kind.
    "public blob access turned on": Case(
        "modules/data-storage.bicep",
        "allowBlobPublicAccess: false",
        "allowBlobPublicAccess: true",
        rule="storage_accounts",
        message="allowBlobPublicAccess is True",
    ),
    "Key Vault back on access policies": Case(
        "modules/key-vault.bicep",
        "enableRbacAuthorization: true",
        "enableRbacAuthorization: false\n    accessPolicies: []",
        rule="key_vaults",
        message="enableRbacAuthorization is False",
    ),
    "Cosmos DB keys turned on": Case(
        "modules/cosmos.bicep",
        "disableLocalAuth: true",
        "disableLocalAuth: false",
        rule="local_auth",
        message="disableLocalAuth is False",
    ),
    "Application Insights accepts instrumentation keys": Case(
        "modules/monitoring.bicep",
        "DisableLocalAuth: true",
        "DisableLocalAuth: false",
        rule="local_auth",
        message="DisableLocalAuth is False",
    ),
    "Cosmos DB role widened to the account": Case(
        "modules/access.bicep",
        APP_INDEX_SCOPE,
        "scope: cosmosAccount.id",
        rule="app_grants",
        message="unexpected ('appIndexRole.id', 'Microsoft.DocumentDB/databaseAccounts',",
        also=("cosmos_custom_roles",),
    ),
    "role granted outside access.bicep": Case(
        "modules/key-vault.bicep",
        "output name string = vault.name",
        "resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
        "  name: guid(vault.id, readerId, 'reader')\n  scope: vault\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'reader')\n"
        "    principalId: readerId\n    principalType: 'Group'\n  }\n}\n\noutput name string = vault.name",
        rule="grant_locations",
        message="reader assigns a role outside modules/access.bicep",
    ),
    "role granted twice under a random name": Case(
        "modules/access.bicep",
        "name: guid(applicationInsights.id, appPrincipalId, roleIds.monitoringMetricsPublisher)",
        "name: guid(appPrincipalId, roleIds.monitoringMetricsPublisher, utcNow())",
        rule="grant_names",
        message="appMetricsPublisher name is not guid(applicationInsights.id",
    ),
    "FTP publishing left on": Case(
        "modules/function-app.bicep",
        "name: 'ftp'\n  properties: {\n    allow: false",
        "name: 'ftp'\n  properties: {\n    allow: true",
        rule="web_apps",
        message="does not disable ftp basic publishing credentials",
    ),
    "FUNCTIONS_WORKER_RUNTIME set (Flex rejects it)": Case(
        "modules/function-app.bicep",
        "var commonSettings = [\n",
        "var commonSettings = [\n  {\n    name: 'FUNCTIONS_WORKER_RUNTIME'\n    value: 'python'\n  }\n",
        rule="runtime",
        message="app setting FUNCTIONS_WORKER_RUNTIME is not allowed on Flex Consumption",
    ),
    "ftpsState set (deprecated on Flex)": Case(
        "modules/function-app.bicep",
        "      minTlsVersion: '1.2'\n",
        "      minTlsVersion: '1.2'\n      ftpsState: 'Disabled'\n",
        rule="runtime",
        message="siteConfig.ftpsState is deprecated",
    ),
    "app setting the app requires is missing": Case(
        "modules/function-app.bicep",
        "  {\n    name: 'WEBHOOK_SOURCES'\n    value: webhookSources\n  }\n",
        "",
        rule="settings_coverage",
        message="missing app setting WEBHOOK_SOURCES",
    ),
    "app setting name misspelt": Case(
        "modules/function-app.bicep",
        "name: 'COSMOS_DATABASE'",
        "name: 'COSMOS_DATABSE'",
        rule="settings_coverage",
        message="app setting COSMOS_DATABSE is not read by the app",
    ),
    "host storage by connection string": Case(
        "modules/function-app.bicep",
        "name: 'AzureWebJobsStorage__credential'\n    value: 'managedidentity'",
        "name: 'AzureWebJobsStorage'\n    value: 'DefaultEndpointsProtocol=https;AccountName=x'",
        rule="identity_wiring",
        message="AzureWebJobsStorage is a connection string",
    ),
    "user-assigned app told to use the system-assigned identity": Case(
        "modules/function-app.bicep",
        "name: 'AZURE_CLIENT_ID'\n    value: identityClientId",
        "name: 'AZURE_CLIENT_ID'\n    value: ''",
        rule="identity_wiring",
        message="(UserAssigned): AZURE_CLIENT_ID must be the identity's client ID",
    ),
    "module path misspelt": Case(
        "main.bicep",
        "module cosmos 'modules/cosmos.bicep'",
        "module cosmos 'modules/cosmosdb.bicep'",
        rule="module_sources",
        message="modules/cosmosdb.bicep does not exist",
    ),
    "registry module not pinned": Case(
        "main.bicep",
        "module identity 'modules/identity.bicep'",
        "module identity 'br/public:avm/res/managed-identity/user-assigned-identity:latest'",
        rule="module_sources",
        message="is not pinned to an exact version",
    ),
    "output renamed under its users": Case(
        "modules/cosmos.bicep",
        "output endpoint string",
        "output documentEndpoint string",
        rule="module_outputs",
        message="cosmos.outputs.endpoint: modules/cosmos.bicep has no such output",
    ),
    "required module param not passed": Case(
        "main.bicep",
        "    retentionDays: retentionDays\n    vnetEnabled: vnetEnabled\n  }\n}\n\nmodule keyVault",
        "    vnetEnabled: vnetEnabled\n  }\n}\n\nmodule keyVault",
        rule="module_params",
        message="does not pass required param retentionDays",
    ),
    "parameters file names an unknown param": Case(
        "main.parameters.json",
        '"webhookSources"',
        '"webhookSource"',
        rule="parameters_file",
        message="webhookSource is not a param of main.bicep",
    ),
    "parameters file default drifts from main.bicep": Case(
        "main.parameters.json",
        "${WEBHOOK_SOURCES=github}",
        "${WEBHOOK_SOURCES=gitlab}",
        rule="parameters_file",
        message="webhookSources defaults to 'gitlab', main.bicep to 'github'",
    ),
    "parameters file misses a required param": Case(
        "main.parameters.json",
        '"environmentName": {\n      "value": "${AZURE_ENV_NAME}"\n    },\n',
        "",
        rule="parameters_file",
        message="required param environmentName is missing",
    ),
    "listKeys() in a template": Case(
        "modules/host-storage.bicep",
        "output name string = account.name",
        "output name string = account.listKeys().keys[0].value",
        rule="local_auth",
        message="listKeys() puts a key in the deployment",
    ),
    "child resource nested where the walker cannot see it": Case(
        "modules/key-vault.bicep",
        "    enableRbacAuthorization: true\n",
        "    enableRbacAuthorization: true\n  }\n  resource s 'secrets' = {\n    name: 'x'\n    properties: {}\n",
        rule="syntax",
        message="nested resource declaration",
    ),
    "member access on a ternary the parser misreads": Case(
        "main.bicep",
        "identityId: !useSystemIdentity ? identity.outputs.id : ''",
        "identityId: useSystemIdentity ? '' : identity.outputs.id",
        rule="syntax",
        message="as `(c ? a : b).x`",
    ),
    # The app's custom Cosmos DB role: exactly the code's data actions, only at the index container.
    "custom Cosmos role gains items/upsert": Case(
        "modules/access.bicep",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create'\n",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create'\n"
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/upsert'\n",
        rule="cosmos_custom_roles",
        message="grants Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/upsert, which the app",
    ),
    "custom Cosmos role widened to items/*": Case(
        "modules/access.bicep",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create'\n"
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/read'\n",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/*'\n",
        rule="cosmos_custom_roles",
        message="containers/items/* is a wildcard",
    ),
    "custom Cosmos role loses executeQuery": Case(
        "modules/access.bicep",
        "          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'\n",
        "",
        rule="cosmos_custom_roles",
        message="lacks Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery",
    ),
    "custom Cosmos role assigned at database scope": Case(
        "modules/access.bicep",
        APP_INDEX_SCOPE,
        "scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}'",
        rule="app_grants",
        message="unexpected ('appIndexRole.id', 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases',",
        also=("cosmos_custom_roles",),
    ),
    "custom Cosmos role assignable anywhere in the account": Case(
        "modules/access.bicep",
        "    assignableScopes: [\n      '${cosmosAccount.id}/dbs/${cosmosDatabaseName}/colls/${cosmosContainerName}'\n",
        "    assignableScopes: [\n      cosmosAccount.id\n",
        rule="cosmos_custom_roles",
        message="assignableScopes ['cosmosAccount.id'] must be exactly where it is assigned",
    ),
    "custom Cosmos role renamed on every deployment": Case(
        "modules/access.bicep",
        "name: guid(cosmosAccount.id, cosmosDatabaseName, cosmosContainerName, 'app-event-index')",
        "name: guid(cosmosAccount.id, utcNow())",
        rule="cosmos_custom_roles",
        message="name must be guid(...) of stable values",
    ),
    # Both identity kinds wired consistently.
    "system-identity access module given the user-assigned principal": Case(
        "main.bicep",
        "appPrincipalId: useSystemIdentity ? functionApp.outputs.principalId : ''",
        "appPrincipalId: useSystemIdentity ? identity.outputs.principalId : ''",
        rule="identity_modules",
        message="(SystemAssigned): accessForSystemIdentity grants the app's roles to identity.outputs.principalId",
        also=("guarded_outputs",),
    ),
    "AZURE_CLIENT_ID left in for the system identity": Case(
        "modules/function-app.bicep",
        "var userAssignedSettings = useSystemIdentity ? [] : [",
        "var userAssignedSettings = [",
        rule="identity_wiring",
        message="(SystemAssigned): AZURE_CLIENT_ID must be absent",
    ),
    "deployment package always read as the user-assigned identity": Case(
        "modules/function-app.bicep",
        "type: useSystemIdentity ? 'SystemAssignedIdentity' : 'UserAssignedIdentity'",
        "type: 'UserAssignedIdentity'",
        rule="identity_wiring",
        message="(SystemAssigned): the deployment package is not read with the system identity",
    ),
    "telemetry sent as a user-assigned identity the system-identity app lacks": Case(
        "modules/function-app.bicep",
        "value: useSystemIdentity ? 'Authorization=AAD' : 'ClientId=${identityClientId};Authorization=AAD'",
        "value: 'ClientId=${identityClientId};Authorization=AAD'",
        rule="identity_wiring",
        message="(SystemAssigned): APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'Authorization=AAD'",
    ),
    "function app no longer waits for the user-assigned identity's roles": Case(
        "main.bicep",
        "  dependsOn: [\n    accessForUserIdentity\n  ]\n",
        "",
        rule="identity_modules",
        message="functionApp does not depend on accessForUserIdentity",
    ),
    "user-assigned identity created for the system-identity app too": Case(
        "main.bicep",
        "module identity 'modules/identity.bicep' = if (!useSystemIdentity) {",
        "module identity 'modules/identity.bicep' = {",
        rule="identity_modules",
        message="(SystemAssigned): identity must deploy only for a user-assigned identity",
    ),
    "both access modules deployed for one kind": Case(
        "main.bicep",
        "module accessForSystemIdentity 'modules/access.bicep' = if (useSystemIdentity) {",
        "module accessForSystemIdentity 'modules/access.bicep' = {",
        rule="identity_modules",
        message="(UserAssigned): 2 modules/access.bicep modules deploy, not exactly one",
    ),
    "identity switch compared with a kind that does not exist": Case(
        "modules/function-app.bicep",
        "var useSystemIdentity = identityType == 'SystemAssigned'",
        "var useSystemIdentity = identityType == 'System'",
        rule="identity_modules",
        message="function-app.bicep: useSystemIdentity must be `<identity type param> == 'SystemAssigned'`",
    ),
    "conditional module output read unguarded": Case(
        "main.bicep",
        "identityClientId: !useSystemIdentity ? identity.outputs.clientId : ''",
        "identityClientId: identity.outputs.clientId",
        rule="guarded_outputs",
        message="identity.outputs.clientId is read outside a ternary on (!useSystemIdentity)",
        also=("identity_modules",),
    ),
    "role assignments generated by a loop the checks cannot expand": Case(
        "modules/access.bicep",
        "resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
        "resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for i in range(0, 1): {",
        rule="syntax",
        message="`for` loop; the checks do not expand loops",
    ),
    # Private networking (vnetEnabled true), evaluated as a deployment.
    "private endpoint without its DNS zone group": Case(
        "modules/private-endpoint.bicep",
        drop="zoneGroup",
        rule="private_networking",
        message="-vault: no private DNS zone group, so its host name still resolves to the public address",
    ),
    "DNS zone not linked to the VNet": Case(
        "modules/network.bicep",
        drop="vaultZoneLink",
        rule="private_networking",
        message="privatelink.vaultcore.azure.net is not linked to vnet-",
    ),
    "Key Vault public access left on in vnet mode": Case(
        "modules/key-vault.bicep",
        "publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'",
        "publicNetworkAccess: 'Enabled'",
        rule="private_networking",
        message="publicNetworkAccess is 'Enabled', must be 'Disabled'",
    ),
    "storage default network rule left Allow in vnet mode": Case(
        "modules/data-storage.bicep",
        "defaultAction: vnetEnabled ? 'Deny' : 'Allow'",
        "defaultAction: 'Allow'",
        rule="private_networking",
        message="networkAcls.defaultAction is 'Allow', must be 'Deny'",
    ),
    "Cosmos DB public access left on in vnet mode": Case(
        "modules/cosmos.bicep",
        "publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'",
        "publicNetworkAccess: 'Enabled'",
        rule="private_networking",
        message="(modules/cosmos.bicep:account): publicNetworkAccess is 'Enabled'",
    ),
    "host storage queue without a private endpoint": Case(
        "modules/network.bicep",
        "groupId: 'queue'",
        "groupId: 'file'",
        rule="private_networking",
        message="no private endpoint for queue of ",
    ),
    "endpoint's DNS zone for another API": Case(
        "modules/network.bicep",
        "cosmos: 'privatelink.documents.azure.com'",
        "cosmos: 'privatelink.mongo.cosmos.azure.com'",
        rule="private_networking",
        message="not to a deployed privatelink.documents.azure.com",
    ),
    "Flex subnet delegated to App Service plans": Case(
        "modules/network.bicep",
        "serviceName: 'Microsoft.App/environments'",
        "serviceName: 'Microsoft.Web/serverFarms'",
        rule="private_networking",
        message="delegated to ['Microsoft.Web/serverFarms']",
    ),
    "function app not integrated into the VNet": Case(
        "main.bicep",
        "virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''",
        "virtualNetworkSubnetId: ''",
        rule="private_networking",
        message="virtualNetworkSubnetId (none) is not a subnet",
    ),
    "private endpoints placed in the app's delegated subnet": Case(
        "modules/network.bicep",
        "var privateEndpointSubnetId = '${vnet.id}/subnets/${privateEndpointSubnetName}'",
        "var privateEndpointSubnetId = '${vnet.id}/subnets/${appSubnetName}'",
        rule="private_networking",
        message="is in the app's delegated subnet",
    ),
    "network deployed without vnetEnabled": Case(
        "main.bicep",
        "module network 'modules/network.bicep' = if (vnetEnabled) {",
        "module network 'modules/network.bicep' = {",
        rule="private_networking",
        message="vnetEnabled=false: deploys Microsoft.Network/virtualNetworks",
    ),
    # Names Azure refuses, and names the app's settings point at that infra/ does not deploy.
    "vault name longer than Azure allows": Case(
        "main.bicep",
        "name: 'kv-${resourceToken}'",
        "name: 'kv-${resourceToken}-too-long'",
        rule="names",
        message="is 25 characters; Azure allows 3-24 alphanumerics and hyphens",
    ),
    "subnet name ending with a hyphen": Case(
        "modules/network.bicep",
        "var appSubnetName = 'app'",
        "var appSubnetName = 'app-'",
        rule="names",
        message="(modules/network.bicep:vnet) ends with '-'",
    ),
    "the app told to archive into a container infra/ does not deploy": Case(
        "main.bicep",
        "    eventsContainerName: dataStorage.outputs.eventsContainerName\n"
        "    digestsContainerName: dataStorage.outputs.digestsContainerName\n    webhookSources: webhookSources",
        "    eventsContainerName: 'payloads'\n"
        "    digestsContainerName: dataStorage.outputs.digestsContainerName\n    webhookSources: webhookSources",
        rule="declared_resources",
        message="EVENTS_CONTAINER names blob container 'payloads', which infra/ does not deploy in storage account",
    ),
    "the app told to index into a database infra/ does not deploy": Case(
        "main.bicep",
        "    cosmosDatabaseName: cosmos.outputs.databaseName\n    cosmosContainerName: cosmos.outputs.containerName\n"
        "    eventsContainerName: dataStorage.outputs.eventsContainerName\n"
        "    digestsContainerName: dataStorage.outputs.digestsContainerName\n    webhookSources",
        "    cosmosDatabaseName: 'elsewhere'\n    cosmosContainerName: cosmos.outputs.containerName\n"
        "    eventsContainerName: dataStorage.outputs.eventsContainerName\n"
        "    digestsContainerName: dataStorage.outputs.digestsContainerName\n    webhookSources",
        rule="declared_resources",
        message="COSMOS_DATABASE/COSMOS_CONTAINER name Cosmos DB container 'elsewhere/",
    ),
    "a source name the app refuses": Case(
        "main.bicep",
        "param webhookSources string = 'github'",
        "param webhookSources string = 'GitHub'",
        rule="app_accepts_its_settings",
        message="are refused by the app: WEBHOOK_SOURCES: 'GitHub'",
        also=("parameters_file",),
    ),
    "payloads kept forever": Case(
        "modules/data-storage.bicep",
        "daysAfterModificationGreaterThan: retentionDays",
        "daysAfterModificationGreaterThan: 36500",
        rule="retention",
        message="deletes the block blobs under '",
    ),
    "lifecycle rule on the wrong container": Case(
        "modules/data-storage.bicep",
        "'${eventsContainer.name}/'",
        "'${digestsContainer.name}/'",
        rule="retention",
        message=f"after retentionDays (given {RETENTION_DAYS}",
    ),
    "index records kept longer than payloads": Case(
        "modules/cosmos.bicep",
        "defaultTtl: retentionDays * 86400",
        "defaultTtl: -1",
        rule="retention",
        message="defaultTtl is -1 with retentionDays=",
    ),
    "index partitioned by event type": Case(
        "modules/cosmos.bicep",
        "'/source'",
        "'/type'",
        rule="retention",
        message="partition key paths are ['/type']; the app partitions its index by ['/source']",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_catches_mistake(mutant: Mutate, case: str) -> None:
    spec = CASES[case]
    broken = mutant(spec.file, spec.old, spec.new, expect=spec.expect, drop=spec.drop)
    problems = RULES[spec.rule](broken)
    assert any(spec.message in p for p in problems), problems
    for other in spec.also:
        assert RULES[other](broken) != [], f"{other} did not object"


def test_every_rule_has_a_mistake_it_catches() -> None:
    assert {case.rule for case in CASES.values()} == set(RULES) - {"developer_grants"}


def test_developer_grants_catch_a_missing_secrets_officer(mutant: Mutate) -> None:
    broken = mutant("modules/access.bicep", drop="devSecretsOfficer")
    assert any("missing ('b86a8fe4" in p for p in RULES["developer_grants"](broken))
    assert RULES["app_grants"](broken) == []


def test_grant_set_reports_extra_roles(mutant: Mutate) -> None:
    broken = mutant(
        "modules/access.bicep",
        "roleIds.keyVaultSecretsUser)\n    principalId: appPrincipalId",
        "roleIds.keyVaultSecretsOfficer)\n    principalId: appPrincipalId",
    )
    problems = rules.grant_set(broken, "appPrincipalId", set())
    assert any("b86a8fe4-44ce-4948-aee5-eccb2c155cd7" in p for p in problems)


def test_pinned_registry_module_is_accepted(mutant: Mutate) -> None:
    broken = mutant(
        "main.bicep",
        "module identity 'modules/identity.bicep'",
        "module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1'",
    )
    assert rules.module_sources(broken) == []


def test_a_vault_name_azure_refuses_is_one_line_saying_so(mutant: Mutate) -> None:
    """A vault name of 25 characters (Azure allows 24) fails `azd up`; here it is the one problem,
    whatever the identity kind or networking mode, stated with its Bicep location and Azure's rule."""
    broken = mutant("main.bicep", "name: 'kv-${resourceToken}'", "name: 'kv-${resourceToken}-too-long'")
    (vault,) = rules.evaluate(broken).of_type(rules.KEY_VAULT)
    assert len(vault.short_name) == 25, f"the mutation should give a 25-character name, not {vault.short_name!r}"
    assert RULES["names"](broken) == [
        f"Key Vault name '{vault.short_name}' (modules/key-vault.bicep:vault) is 25 characters; Azure allows "
        "3-24 alphanumerics and hyphens, starting with a letter, ending with a letter or digit, "
        "no consecutive hyphens (resource-name-rules: Microsoft.KeyVault)"
    ]


def test_an_uppercase_blob_container_name_is_one_line_saying_so(mutant: Mutate) -> None:
    broken = mutant("main.bicep", "var digestsContainerName = 'digests'", "var digestsContainerName = 'Digests'")
    assert RULES["names"](broken) == [
        "Blob container name 'Digests' (modules/data-storage.bicep:digestsContainer) contains 'D'; Azure allows "
        "3-63 lowercase letters, digits and hyphens, starting with a lowercase letter or digit, ending with a "
        "lowercase letter or digit, no consecutive hyphens (resource-name-rules: Microsoft.Storage; Naming and "
        "Referencing Containers, Blobs, and Metadata)"
    ]
