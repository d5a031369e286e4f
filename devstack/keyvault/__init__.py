"""A local stand-in for the Azure Key Vault secrets data plane, as an aiohttp application.

Faithful where a client can tell the difference: the challenge flow (a token-less request is answered
401 with the `WWW-Authenticate` challenge the SDK needs before it asks for a token), the error codes
and shapes the SDK maps to its exceptions, ids and nextLinks built from the Host the client used,
paging with an opaque skip token, disabled versions refused and expired ones still served. Access is
the two data-plane RBAC roles the app needs. Not served: deletion, recovery, backup/restore, keys and
certificates (their paths answer 405 or 404 in Key Vault's error shape).

Modules: service (the app: auth, RBAC, stats, the operations), routes (request -> operation), store
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
from devstack.keyvault.service import CHALLENGE, REJECTED, SECRETS_OFFICER, SECRETS_USER, create_keyvault_app

__all__ = [
    "CHALLENGE",
    "GET_SECRET",
    "GET_SECRETS",
    "GET_SECRET_VERSIONS",
    "OPERATIONS",
    "REJECTED",
    "SECRETS_OFFICER",
    "SECRETS_USER",
    "SET_SECRET",
    "UPDATE_SECRET",
    "SeedSecret",
    "create_keyvault_app",
    "load_seed",
]
