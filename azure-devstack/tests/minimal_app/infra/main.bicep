// A minimal app for the tooling's tests: a function app, a vault, a notes account, Cosmos DB, and the
// roles it needs. Names and settings differ from the template's on purpose.
targetScope = 'subscription'

param environmentName string
param location string
param notesContainer string = 'notes'
param principalId string = ''

@description('Run the app as the site\'s system-assigned identity instead of a user-assigned one.')
param systemIdentity bool = false

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-notes-${environmentName}'
  location: location
}

module app 'app.bicep' = {
  name: 'app'
  scope: rg
  params: {
    location: location
    token: uniqueString(subscription().id, environmentName)
    notesContainer: notesContainer
    systemIdentity: systemIdentity
  }
}
