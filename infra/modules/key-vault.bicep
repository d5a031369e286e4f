// Key Vault for the per-source webhook signing secrets (webhook-<source>). Access is Azure RBAC
// only: no access policies, so every permission shows up as a role assignment in access.bicep.

@description('Name of the vault (3-24 characters).')
param name string

@description('Region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: Default network rule Allow: no VNet in this template, so the public endpoint stays reachable; every request still needs an Entra ID token and a role, because key-based auth is off. Add private endpoints to close it.
    // checkov:skip=CKV_AZURE_189: Public network access stays on for the same reason as CKV_AZURE_109.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    // The minimum. With purge protection on, a deleted vault keeps its name for this long, so
    // `azd down` then `azd up` with the same environment name must wait it out (see the README, "Infrastructure").
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output endpoint string = vault.properties.vaultUri
