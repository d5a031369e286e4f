"""A local stand-in for the Azure Key Vault secrets data plane, as an aiohttp application.

Every operation of the secrets REST API (newest stable spec, Security.KeyVault.Secrets): get, set,
update, list, list versions; soft delete, get and list deleted, recover, purge; backup and restore.
Faithful where a client can tell the difference: the challenge flow (a token-less request is answered
401 with the `WWW-Authenticate` challenge the SDK needs before it asks for a token, whatever its path),
the error codes and shapes the SDK maps to its exceptions, ids and nextLinks built from the Host the
client used, paging with an opaque skip token, disabled versions refused and expired ones still
served, the retention and purge protection of the vault infra/ declares. Access is Azure RBAC: each
operation's data action at the vault or the secret, decided by the `Authorizer` built from infra/'s
role assignments. Contents live in memory, as long as the stack. Keys and certificates are not served.
Microsoft's own azure-keyvault-secrets test suite runs against it (tests/conformance/).

Modules: service (the app: the request pipeline, stats, test routes), operations (the secrets
operations), rbac (the data action and scope each operation needs, the 403, the decision log), routes
(request -> operation), api_versions (which it answers), store (live and deleted secrets in memory),
deletion (retention, purge protection, recovery level), backup (sealed backup blobs), wire (JSON
shapes, paging), bodies (request bodies), faults (injected errors for tests), seed (the starting
secrets), errors (Key Vault's error shape and wording).
"""

from devstack.keyvault.deletion import DeletionPolicy
from devstack.keyvault.routes import (
    BACKUP_SECRET,
    DELETE_SECRET,
    GET_DELETED_SECRET,
    GET_DELETED_SECRETS,
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    OPERATIONS,
    PURGE_DELETED_SECRET,
    RECOVER_DELETED_SECRET,
    RESTORE_SECRET,
    SET_SECRET,
    UPDATE_SECRET,
)
from devstack.keyvault.seed import SeedSecret, load_seed
from devstack.keyvault.service import CHALLENGE, REJECTED, create_keyvault_app

__all__ = [
    "BACKUP_SECRET",
    "CHALLENGE",
    "DELETE_SECRET",
    "GET_DELETED_SECRET",
    "GET_DELETED_SECRETS",
    "GET_SECRET",
    "GET_SECRETS",
    "GET_SECRET_VERSIONS",
    "OPERATIONS",
    "PURGE_DELETED_SECRET",
    "RECOVER_DELETED_SECRET",
    "REJECTED",
    "RESTORE_SECRET",
    "SET_SECRET",
    "UPDATE_SECRET",
    "DeletionPolicy",
    "SeedSecret",
    "create_keyvault_app",
    "load_seed",
]
