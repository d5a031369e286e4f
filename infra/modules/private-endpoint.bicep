// One private endpoint to one subresource (group id) of a service, and its DNS zone group, which
// writes the endpoint's A record into the private DNS zone for that group id. Without the zone group
// the endpoint exists but the service's host name still resolves to its public address, where the
// request is refused once public network access is off.

@description('Name of the private endpoint.')
param name string

@description('Region of the private endpoint (the virtual network\'s).')
param location string

@description('Tags for the private endpoint.')
param tags object

@description('Resource ID of the subnet the endpoint gets its address in.')
param subnetId string

@description('Resource ID of the service the endpoint connects to.')
param serviceId string

@description('The subresource: blob, queue, table (storage), vault (Key Vault) or Sql (Cosmos DB for NoSQL).')
param groupId string

@description('Resource ID of the private DNS zone for this group id.')
param privateDnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    // An automatic (not manual) connection: approved at once when the deploying principal may
    // approve connections to the service, as whoever provisions the service can.
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}
