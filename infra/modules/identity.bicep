// The app's user-assigned managed identity (the default; main.bicep skips it when appIdentityType is
// SystemAssigned). It is a resource of its own, not the site's system identity, so its role
// assignments can be created before the function app first starts and they survive the app being
// deleted and re-created.

@description('Name of the identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags for the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
