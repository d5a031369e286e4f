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

@description('Private networking: public network access off; the app reaches the account through private endpoints (network.bicep).')
param vnetEnabled bool

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    // checkov:skip=CKV_AZURE_35: vnetEnabled false (the default): no VNet, so the default network rule is Allow and the public endpoint stays reachable; every request still needs an Entra ID token and a role, because key-based auth is off. With vnetEnabled true it is Deny and this check passes without the skip (tests/infra/test_checkov.py).
    // checkov:skip=CKV_AZURE_59: vnetEnabled false (the default): public network access stays on for the same reason as CKV_AZURE_35; with vnetEnabled true it is Disabled.
    // checkov:skip=CKV_AZURE_36: vnetEnabled true sets bypass None, as Microsoft's Flex Consumption quickstart with a VNet does: no trusted Microsoft service needs this account, whose callers (the Functions host, and the platform writing and reading the deployment package) all come through its private endpoints. With vnetEnabled false the default rule is Allow and the check passes anyway.
    // checkov:skip=CKV_AZURE_206: LRS: host state and the deployment package are recreated by a redeploy.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // With vnetEnabled the account answers only its private endpoints: the Functions host, and the
    // Flex Consumption platform writing and reading the deployment package, reach it through the
    // app's VNet integration. No trusted-service bypass: nothing here relies on one.
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: vnetEnabled ? 'None' : 'AzureServices'
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

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
