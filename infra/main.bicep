// The webhook inbox as `azd up` provisions it: a resource group holding a Python function app on
// the Flex Consumption plan and everything it talks to, with no keys or connection strings anywhere.
// The app authenticates as one managed identity (appIdentityType); access.bicep lists every role it gets.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the resource group and every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Comma-separated webhook sources the app accepts; each needs a Key Vault secret named webhook-<source>.')
param webhookSources string = 'github'

@minValue(1)
@maxValue(3650)
@description('Days an event is kept: the blob lifecycle rule and the Cosmos DB TTL both use it.')
param retentionDays int = 30

// Scale (Flex Consumption, functionAppConfig.scaleAndConcurrency). Maximum instance count: 1000 at
// most ("Azure Functions Flex Consumption plan hosting", Considerations, Scale); that page gives 1 as
// the lowest maximum since values under 40 were rolled out region by region from late 2025
// (azure-functions-host issue #10523), so a region may still refuse less than 40. Memory: the three
// instance sizes. Per-instance concurrency 1-1000 and always-ready 0-1000: the bounds the azurerm
// provider validates; no Microsoft page read here states them, ARM is the final judge.
@minValue(1)
@maxValue(1000)
@description('Most on-demand instances the function app scales out to.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory per function app instance, in MB.')
param instanceMemoryMB int = 2048

// 16, not Flex's default for Python (1 per instance at every memory size), from the README, "Speed
// and reliability", "One Flex instance": one vCPU spends about 1.9 ms of CPU per delivery, so it tops
// out near 500 deliveries/s; with about 25 ms of network waits per delivery in Azure (two writes, an
// assumption, not measured) it needs about 500 x 0.025 = 12 requests in flight to stay busy, and 16
// leaves headroom. With 1, an instance serves at most 1 / 25 ms = 40 deliveries/s, so the same load
// needs about 12 times as many instances. The app is async: requests in flight wait on I/O together.
@minValue(1)
@maxValue(1000)
@description('HTTP requests one instance handles at once before Flex Consumption adds another.')
param httpPerInstanceConcurrency int = 16

// Billed while idle; 0 keeps the app scale-to-zero. Keep it at most maximumInstanceCount (the azurerm
// provider refuses more; whether ARM does is not confirmed here).
@minValue(0)
@maxValue(1000)
@description('Instances kept running for the HTTP functions even when idle (billed); 0 scales to zero.')
param alwaysReadyInstances int = 0

// Off by default, unlike Microsoft's Flex quickstarts (their README recommends VNET_ENABLED=true and
// their main.parameters.json asks for it). Here `azd up` must work end to end from a laptop, and with
// private networking on, nothing outside the VNet reaches the data planes: not `az keyvault secret set`
// for the webhook secrets the postprovision hook prints, not the app run locally against Azure, not
// the developer roles. The local stack also models the default (public endpoints, Entra ID and roles
// on every request), and with keys off everywhere the public endpoints accept only tokens that hold a
// role. Turn it on (azd env set VNET_ENABLED true) once secrets can be set from inside the network.
@description('Private networking: VNet integration for the app, private endpoints for storage, Key Vault and Cosmos DB, and their public network access off.')
param vnetEnabled bool = false

// At most 64 MiB: the archive takes a body in one Put Blob (webhooks/settings.py says why).
@minValue(1)
@maxValue(67108864)
@description('Largest webhook body the app accepts, in bytes.')
param maxPayloadBytes int = 1048576

@minValue(1)
@description('Seconds the app caches a webhook secret before asking Key Vault again.')
param secretCacheSeconds int = 300

@description('Grant principalId the data roles to run the app locally against these resources, and Key Vault Secrets Officer.')
param developerAccess bool = true

// azd passes the signed-in principal (AZURE_PRINCIPAL_ID), i.e. whoever deploys. Not defaulted to
// deployer().objectId here: checkov's Bicep parser cannot read deployer() and would skip this file.
@description('Object ID of the developer; empty grants no developer access.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principalId: User for a person, ServicePrincipal when a CI identity runs azd.')
param principalType string = 'User'

