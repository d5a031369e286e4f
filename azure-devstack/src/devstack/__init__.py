"""Local Azure for the webhook inbox: managed-identity token endpoint, Key Vault, Blob (Azurite),
Cosmos DB and a Functions-compatible host, all on loopback and all checking real bearer tokens.

Development only: excluded from deployment by .funcignore.
"""
