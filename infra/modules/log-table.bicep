// One table of the workspace: how it is billed and how long it keeps its records ("Manage data
// retention in a Log Analytics workspace", "Table plans"). Azure's own tables exist in every
// workspace; this sets their plan and retention before the first record arrives. An Analytics table
// stays queryable (and alertable) for its whole retention; a Basic table's interactive period is
// fixed by Azure, so only its total retention is set.

@description('The Log Analytics workspace.')
param workspaceName string

@description('The table, as Azure names it (AZKVAuditLogs, StorageBlobLogs, ...).')
param name string

@allowed([
  'Analytics'
  'Basic'
])
@description('Table plan.')
param plan string

@minValue(30)
@maxValue(730)
@description('Days the table keeps its records.')
param retentionDays int

var analytics = {
  plan: plan
  retentionInDays: retentionDays
  totalRetentionInDays: retentionDays
}
var basic = {
  plan: plan
  totalRetentionInDays: retentionDays
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2023-09-01' = {
  parent: workspace
  name: name
  properties: plan == 'Analytics' ? analytics : basic
}

output name string = table.name