@allowed([
  'UserAssigned'
  'SystemAssigned'
])
@description('The managed identity the function app runs as: a user-assigned identity of its own, or the site\'s system-assigned one.')
param appIdentityType string = 'UserAssigned'

// The access audit (README, "Monitoring access"): how each table of it is billed and how long it keeps
// its records. Analytics keeps records queryable and alertable; Basic costs less per GB ingested but
// the access alert's query is written for Analytics tables (Basic: Microsoft documents fewer query
// features, and whether log search alerts run on it is not confirmed here). 30 days is the retention
// every Analytics table includes; more is billed per GB and month.
@allowed([
  'Analytics'
  'Basic'
])
@description('Table plan of AZKVAuditLogs, Key Vault\'s audit log.')
param keyVaultLogsPlan string = 'Analytics'

@minValue(30)
@maxValue(730)
@description('Days AZKVAuditLogs keeps its records.')
param keyVaultLogsRetentionDays int = 90

@allowed([
  'Analytics'
  'Basic'
])
@description('Table plan of StorageBlobLogs, the data account\'s blob requests.')
param blobLogsPlan string = 'Analytics'

@minValue(30)
@maxValue(730)
@description('Days StorageBlobLogs keeps its records.')
param blobLogsRetentionDays int = 90

@allowed([
  'Analytics'
  'Basic'
])
@description('Table plan of CDBDataPlaneRequests and CDBControlPlaneRequests, Cosmos DB\'s requests.')
param cosmosLogsPlan string = 'Analytics'

@minValue(30)
@maxValue(730)
@description('Days the Cosmos DB request tables keep their records.')
param cosmosLogsRetentionDays int = 90

@allowed([
  'Analytics'
  'Basic'
])
@description('Table plan of FunctionAppLogs, the Functions host\'s log.')
param functionLogsPlan string = 'Analytics'

@minValue(30)
@maxValue(730)
@description('Days FunctionAppLogs keeps its records.')
param functionLogsRetentionDays int = 30

@minValue(30)
@maxValue(730)
@description('Days AzureActivity keeps the role-change history.')
param activityLogRetentionDays int = 90

// Off by default: a subscription diagnostic setting is shared by everything in the subscription
// (modules/activity-log.bicep says why).
@description('Send the subscription\'s Activity log (Administrative) to the workspace, for role-change history.')
param roleChangeHistory bool = false

@description('E-mail address told when a service refuses the app\'s identity; empty sends none (the alert still fires in the portal).')
param alertEmail string = ''

// One token per subscription, environment and region keeps names unique and stable across runs.
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// UserAssigned (the default): the identity is a resource of its own, created first, so its roles
// exist before the app first starts and survive the app being deleted and re-created.
// SystemAssigned: no extra resource, and the identity goes when the site goes; but it exists only
// once the site does, so its roles are granted after the site is created (accessForSystemIdentity).
// Every output of a module deployed under this condition is read behind the same condition: ARM
// would otherwise evaluate a reference to a deployment that never ran, and fail. The reference
// goes in the first branch (`!useSystemIdentity ? identity.outputs.id : ''`): the parser of the
// offline checks reads `c ? '' : m.outputs.id` as `(c ? '' : m).outputs.id`.
var useSystemIdentity = appIdentityType == 'SystemAssigned'

// The names the app is written against (inbox/settings.py defaults and the app's data layout).
var eventsContainerName = 'events'
var digestsContainerName = 'digests'
var cosmosDatabaseName = 'inbox'
var cosmosContainerName = 'events'
var deploymentContainerName = 'app-package'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

