// Every data-plane call to the app's data, logged to the template's Log Analytics workspace in each
// service's resource-specific table, so "who read this secret, and when" and "which identity was
// refused, and what" have an answer (README, "Monitoring access"):
//
// - Key Vault: AuditEvent, every request and its authorisation, to AZKVAuditLogs;
// - the data storage account's blob service: StorageRead, StorageWrite and StorageDelete to
//   StorageBlobLogs. The host storage account is left out on purpose: the Functions host renews its
//   blob leases every few seconds, which would be most of the bill and none of the app's data;
// - Cosmos DB: DataPlaneRequests (with the caller's AadPrincipalId and the role assignment that
//   allowed it) and ControlPlaneRequests to CDBDataPlaneRequests and CDBControlPlaneRequests. Not
//   QueryRuntimeStatistics, and the account's full-text query logging stays off (cosmos.bicep never
//   sets diagnosticLogSettings.enableFullTextQuery): it would copy every query's text, values
//   included, into the logs, and an access audit needs who ran a query, not what it contained;
// - the function app: FunctionAppLogs, the Functions host's own log. Flex Consumption supports
//   diagnostic settings (azure-functions-host#11434 and its fix #11432, October 2025, concern exactly
//   this log on Flex). With the app's OpenTelemetry mode the host no longer forwards the app's own
//   lines, which go to Application Insights.
//
// Key Vault and Cosmos DB write to their resource-specific tables only with
// logAnalyticsDestinationType 'Dedicated' (otherwise AzureDiagnostics); Storage and Functions have
// only resource-specific tables. No metrics are sent: Azure Monitor keeps platform metrics anyway.

@description('Resource ID of the Log Analytics workspace the logs go to.')
param workspaceId string

@description('Name of the diagnostic setting on each resource.')
param settingName string

@description('Key Vault holding the webhook secrets.')
param keyVaultName string

@description('Data storage account holding the payloads and digests.')
param dataStorageAccountName string

@description('Cosmos DB account of the event index.')
param cosmosAccountName string

@description('The function app.')
param functionAppName string

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: dataStorageAccountName
}

resource dataBlobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: dataStorage
  name: 'default'
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource keyVaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: keyVault
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: dataBlobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource cosmosAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: cosmosAccount
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'DataPlaneRequests'
        enabled: true
      }
      {
        category: 'ControlPlaneRequests'
        enabled: true
      }
    ]
  }
}

resource functionAppAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: functionApp
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}
