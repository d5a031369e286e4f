"""A stand-in for Azure Cosmos DB's front end, in front of the local data engine (devstack/node/cosmos.js).

The engine stores and queries; it checks nothing. This front end does what the service does before a
request reaches a partition: it verifies the token (`devstack.tokens.TokenVerifier`, the same as Key
Vault's and the Blob gateway's), maps the request to the data actions Cosmos DB's RBAC requires and
asks `infra_model.authorization.Authorizer` (the same decision Key Vault and Blob use), enforces Azure's
per-request and per-item limits, throttles on demand, and answers in Cosmos DB's words. It charges
each request in RU and hands out session tokens.

Modules: service (the app and its pipeline), credentials (authentication), permissions (request ->
data actions and scopes), limits (sizes, ids, partition keys, ttl), charges (RU and session tokens),
errors (Cosmos DB's error answers), resource (what a request addresses), standalone (an account of its
own, with an account key, for Microsoft's azure-cosmos suite and the tooling's tests).
"""

from devstack.cosmos_gateway.credentials import cosmos_audiences
from devstack.cosmos_gateway.service import (
    DECISIONS_PATH,
    DEFAULT_RETRY_AFTER_MS,
    FAULT_RULES_PATH,
    STATS_PATH,
    Throttle,
    create_cosmos_gateway,
)

__all__ = [
    "DECISIONS_PATH",
    "DEFAULT_RETRY_AFTER_MS",
    "FAULT_RULES_PATH",
    "STATS_PATH",
    "Throttle",
    "cosmos_audiences",
    "create_cosmos_gateway",
]