// The user-assigned identity, only when the app runs as one.
module identity 'modules/identity.bicep' = if (!useSystemIdentity) {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    queryPackName: 'pack-access-${resourceToken}'
    alertIdentityName: 'id-alerts-${resourceToken}'
    location: location
    tags: tags
    keyVaultLogsPlan: keyVaultLogsPlan
    keyVaultLogsRetentionDays: keyVaultLogsRetentionDays
    blobLogsPlan: blobLogsPlan
    blobLogsRetentionDays: blobLogsRetentionDays
    cosmosLogsPlan: cosmosLogsPlan
    cosmosLogsRetentionDays: cosmosLogsRetentionDays
    functionLogsPlan: functionLogsPlan
    functionLogsRetentionDays: functionLogsRetentionDays
    activityLogRetentionDays: activityLogRetentionDays
  }
}

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: 'sthost${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    vnetEnabled: vnetEnabled
  }
}

module dataStorage 'modules/data-storage.bicep' = {
  name: 'data-storage'
  scope: rg
  params: {
    name: 'stdata${resourceToken}'
    location: location
    tags: tags
    eventsContainerName: eventsContainerName
    digestsContainerName: digestsContainerName
    retentionDays: retentionDays
    vnetEnabled: vnetEnabled
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    vnetEnabled: vnetEnabled
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    retentionDays: retentionDays
    vnetEnabled: vnetEnabled
  }
}

// The private network, only with vnetEnabled: the app's integration subnet, a private endpoint and
// DNS zone for every data-plane endpoint the app uses. The services turn their public access off
// themselves (vnetEnabled above). The function app reads the subnet from here, so it is created
// after the endpoints exist.
module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: tags
    hostStorageAccountId: hostStorage.outputs.id
    dataStorageAccountId: dataStorage.outputs.id
    keyVaultId: keyVault.outputs.id
    cosmosAccountId: cosmos.outputs.id
  }
}

// The roles of the user-assigned identity, granted before the function app exists (functionApp
// depends on this), so the host's first start can already read its storage.
module accessForUserIdentity 'modules/access.bicep' = if (!useSystemIdentity) {
  name: 'access'
  scope: rg
  params: {
    appPrincipalId: !useSystemIdentity ? identity.outputs.principalId : ''
    developerPrincipalId: developerAccess ? principalId : ''
    developerPrincipalType: principalType
    hostStorageAccountName: hostStorage.outputs.name
    dataStorageAccountName: dataStorage.outputs.name
    eventsContainerName: dataStorage.outputs.eventsContainerName
    digestsContainerName: dataStorage.outputs.digestsContainerName
    keyVaultName: keyVault.outputs.name
    cosmosAccountName: cosmos.outputs.name
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    alertPrincipalId: monitoring.outputs.alertPrincipalId
    logAnalyticsName: monitoring.outputs.logAnalyticsName
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: 'func-api-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityType: appIdentityType
    identityId: !useSystemIdentity ? identity.outputs.id : ''
    identityClientId: !useSystemIdentity ? identity.outputs.clientId : ''
    hostBlobEndpoint: hostStorage.outputs.blobEndpoint
    hostQueueEndpoint: hostStorage.outputs.queueEndpoint
    hostTableEndpoint: hostStorage.outputs.tableEndpoint
    deploymentContainerUrl: hostStorage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultEndpoint: keyVault.outputs.endpoint
    dataBlobEndpoint: dataStorage.outputs.blobEndpoint
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    eventsContainerName: dataStorage.outputs.eventsContainerName
    digestsContainerName: dataStorage.outputs.digestsContainerName
    webhookSources: webhookSources
    maxPayloadBytes: maxPayloadBytes
    secretCacheSeconds: secretCacheSeconds
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: alwaysReadyInstances
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
  }
  // A user-assigned identity's roles must exist before the host first starts, or its first reads
  // of storage fail. (With the system identity that module is not deployed, and ARM drops it here.)
  dependsOn: [
    accessForUserIdentity
  ]
}

