// Private networking (main.bicep deploys this module only with vnetEnabled): a virtual network with
// two subnets, a private endpoint in it for every data-plane endpoint the app uses, and the private
// DNS zones that make the services' usual host names resolve to those endpoints inside the network.
//
// - subnet `app`: the function app's outbound VNet integration. Flex Consumption requires the
//   delegation Microsoft.App/environments and a subnet used for nothing else (no private endpoints,
//   no other delegation): "Azure Functions Flex Consumption plan hosting", Considerations.
// - subnet `private-endpoints`: one private endpoint per service and subresource (group id):
//   host storage blob, queue and table (the Functions host's AzureWebJobsStorage and the deployment
//   package), the data account's blob, Key Vault's vault, Cosmos DB's Sql.
// - one private DNS zone per group id, named as Microsoft lists them ("Azure Private Endpoint DNS
//   configuration"), each linked to the VNet, and each endpoint's DNS zone group writing its A
//   record there. The app keeps its public host names (https://<account>.blob.core.windows.net/);
//   only inside the VNet do they resolve to the private addresses.
//
// Nothing here opens a path from the internet: each service turns its public network access off in
// its own module when vnetEnabled is on.
//
// Each subnet has a network security group (PSRule Azure.VNET.UseNSGs):
// - `private-endpoints`: inbound HTTPS from the app's subnet only, every other source in the VNet
//   denied. Private endpoints obey an NSG only with privateEndpointNetworkPolicies
//   'NetworkSecurityGroupEnabled' ("Manage network policies for private endpoints"). The Flex platform
//   reads the deployment package through the app's VNet integration, so from the app's subnet too. A jump
//   box in another subnet of this VNet needs an allow rule of its own here.
// - `app`: Azure's default rules (no inbound from outside the VNet), plus SSH and RDP towards the VNet
//   denied (PSRule Azure.NSG.LateralTraversal). Nothing inbound is added: Flex Consumption's subnet only
//   carries the app's outbound calls (its HTTP front end is public), and Microsoft lists no rule the
//   delegated subnet needs; outbound to the internet stays open (Application Insights has no private
//   endpoint here).
//
// Deploying the code still works from anywhere: `azd deploy` hands the package to the app's SCM
// endpoint (public, Entra ID token, basic auth off), and the Flex Consumption platform writes it to
// the deployment container and reads it back through the app's VNet integration and the host
// account's blob endpoint here, as Microsoft's Flex quickstart with VNET_ENABLED=true deploys.
//
// Private networking and your own IP: from outside the VNet the data planes refuse you too, whatever
// your roles (Key Vault answers 403 ForbiddenByConnection, Storage AuthorizationFailure, Cosmos DB
// "Request originated from ... through public internet"; /api/diagnostics tells these from a missing
// role). So `az keyvault secret set` for the webhook secrets, `func start` against Azure and the
// developer roles work only from inside the VNet (a VM or a VPN into it). For a one-off from your
// machine, open the vault to your address and close it again:
//   az keyvault update --name <vault> --public-network-access Enabled --default-action Deny
//   az keyvault network-rule add --name <vault> --ip-address <your public IP>
// then `az keyvault update --name <vault> --public-network-access Disabled` when done; the next
// `azd provision` turns it off and drops the rule anyway. There is deliberately no parameter for an
// allowed address (Microsoft's Flex samples have none either): an address in the azd environment
// would quietly stay open.

@description('Name of the virtual network.')
param name string

@description('Region of the network and the private endpoints.')
param location string

@description('Tags for every resource here.')
param tags object

@description('Resource ID of the host storage account (AzureWebJobsStorage and the deployment package).')
param hostStorageAccountId string

@description('Resource ID of the data storage account.')
param dataStorageAccountId string

@description('Resource ID of the Key Vault.')
param keyVaultId string

@description('Resource ID of the Cosmos DB account.')
param cosmosAccountId string

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'
var appSubnetPrefix = '10.0.1.0/24'
var privateEndpointSubnetPrefix = '10.0.2.0/24'

// SSH and RDP from a subnet towards the rest of the VNet: nothing here administers machines.
var denyLateralTraversal = {
  name: 'deny-ssh-rdp-to-vnet'
  properties: {
    description: 'No SSH or RDP towards the VNet (lateral traversal).'
    priority: 4000
    direction: 'Outbound'
    access: 'Deny'
    protocol: 'Tcp'
    sourceAddressPrefix: '*'
    sourcePortRange: '*'
    destinationAddressPrefix: 'VirtualNetwork'
    destinationPortRanges: [
      '22'
      '3389'
    ]
  }
}

resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-${appSubnetName}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      denyLateralTraversal
    ]
  }
}

resource privateEndpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-${privateEndpointSubnetName}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-https-from-app'
        properties: {
          description: 'The app (and the Flex platform through its VNet integration) calls the services over HTTPS.'
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: appSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: privateEndpointSubnetPrefix
          destinationPortRange: '443'
        }
      }
      {
        name: 'deny-other-vnet-sources'
        properties: {
          description: 'Nothing else in the VNet reaches the private endpoints.'
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
      denyLateralTraversal
    ]
  }
}

// Zone names for the public cloud (private-endpoint-dns, "Azure services DNS zone configuration").
// Storage's follows the cloud's storage suffix; Key Vault's and Cosmos DB's have none in environment().
var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  vault: 'privatelink.vaultcore.azure.net'
  cosmos: 'privatelink.documents.azure.com'
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.0.0.0/16'
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: appNsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: privateEndpointNsg.id
          }
          // The NSG applies to the private endpoints themselves only with this (route tables stay off).
          privateEndpointNetworkPolicies: 'NetworkSecurityGroupEnabled'
        }
      }
    ]
  }
}

var privateEndpointSubnetId = '${vnet.id}/subnets/${privateEndpointSubnetName}'

// ---- Private DNS zones, each linked to the VNet ---------------------------------------------------
// registrationEnabled false: the zones hold the endpoints' records, not the VNet's own host names.

resource blobZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneNames.blob
  location: 'global'
  tags: tags
}

resource blobZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: blobZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}

resource queueZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneNames.queue
  location: 'global'
  tags: tags
}

resource queueZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: queueZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}

resource tableZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneNames.table
  location: 'global'
  tags: tags
}

resource tableZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: tableZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}

resource vaultZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneNames.vault
  location: 'global'
  tags: tags
}

resource vaultZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: vaultZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}

resource cosmosZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneNames.cosmos
  location: 'global'
  tags: tags
}

resource cosmosZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: cosmosZone
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}

// ---- Private endpoints, one per service and group id ---------------------------------------------

module hostBlobEndpoint 'private-endpoint.bicep' = {
  name: 'pe-host-blob'
  params: {
    name: 'pe-${last(split(hostStorageAccountId, '/'))}-blob'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: hostStorageAccountId
    groupId: 'blob'
    privateDnsZoneId: blobZone.id
  }
}

module hostQueueEndpoint 'private-endpoint.bicep' = {
  name: 'pe-host-queue'
  params: {
    name: 'pe-${last(split(hostStorageAccountId, '/'))}-queue'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: hostStorageAccountId
    groupId: 'queue'
    privateDnsZoneId: queueZone.id
  }
}

module hostTableEndpoint 'private-endpoint.bicep' = {
  name: 'pe-host-table'
  params: {
    name: 'pe-${last(split(hostStorageAccountId, '/'))}-table'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: hostStorageAccountId
    groupId: 'table'
    privateDnsZoneId: tableZone.id
  }
}

module dataBlobEndpoint 'private-endpoint.bicep' = {
  name: 'pe-data-blob'
  params: {
    name: 'pe-${last(split(dataStorageAccountId, '/'))}-blob'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: dataStorageAccountId
    groupId: 'blob'
    privateDnsZoneId: blobZone.id
  }
}

module vaultEndpoint 'private-endpoint.bicep' = {
  name: 'pe-vault'
  params: {
    name: 'pe-${last(split(keyVaultId, '/'))}-vault'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: keyVaultId
    groupId: 'vault'
    privateDnsZoneId: vaultZone.id
  }
}

// Cosmos DB for NoSQL's group id is Sql.
module cosmosEndpoint 'private-endpoint.bicep' = {
  name: 'pe-cosmos'
  params: {
    name: 'pe-${last(split(cosmosAccountId, '/'))}-sql'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    serviceId: cosmosAccountId
    groupId: 'Sql'
    privateDnsZoneId: cosmosZone.id
  }
}

// The site's virtualNetworkSubnetId: the delegated subnet.
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
