"""What a data-plane request asks for: the operation its method and path name, its api-version, its origin."""

from __future__ import annotations

import re
from collections.abc import Mapping
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
OPERATIONS = (GET_SECRET, GET_SECRET_VERSIONS, GET_SECRETS, SET_SECRET, UPDATE_SECRET)
# Not served yet (their paths answer 405 or 400): named so the RBAC table already covers them.
DELETE_SECRET = "deleteSecret"  # noqa: S105
GET_DELETED_SECRET = "getDeletedSecret"  # noqa: S105
GET_DELETED_SECRETS = "getDeletedSecrets"
RECOVER_DELETED_SECRET = "recoverDeletedSecret"  # noqa: S105
PURGE_DELETED_SECRET = "purgeDeletedSecret"  # noqa: S105
BACKUP_SECRET = "backupSecret"  # noqa: S105
RESTORE_SECRET = "restoreSecret"  # noqa: S105

NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")
# "7.4", "7.6-preview.2", "2025-07-01": any version shape passes, so newer SDKs keep working.
API_VERSION_PATTERN = re.compile(r"\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?")
HOST_PATTERN = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


@dataclass(frozen=True)
class Route:
    operation: str
    name: str = ""
    version: str = ""  # "" = the latest version


@dataclass(frozen=True)
class Call:
    request: web.Request
    route: Route
    origin: str
    api_version: str


def resolve(method: str, raw_path: str) -> Route:
    segments = [unquote(segment) for segment in raw_path.split("/")[1:]]
    if not segments or segments[0].lower() != "secrets":
        raise ServiceError(404, "NotFound", "This vault serves only the secrets API under /secrets.")
    rest = segments[1:]
    if rest and rest[-1] == "":
        rest = rest[:-1]  # "/secrets/name/" is "/secrets/name": the latest version
    routes = _routes_for(rest)
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


def _routes_for(rest: list[str]) -> dict[str, Route]:
    match rest:
        case []:
            return {"GET": Route(GET_SECRETS)}
        case [name]:
            return {
                "GET": Route(GET_SECRET, name),
                "PUT": Route(SET_SECRET, name),
                "PATCH": Route(UPDATE_SECRET, name),
            }
        case [name, "versions"]:
            return {"GET": Route(GET_SECRET_VERSIONS, name)}
        case [name, version]:
            return {"GET": Route(GET_SECRET, name, version), "PATCH": Route(UPDATE_SECRET, name, version)}
        case _:
            # Key Vault reads a third segment as an operation name and refuses ones it does not know.
            raise bad_parameter(f"The request URI names no known operation: {echo('/'.join(rest))}")


def api_version(query: Mapping[str, str]) -> str:
    version = query.get("api-version", "")
    if not version:
        raise bad_parameter("The api-version query parameter is missing or empty.")
    if not API_VERSION_PATTERN.fullmatch(version):
        raise bad_parameter(f"The specified version ({echo(version)}) is not recognized.")
    return version


def origin(request: web.Request) -> str:
    """`https://{Host}`: ids and links point where the client looked, as Key Vault's do."""
    host = request.host.strip()
    if not HOST_PATTERN.fullmatch(host):
        raise bad_parameter("The Host header is not a valid host name.")
    return "https://" + host.lower().removesuffix(":443")