// The roles of the site's system identity, which exists only once the site does: granted right
// after it (reading functionApp.outputs orders this module after the site). The host may start
// before they apply and fail to reach its storage until they do; `azd deploy` uploads the package
// after provisioning.
module accessForSystemIdentity 'modules/access.bicep' = if (useSystemIdentity) {
  name: 'access-system-identity'
  scope: rg
  params: {
    appPrincipalId: useSystemIdentity ? functionApp.outputs.principalId : ''
    developerPrincipalId: developerAccess ? principalId : ''
    developerPrincipalType: principalType
    hostStorageAccountName: hostStorage.outputs.name
    dataStorageAccountName: dataStorage.outputs.name
    eventsContainerName: dataStorage.outputs.eventsContainerName
    digestsContainerName: dataStorage.outputs.digestsContainerName
    keyVaultName: keyVault.outputs.name
    cosmosAccountName: cosmos.outputs.name
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosContainerName: cosmos.outputs.containerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    alertPrincipalId: monitoring.outputs.alertPrincipalId
    logAnalyticsName: monitoring.outputs.logAnalyticsName
  }
}

// The access audit: every data-plane call to the vault, the data account's blobs, Cosmos DB and the
// host's own log, to the workspace (README, "Monitoring access").
module auditLogs 'modules/audit-logs.bicep' = {
  name: 'audit-logs'
  scope: rg
  params: {
    workspaceId: monitoring.outputs.workspaceId
    settingName: 'audit-to-${monitoring.outputs.logAnalyticsName}'
    keyVaultName: keyVault.outputs.name
    dataStorageAccountName: dataStorage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    functionAppName: functionApp.outputs.name
  }
}

// The alert when a service refuses the app's identity. After both access modules, so the alert's
// identity can read the workspace before the rule first runs. The app's principal is the
// user-assigned identity's, or the site's own (read behind the same condition as the modules).
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    name: 'alert-app-refused-${resourceToken}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    alertIdentityId: monitoring.outputs.alertIdentityId
    appPrincipalId: useSystemIdentity ? functionApp.outputs.principalId : (identity.outputs.principalId)
    alertEmail: alertEmail
  }
  dependsOn: [
    accessForUserIdentity
    accessForSystemIdentity
  ]
}

// Role-change history, opt-in: the subscription's Activity log (Administrative) to the workspace.
// Deployed at the subscription (the module's targetScope), not in the resource group.
module activityLog 'modules/activity-log.bicep' = if (roleChangeHistory) {
  name: 'activity-log'
  params: {
    name: 'administrative-to-${monitoring.outputs.logAnalyticsName}'
    workspaceId: monitoring.outputs.workspaceId
  }
}

// azd stores these in .azure/<env>/.env; the postprovision hook turns them into local.settings.json.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URI string = functionApp.outputs.uri
// Not named AZURE_CLIENT_ID: azd hands its environment to hooks and tools, and that name would
// steer any DefaultAzureCredential there towards a managed identity that only exists in Azure.
// Empty with the system identity, which the app selects by having no client ID at all.
output AZURE_APP_IDENTITY_CLIENT_ID string = !useSystemIdentity ? identity.outputs.clientId : ''
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.endpoint
output AZURE_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = dataStorage.outputs.blobEndpoint
output AZURE_HOST_STORAGE_BLOB_ENDPOINT string = hostStorage.outputs.blobEndpoint
output AZURE_HOST_STORAGE_QUEUE_ENDPOINT string = hostStorage.outputs.queueEndpoint
output AZURE_HOST_STORAGE_TABLE_ENDPOINT string = hostStorage.outputs.tableEndpoint
output AZURE_COSMOS_ACCOUNT_NAME string = cosmos.outputs.name
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output COSMOS_CONTAINER string = cosmos.outputs.containerName
output EVENTS_CONTAINER string = dataStorage.outputs.eventsContainerName
output DIGESTS_CONTAINER string = dataStorage.outputs.digestsContainerName
output WEBHOOK_SOURCES string = webhookSources
// Where the access audit is: the workspace to query (az monitor log-analytics query) and the app's
// principal, whose role assignments `python -m devstack roles` compares with infra/.
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.workspaceId
output AZURE_APP_PRINCIPAL_ID string = useSystemIdentity ? functionApp.outputs.principalId : (identity.outputs.principalId)
