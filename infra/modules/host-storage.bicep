// Storage for the Functions host (AzureWebJobsStorage: timer locks, host keys, diagnostics) and the
// blob container Flex Consumption deploys the app package to. Kept apart from the data account so
// the host's broad roles here (Blob Data Owner, Queue, Table) never reach the webhook payloads.

@description('Name of the storage account (3-24 lowercase letters and digits).')
param name string

@description('Region of the account.')
param location string

@description('Tags for the account.')
param tags object

@description('Container that holds the deployment package.')
param deploymentContainerName string

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    // checkov:skip=CKV_AZURE_35: Default network rule Allow: no VNet in this template, so the public endpoint stays reachable; every request still needs an Entra ID token and a role, because key-based auth is off. Add private endpoints to close it.
    // checkov:skip=CKV_AZURE_59: Public network access stays on for the same reason as CKV_AZURE_35.
    // checkov:skip=CKV_AZURE_206: LRS: host state and the deployment package are recreated by a redeploy.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
