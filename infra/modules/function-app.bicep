// The Flex Consumption plan and the Python function app. Everything the app reaches, it reaches as
// its managed identity: host storage, the deployment package, Key Vault, Cosmos DB, the data account
// and Application Insights. No connection string or key appears in the app settings.
//
// The identity is the user-assigned one main.bicep creates (identityType 'UserAssigned'), or the
// site's own system-assigned identity ('SystemAssigned'). Everything that names an identity follows
// identityType: the site's identity block, the deployment package's authentication, the telemetry
// authentication string, and the two client ID settings, which exist only for a user-assigned one.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Region of the plan and the app.')
param location string

@description('Tags for the plan and the app; the app also gets the azd service tag.')
param tags object

@allowed([
  'UserAssigned'
  'SystemAssigned'
])
@description('The managed identity the app runs as: the user-assigned identity identityId, or the site\'s system-assigned one.')
param identityType string

@description('Resource ID of the app\'s user-assigned identity; empty with the system-assigned one.')
param identityId string

@description('Client ID of the app\'s user-assigned identity; empty with the system-assigned one.')
param identityClientId string

@description('Blob endpoint of the host storage account.')
param hostBlobEndpoint string

@description('Queue endpoint of the host storage account.')
param hostQueueEndpoint string

@description('Table endpoint of the host storage account.')
param hostTableEndpoint string

@description('URL of the blob container that receives the deployment package.')
param deploymentContainerUrl string

@description('Application Insights connection string (an address only: local auth is off).')
param applicationInsightsConnectionString string

@description('Key Vault URI.')
param keyVaultEndpoint string

@description('Blob endpoint of the data storage account.')
param dataBlobEndpoint string

@description('Cosmos DB account endpoint.')
param cosmosEndpoint string

@description('Cosmos DB database name.')
param cosmosDatabaseName string

@description('Cosmos DB container name.')
param cosmosContainerName string

@description('Blob container for archived payloads.')
param eventsContainerName string

@description('Blob container for digests.')
param digestsContainerName string

@description('Comma-separated webhook sources the app accepts.')
param webhookSources string

@minValue(1)
@description('Largest webhook body the app accepts, in bytes.')
param maxPayloadBytes int

@minValue(1)
@description('Seconds a webhook secret is cached before Key Vault is asked again.')
param secretCacheSeconds int

@minValue(1)
@maxValue(1000)
@description('Most on-demand instances the app scales out to.')
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
@description('Memory per instance, in MB.')
param instanceMemoryMB int

@minValue(1)
@maxValue(1000)
@description('HTTP requests one instance handles at once before Flex Consumption adds another.')
param httpPerInstanceConcurrency int

@minValue(0)
@maxValue(1000)
@description('Instances of the HTTP function group kept running (and billed) when idle; 0 scales to zero.')
param alwaysReadyInstances int

@description('Resource ID of the subnet for outbound VNet integration (delegated to Microsoft.App/environments); empty for none.')
param virtualNetworkSubnetId string

var useSystemIdentity = identityType == 'SystemAssigned'

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225: Zone redundancy is not offered in every Flex Consumption region and needs zone-redundant host storage; this reference deploys to any Flex region.
    // Linux: Flex Consumption has no Windows workers.
    reserved: true
  }
}

// The app settings for either identity kind.
var commonSettings = [
  // Host storage, identity-based: no AzureWebJobsStorage connection string exists.
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: hostBlobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: hostQueueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: hostTableEndpoint
  }
  // Telemetry over Entra ID, as the app's identity: Authorization=AAD alone selects the system
  // identity, with a ClientId the user-assigned one (Azure Monitor, "Microsoft Entra
  // authentication for Application Insights").
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: useSystemIdentity ? 'Authorization=AAD' : 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    // The worker continues the host's request trace in each invocation, and the host stops forwarding
    // the app's logs: the app sends spans and logs itself (inbox/telemetry.py, host.json telemetryMode).
    name: 'PYTHON_ENABLE_OPENTELEMETRY'
    value: 'true'
  }
  // The app's own settings (inbox/settings.py). azure-identity reads AZURE_TOKEN_CREDENTIALS (the
  // last one): only the managed identity is tried.
  {
    name: 'AZURE_KEY_VAULT_ENDPOINT'
    value: keyVaultEndpoint
  }
  {
    name: 'AZURE_STORAGE_BLOB_ENDPOINT'
    value: dataBlobEndpoint
  }
  {
    name: 'AZURE_COSMOS_ENDPOINT'
    value: cosmosEndpoint
  }
  {
    name: 'COSMOS_DATABASE'
    value: cosmosDatabaseName
  }
  {
    name: 'COSMOS_CONTAINER'
    value: cosmosContainerName
  }
  {
    name: 'EVENTS_CONTAINER'
    value: eventsContainerName
  }
  {
    name: 'DIGESTS_CONTAINER'
    value: digestsContainerName
  }
  {
    name: 'WEBHOOK_SOURCES'
    value: webhookSources
  }
  {
    name: 'MAX_PAYLOAD_BYTES'
    value: string(maxPayloadBytes)
  }
  {
    name: 'SECRET_CACHE_SECONDS'
    value: string(secretCacheSeconds)
  }
  {
    name: 'AZURE_TOKEN_CREDENTIALS'
    value: 'ManagedIdentityCredential'
  }
]

