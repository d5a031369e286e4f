param location string
param token string
param notesContainer string
param systemIdentity bool

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-notes-${token}'
  location: location
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: 'vault${token}'
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
  }
}

resource hostAccount 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: 'sthost${token}'
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { allowSharedKeyAccess: false, allowBlobPublicAccess: false }
}

resource notesAccount 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: 'stnotes${token}'
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { allowSharedKeyAccess: false, allowBlobPublicAccess: false }
}

resource notesBlobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: notesAccount
  name: 'default'
}

resource notes 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: notesBlobs
  name: notesContainer
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: 'cosmos-notes-${token}'
  location: location
  properties: {
    databaseAccountOfferType: 'Standard'
    disableLocalAuth: true
    locations: [{ locationName: location }]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: 'notebook'
  properties: { resource: { id: 'notebook' } }
}

resource pages 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'pages'
  properties: { resource: { id: 'pages', partitionKey: { paths: ['/book'], kind: 'Hash' } } }
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: 'plan-notes-${token}'
  location: location
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  kind: 'functionapp'
  properties: { reserved: true }
}

var commonSettings = [
  { name: 'AzureWebJobsStorage__blobServiceUri', value: hostAccount.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'VAULT_URL', value: vault.properties.vaultUri }
  { name: 'NOTES_ACCOUNT_URL', value: notesAccount.properties.primaryEndpoints.blob }
  { name: 'NOTES_CONTAINER', value: notesContainer }
  { name: 'PAGES_URL', value: cosmos.properties.documentEndpoint }
  { name: 'PAGES_DATABASE', value: database.name }
  { name: 'PAGES_CONTAINER', value: pages.name }
]
var userSettings = [
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
]

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: 'func-notes-${token}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: systemIdentity ? 'SystemAssigned' : 'UserAssigned'
    userAssignedIdentities: systemIdentity ? null : { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    siteConfig: {
      appSettings: concat(commonSettings, systemIdentity ? [] : userSettings)
    }
  }
}

resource readGreeting 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, 'secrets-user')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource writeNotes 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(notes.id, appPrincipalId, 'blob-contributor')
  scope: notes
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostAccount.id, appPrincipalId, 'blob-owner')
  scope: hostAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

var appPrincipalId = systemIdentity ? site.identity.principalId : (identity.properties.principalId)

// A custom role at the pages container: the app reads, creates and queries pages, and nothing else.
resource pagesRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, 'notebook', 'pages', 'app-pages')
  properties: {
    roleName: 'Notes app: read and write pages'
    type: 'CustomRole'
    assignableScopes: [
      '${cosmos.id}/dbs/notebook/colls/pages'
    ]
    permissions: [
      {
        dataActions: [
          'Microsoft.DocumentDB/databaseAccounts/readMetadata'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/read'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'
        ]
      }
    ]
  }
}

resource writePages 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, 'pages', appPrincipalId, pagesRole.id)
  properties: {
    roleDefinitionId: pagesRole.id
    principalId: appPrincipalId
    scope: '${cosmos.id}/dbs/notebook/colls/pages'
  }
}
