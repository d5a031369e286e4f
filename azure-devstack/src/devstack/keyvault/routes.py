"""What a data-plane request asks for: the operation its method and path name, and its origin.

The paths are the secrets REST API's (Security.KeyVault.Secrets routes.tsp): `/secrets` for live
secrets, `/deletedsecrets` for soft-deleted ones, `/secrets/restore` for restoring a backup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import hdrs, web

from devstack.keyvault.errors import ServiceError, bad_parameter, echo

# Operation ids as the Key Vault REST API names them (names, not passwords: hence the noqa).
GET_SECRET = "getSecret"  # noqa: S105
GET_SECRET_VERSIONS = "getSecretVersions"  # noqa: S105
GET_SECRETS = "getSecrets"
SET_SECRET = "setSecret"  # noqa: S105
UPDATE_SECRET = "updateSecret"  # noqa: S105
DELETE_SECRET = "deleteSecret"  # noqa: S105
GET_DELETED_SECRET = "getDeletedSecret"  # noqa: S105
GET_DELETED_SECRETS = "getDeletedSecrets"
RECOVER_DELETED_SECRET = "recoverDeletedSecret"  # noqa: S105
PURGE_DELETED_SECRET = "purgeDeletedSecret"  # noqa: S105
BACKUP_SECRET = "backupSecret"  # noqa: S105
RESTORE_SECRET = "restoreSecret"  # noqa: S105
OPERATIONS = (
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    SET_SECRET,
    UPDATE_SECRET,
    DELETE_SECRET,
    GET_DELETED_SECRET,
    GET_DELETED_SECRETS,
    RECOVER_DELETED_SECRET,
    PURGE_DELETED_SECRET,
    BACKUP_SECRET,
    RESTORE_SECRET,
)

NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")
HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


@dataclass(frozen=True)
class Route:
    operation: str
    name: str = ""  # "" for operations on the vault (listings, restore)
    version: str = ""  # "" = the latest version


@dataclass(frozen=True)
class Call:
    request: web.Request
    route: Route
    origin: str
    api_version: str


def resolve(method: str, raw_path: str) -> Route:
    segments = [unquote(segment) for segment in raw_path.split("/")[1:]]
    collection = segments[0].lower() if segments else ""
    rest = segments[1:]
    if rest and rest[-1] == "":
        rest = rest[:-1]  # "/secrets/name/" is "/secrets/name": the latest version
    if collection == "secrets":
        routes = _secret_routes(rest)
    elif collection == "deletedsecrets":
        routes = _deleted_secret_routes(rest)
    else:
        raise ServiceError(404, "NotFound", "This vault serves only the secrets API: /secrets and /deletedsecrets.")
    route = routes.get(method)
    if route is None:
        allowed = ", ".join(sorted(routes))
        raise ServiceError(
            405,
            "MethodNotAllowed",
            f"Method {echo(method)} is not served on this path by the local vault (allowed: {allowed}).",
            headers={hdrs.ALLOW: allowed},
        )
    if route.name and not NAME_PATTERN.fullmatch(route.name):
        raise bad_parameter(f"The request URI contains an invalid name: {echo(route.name)}")
    return route


def _secret_routes(rest: list[str]) -> dict[str, Route]:
    match rest:
        case []:
            return {"GET": Route(GET_SECRETS)}
        case [name]:
            routes = {
                "GET": Route(GET_SECRET, name),
                "PUT": Route(SET_SECRET, name),
                "PATCH": Route(UPDATE_SECRET, name),
                "DELETE": Route(DELETE_SECRET, name),
            }
            if name == "restore":  # POST /secrets/restore; the other methods still name a secret "restore"
                routes["POST"] = Route(RESTORE_SECRET)
            return routes
        case [name, "versions"]:
            return {"GET": Route(GET_SECRET_VERSIONS, name)}
        case [name, version]:
            routes = {"GET": Route(GET_SECRET, name, version), "PATCH": Route(UPDATE_SECRET, name, version)}
            if version == "backup":
                routes["POST"] = Route(BACKUP_SECRET, name)
            return routes
        case _:
            # Key Vault reads a third segment as an operation name and refuses ones it does not know.
            raise bad_parameter(f"The request URI names no known operation: {echo('/'.join(rest))}")


def _deleted_secret_routes(rest: list[str]) -> dict[str, Route]:
    match rest:
        case []:
            return {"GET": Route(GET_DELETED_SECRETS)}
        case [name]:
            return {"GET": Route(GET_DELETED_SECRET, name), "DELETE": Route(PURGE_DELETED_SECRET, name)}
        case [name, "recover"]:
            return {"POST": Route(RECOVER_DELETED_SECRET, name)}
        case _:
            raise bad_parameter(f"The request URI names no known operation: {echo('/'.join(rest))}")


def origin(request: web.Request) -> str:
    """`https://{Host}`: ids and links point where the client looked, as Key Vault's do."""
    host = request.host.strip()
    if not HOST_PATTERN.fullmatch(host):
        raise bad_parameter("The Host header is not a valid host name.")
    return "https://" + host.lower().removesuffix(":443")
