"""The JSON the vault answers with: secret bundles and items, their deleted forms, backups, and listings
paged by an opaque skip token."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, TypeVar

from devstack.keyvault.deletion import DeletionPolicy
from devstack.keyvault.errors import bad_parameter
from devstack.keyvault.routes import Call
from devstack.keyvault.store import DeletedSecret, Secret, Version

DEFAULT_PAGE_SIZE = 25  # REST reference: "If not specified the service will return up to 25 results"

T = TypeVar("T")


# --- shapes


def _attributes(version: Version, policy: DeletionPolicy) -> dict[str, Any]:
    attributes: dict[str, Any] = {"enabled": version.enabled}
    if version.not_before is not None:
        attributes["nbf"] = version.not_before
    if version.expires is not None:
        attributes["exp"] = version.expires
    attributes.update(
        created=version.created,
        updated=version.updated,
        recoveryLevel=policy.recovery_level,
        recoverableDays=policy.retention_days,
    )
    return attributes


def secret_item(
    origin: str, secret: Secret, version: Version, *, versioned: bool, policy: DeletionPolicy
) -> dict[str, Any]:
    """A SecretItem: what listings show. Listing secrets names the secret, listing versions the version."""
    item: dict[str, Any] = {"id": f"{origin}/secrets/{secret.name}", "attributes": _attributes(version, policy)}
    if versioned:
        item["id"] += f"/{version.version}"
    if version.content_type is not None:
        item["contentType"] = version.content_type
    if version.tags:
        item["tags"] = dict(version.tags)
    return item


def secret_bundle(
    origin: str, secret: Secret, version: Version, *, with_value: bool, policy: DeletionPolicy
) -> dict[str, Any]:
    bundle = secret_item(origin, secret, version, versioned=True, policy=policy)
    if with_value:
        bundle = {"value": version.value, **bundle}
    return bundle


def _deletion(origin: str, deleted: DeletedSecret) -> dict[str, Any]:
    return {
        "recoveryId": f"{origin}/deletedsecrets/{deleted.secret.name}",
        "deletedDate": deleted.deleted_date,
        "scheduledPurgeDate": deleted.scheduled_purge_date,
    }


def deleted_secret_bundle(origin: str, deleted: DeletedSecret, policy: DeletionPolicy) -> dict[str, Any]:
    """A DeletedSecretBundle, as delete and get-deleted answer: the latest version's id, never its value."""
    secret = deleted.secret
    bundle = secret_bundle(origin, secret, secret.latest, with_value=False, policy=policy)
    return {**_deletion(origin, deleted), **bundle}


def deleted_secret_item(origin: str, deleted: DeletedSecret, policy: DeletionPolicy) -> dict[str, Any]:
    """A DeletedSecretItem, as the deleted listing shows it: the secret's id without a version."""
    secret = deleted.secret
    item = secret_item(origin, secret, secret.latest, versioned=False, policy=policy)
    return {**_deletion(origin, deleted), **item}


def backup_result(blob: bytes) -> dict[str, str]:
    """BackupSecretResult: the blob in base64url without padding, as Key Vault sends it."""
    return {"value": base64.urlsafe_b64encode(blob).decode().rstrip("=")}


# --- paging


def paginate(entries: list[tuple[str, T]], call: Call, path: str) -> tuple[list[T], str | None]:
    """One page of `(sort key, item)` entries; the skip token carries the last key served."""
    size = _page_size(call.request.query)
    after = _decode_skip_token(call.request.query.get("$skiptoken"))
    remaining = [(key, item) for key, item in entries if after is None or key > after]
    page = remaining[:size]
    if len(remaining) <= size:
        return [item for _, item in page], None
    link = f"{call.origin}{path}?api-version={call.api_version}&$skiptoken={_encode_skip_token(page[-1][0])}"
    if "maxresults" in call.request.query:
        link += f"&maxresults={size}"
    return [item for _, item in page], link


def _page_size(query: Mapping[str, str]) -> int:
    raw = query.get("maxresults")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdecimal() or not 1 <= int(raw) <= DEFAULT_PAGE_SIZE:
        raise bad_parameter(f"The value of maxresults must be an integer from 1 to {DEFAULT_PAGE_SIZE}.")
    return int(raw)


def _encode_skip_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_skip_token(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise bad_parameter("The $skiptoken is not one this vault issued.") from None
