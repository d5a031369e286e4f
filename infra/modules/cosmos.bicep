// Cosmos DB for NoSQL, serverless: the index of received events. Keys are disabled, so the only way
// in is an Entra ID token plus a data-plane role assignment (see access.bicep).

@description('Name of the Cosmos DB account.')
param name string

@description('Region of the account.')
param location string

@description('Tags for the account.')
param tags object

@description('Name of the database.')
param databaseName string

@description('Name of the container that indexes events.')
param containerName string

@minValue(1)
@description('Days an index entry lives; matches the blob lifecycle rule.')
param retentionDays int

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    // checkov:skip=CKV_AZURE_99: No IP or VNet filter: no VNet in this template, so the public endpoint stays reachable; every request still needs an Entra ID token and a role, because key-based auth is off. Add private endpoints to close it.
    // checkov:skip=CKV_AZURE_101: Public network access stays on for the same reason as CKV_AZURE_99.
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/source'
        ]
        kind: 'Hash'
      }
      // Cosmos TTL is in seconds.
      defaultTtl: retentionDays * 86400
    }
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
output containerName string = container.name
