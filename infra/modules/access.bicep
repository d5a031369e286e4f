// Every permission in the deployment, in one place, each at the narrowest scope that works.
//
// The app's identity gets what the Functions host and the app's code need and nothing else: for
// Cosmos DB that is a custom data-plane role with exactly the data actions the code performs
// (inbox/permissions.py). The developer (optional) gets the data roles to run the app locally with
// their own sign-in and to look after its data, plus Key Vault Secrets Officer to set the secrets.
//
// main.bicep deploys this module once, for whichever identity the app runs as (appIdentityType):
// before the function app for its user-assigned identity, after it for the site's system identity.
// Nothing here is granted at resource-group or subscription scope. Names are guid()s of scope,
// principal and role, so a redeployment finds the same assignment instead of adding a duplicate.

@description('Principal ID of the identity the function app runs as (user-assigned, or the site\'s system identity).')
param appPrincipalId string

@description('Object ID of the developer to grant data access to; empty grants nothing.')
param developerPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of developerPrincipalId: ServicePrincipal when a CI identity provisions.')
param developerPrincipalType string

@description('Host storage account (AzureWebJobsStorage and the deployment package).')
param hostStorageAccountName string

@description('Data storage account holding the events and digests containers.')
param dataStorageAccountName string

@description('Container of archived webhook payloads.')
param eventsContainerName string

@description('Container of daily digests.')
param digestsContainerName string

@description('Key Vault holding the webhook secrets.')
param keyVaultName string

@description('Cosmos DB account of the event index.')
param cosmosAccountName string

@description('Cosmos DB database of the event index; the developer\'s data-plane role is scoped to it.')
param cosmosDatabaseName string

@description('Cosmos DB container of the event index; the app\'s data-plane role is scoped to it.')
param cosmosContainerName string

@description('Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Principal ID of the identity the access alert runs as (monitoring.bicep); it only reads the workspace.')
param alertPrincipalId string

@description('Log Analytics workspace the access alert queries.')
param logAnalyticsName string

// Built-in Azure role definition IDs, the same in every tenant:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  logAnalyticsReader: '73c42c96-874c-492b-b04d-ab87d138a893'
}

// Cosmos DB built-in data-plane role "Cosmos DB Built-in Data Contributor" (the developer's): a
// sqlRoleDefinitions id every account has, not an Azure RBAC role, so it is granted with a
// sqlRoleAssignment. https://learn.microsoft.com/azure/cosmos-db/nosql/reference-data-plane-security
var cosmosDataContributorRoleId = '00000000-0000-0000-0000-000000000002'

var grantDeveloper = !empty(developerPrincipalId)

resource hostStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: hostStorageAccountName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: dataStorageAccountName
}

resource dataBlobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' existing = {
  parent: dataStorage
  name: 'default'
}

resource eventsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: dataBlobService
  name: eventsContainerName
}

resource digestsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' existing = {
  parent: dataBlobService
  name: digestsContainerName
}

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

// ---- The app's identity -------------------------------------------------------------------------

// The Functions host keeps its locks, keys and timer state in blobs it creates itself, and Flex
// Consumption reads the deployment package from this account: Blob Data Owner, as the host requires.
resource appHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app's role on the archive: create a blob and read it back, and nothing else, so the app cannot
// replace or delete a payload it archived (the archive is create-only by design). Storage authorises
// Put Blob of a blob that does not exist yet with blobs/add/action, and refuses it for one that exists
// ("Permissions for Blob service operations": "To create new blob"; Azure answers 403
// UnauthorizedBlobOverwrite). Built-in Blob Data Contributor would also allow blobs/write (overwrite)
// and blobs/delete. Assignable in this resource group only; assigned at the events container.
// roleName is unique per tenant, hence the suffix; creating it needs roleDefinitions/write (Owner or
// User Access Administrator), which azd pipeline config's User Access Administrator has.
// A variable, not `resourceGroup().id` in the array: tree-sitter-bicep reads a call followed by a
// member access as an array element as two elements.
var archiveRoleScope = resourceGroup().id

