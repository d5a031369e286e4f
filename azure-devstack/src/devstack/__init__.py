"""Local Azure for passwordless Functions apps: managed-identity token endpoint, Key Vault, Blob (Azurite),
Cosmos DB and a Functions-compatible host, all on loopback and all checking real bearer tokens.

Development only: a separate distribution (azure-devstack), never part of an app's deployment.
"""
