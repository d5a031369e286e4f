"""A model of infra/, read from the Bicep itself: the one place resource names, identities and roles come from.

- `syntax`: the typed view of each .bicep file over tree-sitter-bicep (the infra checks use it).
- `deployment`: evaluates main.bicep with parameter values into concrete resources, app settings and
  role assignments, as a deployment would.
- `roles`: the permissions of the built-in roles the Bicep assigns, as Azure publishes them.
- `authorization`: Azure's RBAC decision over those assignments, shared by the local services.

Development tooling: excluded from the deployment package by .funcignore.
"""