resource appArchiveRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, eventsContainer.id, 'app-archive')
  properties: {
    roleName: 'Inbox app: archive payloads (${uniqueString(resourceGroup().id)})'
    description: 'Create blobs and read them; no overwrite, no delete.'
    type: 'CustomRole'
    assignableScopes: [
      archiveRoleScope
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
        ]
        notDataActions: []
      }
    ]
  }
}

// appArchiveRole.name also orders the assignment after the definition it refers to.
resource appEventsArchiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsContainer.id, appPrincipalId, appArchiveRole.name)
  scope: eventsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', appArchiveRole.name)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appDigestsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(digestsContainer.id, appPrincipalId, roleIds.storageBlobDataContributor)
  scope: digestsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only: the app reads the webhook secrets and never writes them.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appPrincipalId, roleIds.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights has local auth off: telemetry is accepted only from an identity with this role.
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app's Cosmos DB role: the data actions its code performs on the event index, as listed in
// inbox/permissions.py: create an item, read one, run queries, and readMetadata, which the SDK
// needs to read the account's and the container's metadata. Built-in Data Contributor would also
// let it upsert, replace and delete items, run stored procedures and read the change feed,
// in every container of its scope. No wildcards, so the role grants these four actions and nothing
// that Azure might add under a pattern later. It can only be assigned at the events index container
// (assignableScopes), and is assigned there.
resource appIndexRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' = {
  parent: cosmosAccount
  // The name is the role definition's id and must be a GUID; derived from the container it serves,
  // so every redeployment (with either identity kind) updates the same definition.
  name: guid(cosmosAccount.id, cosmosDatabaseName, cosmosContainerName, 'app-event-index')
  properties: {
    roleName: 'Inbox app: index and query events'
    type: 'CustomRole'
    assignableScopes: [
      '${cosmosAccount.id}/dbs/${cosmosDatabaseName}/colls/${cosmosContainerName}'
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

// At the events index container, not the database: the index is the app's only Cosmos DB data.
// appIndexRole.id also orders the assignment after the definition it refers to.
resource appIndexAccess 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmosAccount
  name: guid(cosmosAccount.id, cosmosDatabaseName, cosmosContainerName, appPrincipalId, appIndexRole.id)
  properties: {
    roleDefinitionId: appIndexRole.id
    principalId: appPrincipalId
    scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}/colls/${cosmosContainerName}'
  }
}

// ---- The access alert's identity ---------------------------------------------------------------

// The alert rule (alerts.bicep) runs its query as this identity: it reads the workspace's tables and
// nothing else. Log Analytics Reader at the workspace, not Monitoring Reader or Reader anywhere wider.
resource alertWorkspaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, alertPrincipalId, roleIds.logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.logAnalyticsReader)
    principalId: alertPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- The developer (optional) -------------------------------------------------------------------

resource devHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(hostStorage.id, developerPrincipalId, roleIds.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource devHostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(hostStorage.id, developerPrincipalId, roleIds.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource devHostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(hostStorage.id, developerPrincipalId, roleIds.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource devEventsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(eventsContainer.id, developerPrincipalId, roleIds.storageBlobDataContributor)
  scope: eventsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

resource devDigestsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(digestsContainer.id, developerPrincipalId, roleIds.storageBlobDataContributor)
  scope: digestsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

// Officer rather than User: the developer sets the webhook secrets (and can still read them).
resource devSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeveloper) {
  name: guid(keyVault.id, developerPrincipalId, roleIds.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

// Built-in Data Contributor at the database, not the app's custom role: a developer also inspects
// and cleans up data (replaces or deletes test events, reads the change feed) with Data Explorer or
// scripts, which the app never does. Other databases in the account stay out of reach.
resource devCosmosContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (grantDeveloper) {
  parent: cosmosAccount
  name: guid(cosmosAccount.id, cosmosDatabaseName, developerPrincipalId, cosmosDataContributorRoleId)
  properties: {
    roleDefinitionId: '${cosmosAccount.id}/sqlRoleDefinitions/${cosmosDataContributorRoleId}'
    principalId: developerPrincipalId
    scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}'
  }
}
