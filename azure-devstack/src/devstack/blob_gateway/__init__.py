"""A stand-in for Azure Storage's front end, in front of the data account's Azurite.

Azurite in `--oauth basic` mode reads a bearer token's audience and expiry and nothing else: it checks
no signature and no RBAC, and it still accepts Shared Key and SAS. This gateway does what Azure does
for an account with `allowSharedKeyAccess: false` and `allowBlobPublicAccess: false` before Azurite
sees anything: it verifies the token (signature, issuer, audience, lifetime), refuses keys and
anonymous requests, maps the Blob REST operation to the RBAC permission Microsoft documents for it and
asks `infra_model.authorization.Authorizer`, then streams the request to Azurite and the answer back.

Modules: service (the app and its pipeline), credentials (authentication), operations (operation ->
permission and scope), upstream (forwarding to Azurite), errors (Azure Storage's error answers).
"""

from devstack.blob_gateway.credentials import STORAGE_APP_ID, storage_audiences
from devstack.blob_gateway.service import DECISIONS_PATH, create_blob_gateway

__all__ = ["DECISIONS_PATH", "STORAGE_APP_ID", "create_blob_gateway", "storage_audiences"]
