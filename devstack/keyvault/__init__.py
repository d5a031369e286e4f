"""A local stand-in for the Azure Key Vault secrets data plane, as an aiohttp application.

Faithful where a client can tell the difference: the challenge flow (a token-less request is answered
401 with the `WWW-Authenticate` challenge the SDK needs before it asks for a token), the error codes
and shapes the SDK maps to its exceptions, ids and nextLinks built from the Host the client used,
paging with an opaque skip token, disabled versions refused and expired ones still served. Access is
Azure RBAC: each operation's data action at the vault or the secret, decided by the `Authorizer`
built from infra/'s role assignments. Not served: deletion, recovery, backup/restore, keys and
certificates (their paths answer 405 or 404 in Key Vault's error shape).

Modules: service (the app: auth, authorisation, stats, the operations), rbac (the data action and
scope each operation needs, the 403, the decision log), routes (request -> operation), store
(secrets and versions in memory), wire (JSON shapes, paging), bodies (request bodies), faults
(injected errors for tests), seed (the starting secrets), errors (Key Vault's error shape).
"""

from devstack.keyvault.routes import (
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    OPERATIONS,
    SET_SECRET,
    UPDATE_SECRET,
)
from devstack.keyvault.seed import SeedSecret, load_seed
from devstack.keyvault.service import CHALLENGE, REJECTED, create_keyvault_app

__all__ = [
    "CHALLENGE",
    "GET_SECRET",
    "GET_SECRETS",
    "GET_SECRET_VERSIONS",
    "OPERATIONS",
    "REJECTED",
    "SET_SECRET",
    "UPDATE_SECRET",
    "SeedSecret",
    "create_keyvault_app",
    "load_seed",
]
