// Key Vault for the per-source webhook signing secrets (webhook-<source>). Access is Azure RBAC
// only: no access policies, so every permission shows up as a role assignment in access.bicep.

@description('Name of the vault (3-24 characters).')
param name string

@description('Region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Private networking: public network access off; the app reaches the vault through a private endpoint (network.bicep).')
param vnetEnabled bool

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: vnetEnabled false (the default): no VNet, so the default network rule is Allow and the public endpoint stays reachable; every request still needs an Entra ID token and an RBAC role (there are no access policies). With vnetEnabled true it is Deny and this check passes without the skip (tests/infra/test_checkov.py).
    // checkov:skip=CKV_AZURE_189: vnetEnabled false (the default): public network access stays on for the same reason as CKV_AZURE_109; with vnetEnabled true it is Disabled.
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
    // With vnetEnabled the vault answers only its private endpoint, in the app's VNet; a call from
    // anywhere else gets 403 ForbiddenByConnection, whatever the caller's roles.
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: vnetEnabled ? 'None' : 'AzureServices'
    }
  }
}

output id string = vault.id
output name string = vault.name
output endpoint string = vault.properties.vaultUri
