// Storage for the app's own data: raw webhook payloads (events) and the daily digests. The app
// identity may create and read payloads in events and write digests in digests (access.bicep); it
// holds nothing on the account.

@description('Name of the storage account (3-24 lowercase letters and digits).')
param name string

@description('Region of the account.')
param location string

@description('Tags for the account.')
param tags object

@description('Container for archived webhook payloads.')
param eventsContainerName string

@description('Container for the daily digests.')
param digestsContainerName string

@minValue(1)
@description('Days after which an archived payload is deleted.')
param retentionDays int

@description('Private networking: public network access off; the app reaches the account through a private endpoint (network.bicep).')
param vnetEnabled bool

// 7 days: the minimum PSRule's soft-delete rules accept, and as long as the Key Vault keeps a deleted secret.
var softDeleteDays = 7

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
    // checkov:skip=CKV_AZURE_36: vnetEnabled true sets bypass None, as Microsoft's Flex Consumption quickstart with a VNet does: no trusted Microsoft service needs this account, whose only caller (the app) comes through its private endpoint. With vnetEnabled false the default rule is Allow and the check passes anyway.
    // checkov:skip=CKV_AZURE_206: LRS keeps the reference cheap and payloads expire after retentionDays; choose Standard_GZRS when they must outlive a zone or region outage.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // With vnetEnabled the account answers only its private endpoint, in the app's VNet.
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: vnetEnabled ? 'None' : 'AzureServices'
    }
  }
}

// Soft delete for blobs and containers: a deleted payload, digest or container can be undeleted for
// softDeleteDays (PSRule Azure.Storage.SoftDelete, Azure.Storage.ContainerSoftDelete). The app cannot
// delete or overwrite a payload at all (its role on the events container creates and reads); this
// covers the people and pipelines whose roles can. The lifecycle rule's deletions are soft too, so a
// payload is billed for softDeleteDays more. No versioning: nothing the app writes to the archive can
// be overwritten, and the digests are rewritten from the index.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
      allowPermanentDelete: false
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource eventsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: eventsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource digestsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: digestsContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Payloads expire with their Cosmos index entries (same retentionDays), so the index never points
// at a deleted blob for long and nothing is kept longer than the operator chose.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2024-01-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-archived-payloads'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${eventsContainer.name}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output eventsContainerName string = eventsContainer.name
output digestsContainerName string = digestsContainer.name