// The user-assigned identity, by client ID, for the host's storage connection and for azure-identity.
// With the system identity these settings are absent rather than empty: a client ID that is not set
// at all is how both the host and azure-identity are told to use the system-assigned identity.
var userAssignedSettings = useSystemIdentity ? [] : [
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
]

// Always-ready instances are set per function group; all HTTP functions form the group `http`
// ("Azure Functions Flex Consumption plan hosting", Always ready instances). None by default: the
// app then costs nothing while idle, and the first request after a quiet spell waits for a cold start.
var httpAlwaysReady = [
  {
    name: 'http'
    instanceCount: alwaysReadyInstances
  }
]

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  // azd finds the app it deploys service `api` to by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  // The user-assigned identity attached, or a system identity that lives and dies with the site.
  identity: {
    // checkov:skip=CKV_AZURE_16: The type is SystemAssigned, or UserAssigned with the identity attached, chosen by identityType; checkov cannot evaluate that expression, the identity_wiring check in tests/infra checks both kinds.
    type: useSystemIdentity ? 'SystemAssigned' : 'UserAssigned'
    userAssignedIdentities: useSystemIdentity ? null : {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_78: ftpsState is a deprecated property on Flex Consumption (no FTPS there); FTP and SCM basic auth are switched off by the basicPublishingCredentialsPolicies below (CKV2_INBOX_7).
    // checkov:skip=CKV_AZURE_222: Webhook senders call the app from the internet; each request is authenticated by its function key and HMAC signature.
    // checkov:skip=CKV_AZURE_17: Webhook senders do not present client certificates; each request is authenticated by its HMAC signature.
    // checkov:skip=CKV_AZURE_212: The check wants siteConfig.numberOfWorkers above 1, a fixed pool of the Dedicated and Premium plans; Flex Consumption scales from alwaysReadyInstances (default 0) up to maximumInstanceCount and adds instances on demand.
    // checkov:skip=CKV_AZURE_213: App Service health check evicts instances from a fixed pool; Flex Consumption manages its instances and scales to zero, where periodic pings would keep one running.
    serverFarmId: plan.id
    // Outbound VNet integration (Flex Consumption: the site's virtualNetworkSubnetId, no
    // vnetRouteAllEnabled, which Flex deprecates). Inbound stays public: webhook senders are on the
    // internet.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: concat(commonSettings, userAssignedSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          // Read as the app's identity. userAssignedIdentityResourceId is for a user-assigned one
          // only (FunctionsDeploymentStorageAuthentication, Microsoft.Web API reference).
          authentication: {
            type: useSystemIdentity ? 'SystemAssignedIdentity' : 'UserAssignedIdentity'
            userAssignedIdentityResourceId: useSystemIdentity ? null : identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyInstances > 0 ? httpAlwaysReady : []
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      // Python 3.13 runs on Flex Consumption only among the serverless plans (see the README, "Infrastructure").
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
}

// Publishing uses Entra ID (azd and the Azure CLI deploy with an ARM token); the username/password
// credentials for FTP and the SCM site are switched off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
// The site's system identity, which main.bicep grants the app's roles to; empty with a user-assigned
// identity: the site then has no principal of its own, and identity.principalId must not be read.
output principalId string = useSystemIdentity ? site.identity.principalId : ''
