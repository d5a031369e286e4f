// The access alert: fires when Key Vault, Blob Storage or Cosmos DB refuses the app's own identity
// (401 or 403; not Key Vault's challenge), which otherwise shows only as 503s to the app's callers
// (a role removed in the portal, a scope narrowed, a new resource never granted).
//
// A log search alert over the audit tables (audit-logs.bicep), every 5 minutes over the last 5,
// one alert per service and operation refused. The query is infra/queries/refused-requests.kql with
// the app's principal id in front, so it is the text the offline checks validate. The rule runs as
// a user-assigned identity of its own (monitoring.bicep) holding only Log Analytics Reader on the
// workspace (access.bicep), not as whoever deployed it. An e-mail action group is added when
// alertEmail is given.

@description('Name of the alert rule.')
param name string

@description('Region of the alert rule: the workspace\'s.')
param location string

@description('Tags for the alert rule and its action group.')
param tags object

@description('Resource ID of the Log Analytics workspace holding the audit tables.')
param workspaceId string

@description('Resource ID of the user-assigned identity the rule runs as.')
param alertIdentityId string

@description('Principal (object) ID of the identity the function app runs as.')
param appPrincipalId string

@description('E-mail address told when the alert fires; empty adds no action group.')
param alertEmail string = ''

var notify = !empty(alertEmail)

// KQL string literals take a single-quoted GUID as it is; the principal id is Azure's, never user input.
var query = 'let appPrincipalId = \'${appPrincipalId}\';\n${loadTextContent('../queries/refused-requests.kql')}| where Identity =~ appPrincipalId\n'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    // At most 12 characters (the short name SMS and e-mail show).
    groupShortName: 'app-refused'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource appRefused 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: name
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentityId}': {}
    }
  }
  properties: {
    displayName: 'The app\'s identity was refused by Key Vault, Storage or Cosmos DB'
    description: 'A data-plane request by the function app\'s managed identity got 401 or 403. The app answers 503 until the role is back: run the query pack\'s "Data-plane requests refused" query, then python -m devstack roles (README, "Monitoring access").'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    scopes: [
      workspaceId
    ]
    criteria: {
      allOf: [
        {
          query: query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'Service'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'Action'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [
        actionGroup.id
      ] : []
    }
  }
}

output alertRuleId string = appRefused.id
