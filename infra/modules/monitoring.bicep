// Log Analytics and a workspace-based Application Insights that accepts only Entra ID-authenticated
// telemetry: with local auth off, the instrumentation key in the connection string is an address,
// not a credential, and the app's identity needs Monitoring Metrics Publisher to send anything.
//
// The workspace also holds the access audit (README, "Monitoring access"): the tables the diagnostic
// settings of audit-logs.bicep and activity-log.bicep write to, each with the plan and retention
// main.bicep is given; the saved queries over them (a query pack); and the identity the access alert
// (alerts.bicep) runs as, whose read role on this workspace access.bicep grants.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Name of the query pack holding the access queries.')
param queryPackName string

@description('Name of the user-assigned identity the access alert runs as.')
param alertIdentityName string

@description('Region of every resource here.')
param location string

@description('Tags for every resource here.')
param tags object

@allowed([
  'Analytics'
  'Basic'
])
@description('Plan of AZKVAuditLogs (Key Vault data-plane audit).')
param keyVaultLogsPlan string

@minValue(30)
@maxValue(730)
@description('Days AZKVAuditLogs keeps its records.')
param keyVaultLogsRetentionDays int

@allowed([
  'Analytics'
  'Basic'
])
@description('Plan of StorageBlobLogs (the data account\'s blob requests).')
param blobLogsPlan string

@minValue(30)
@maxValue(730)
@description('Days StorageBlobLogs keeps its records.')
param blobLogsRetentionDays int

@allowed([
  'Analytics'
  'Basic'
])
@description('Plan of CDBDataPlaneRequests and CDBControlPlaneRequests (Cosmos DB requests).')
param cosmosLogsPlan string

@minValue(30)
@maxValue(730)
@description('Days the two Cosmos DB tables keep their records.')
param cosmosLogsRetentionDays int

@allowed([
  'Analytics'
  'Basic'
])
@description('Plan of FunctionAppLogs (the Functions host\'s own log).')
param functionLogsPlan string

@minValue(30)
@maxValue(730)
@description('Days FunctionAppLogs keeps its records.')
param functionLogsRetentionDays int

@minValue(30)
@maxValue(730)
@description('Days AzureActivity keeps the role-change history (Analytics only: Basic is not offered for it).')
param activityLogRetentionDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// ---- The audit tables ------------------------------------------------------------------------------
// Each table's plan and retention (log-table.bicep), set before the first record arrives.

module keyVaultLogs 'log-table.bicep' = {
  name: 'table-AZKVAuditLogs'
  params: {
    workspaceName: workspace.name
    name: 'AZKVAuditLogs'
    plan: keyVaultLogsPlan
    retentionDays: keyVaultLogsRetentionDays
  }
}

module blobLogs 'log-table.bicep' = {
  name: 'table-StorageBlobLogs'
  params: {
    workspaceName: workspace.name
    name: 'StorageBlobLogs'
    plan: blobLogsPlan
    retentionDays: blobLogsRetentionDays
  }
}

module cosmosDataPlaneLogs 'log-table.bicep' = {
  name: 'table-CDBDataPlaneRequests'
  params: {
    workspaceName: workspace.name
    name: 'CDBDataPlaneRequests'
    plan: cosmosLogsPlan
    retentionDays: cosmosLogsRetentionDays
  }
}

module cosmosControlPlaneLogs 'log-table.bicep' = {
  name: 'table-CDBControlPlaneRequests'
  params: {
    workspaceName: workspace.name
    name: 'CDBControlPlaneRequests'
    plan: cosmosLogsPlan
    retentionDays: cosmosLogsRetentionDays
  }
}

module functionLogs 'log-table.bicep' = {
  name: 'table-FunctionAppLogs'
  params: {
    workspaceName: workspace.name
    name: 'FunctionAppLogs'
    plan: functionLogsPlan
    retentionDays: functionLogsRetentionDays
  }
}

module activityLogs 'log-table.bicep' = {
  name: 'table-AzureActivity'
  params: {
    workspaceName: workspace.name
    name: 'AzureActivity'
    plan: 'Analytics'
    retentionDays: activityLogRetentionDays
  }
}

// ---- Saved queries -----------------------------------------------------------------------------------
// A query pack rather than the workspace's legacy saved searches: it is what Log Analytics' query
// hub lists and saves to now. Each body is the text of infra/queries/, so what is saved here is what
// the offline checks validate (tests/infra/test_monitoring.py).

resource queryPack 'Microsoft.OperationalInsights/queryPacks@2023-09-01' = {
  name: queryPackName
  location: location
  tags: tags
  properties: {}
}

resource refusedQuery 'Microsoft.OperationalInsights/queryPacks/queries@2023-09-01' = {
  parent: queryPack
  name: guid(queryPack.id, 'refused-data-plane-requests')
  properties: {
    displayName: 'Data-plane requests refused, by identity, action and resource'
    description: 'Every 401 and 403 from Key Vault, Blob Storage and Cosmos DB (not the Key Vault challenge), counted by caller, operation, resource and status.'
    body: '${loadTextContent('../queries/refused-requests.kql')}| summarize Refusals = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated) by Service, Identity, Action, Resource, StatusCode, Result\n| order by LastSeen desc\n'
    related: {
      categories: [
        'security'
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      source: [
        'infra/queries/refused-requests.kql'
      ]
    }
  }
}

resource secretReadsQuery 'Microsoft.OperationalInsights/queryPacks/queries@2023-09-01' = {
  parent: queryPack
  name: guid(queryPack.id, 'secret-reads')
  properties: {
    displayName: 'Key Vault secret reads, by identity'
    description: 'Who read which secret, how often, first and last time.'
    body: loadTextContent('../queries/secret-reads.kql')
    related: {
      categories: [
        'security'
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      source: [
        'infra/queries/secret-reads.kql'
      ]
    }
  }
}

resource roleChangesQuery 'Microsoft.OperationalInsights/queryPacks/queries@2023-09-01' = {
  parent: queryPack
  name: guid(queryPack.id, 'role-assignment-changes')
  properties: {
    displayName: 'Role assignment changes'
    description: 'Azure RBAC and Cosmos DB role assignments created or deleted (needs ROLE_CHANGE_HISTORY=true).'
    body: loadTextContent('../queries/role-changes.kql')
    related: {
      categories: [
        'security'
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      source: [
        'infra/queries/role-changes.kql'
      ]
    }
  }
}

// The access alert's identity: a resource of its own, so access.bicep grants its workspace read role
// before the alert rule exists and first runs, as it does for the app's identity.
resource alertIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: alertIdentityName
  location: location
  tags: tags
}

output applicationInsightsName string = applicationInsights.name
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsName string = workspace.name
output workspaceId string = workspace.id
output alertIdentityId string = alertIdentity.id
output alertPrincipalId string = alertIdentity.properties.principalId
