// Role-change history (opt-in, main.bicep's roleChangeHistory): the subscription's Activity log,
// Administrative category only, into the template's workspace, where every role assignment written
// or deleted lands in AzureActivity (the "Role assignment changes" query reads it).
//
// Opt-in because it is not this app's to decide: the setting belongs to the whole subscription, which
// allows only a few diagnostic settings and usually already sends its Activity log somewhere. A subscription that does can query that workspace instead.
// Entra ID's managed-identity sign-ins (AADManagedIdentitySignInLogs) need a tenant-level setting that
// a subscription deployment cannot create: the README gives the manual step.
targetScope = 'subscription'

@description('Name of the subscription diagnostic setting; unique in the subscription.')
param name string

@description('Resource ID of the Log Analytics workspace the Activity log goes to.')
param workspaceId string

resource administrative 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: name
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'Administrative'
        enabled: true
      }
    ]
  }
}
