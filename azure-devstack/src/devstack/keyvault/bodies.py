"""Request bodies: read within the size limit, parsed as JSON and checked against Key Vault's limits."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from devstack.keyvault.errors import ServiceError, bad_parameter
from devstack.keyvault.store import AttributeChange, NewVersion, PropertyChange

MAX_VALUE_BYTES = 25 * 1024  # "a maximum size of 25 KB each" (About Azure Key Vault secrets)
MAX_CONTENT_TYPE_CHARS = 255  # same page
MAX_REQUEST_BYTES = 1024 * 1024  # a local guard; Key Vault's own request limit is not documented
LATEST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z: beyond it clients cannot build a datetime


async def read_json_object(request: web.Request) -> dict[str, Any]:
    declared = request.content_length
    if declared is not None and declared > MAX_REQUEST_BYTES:
        raise _too_large()  # refused on the header alone: the body is never read
    try:
        raw = await request.read()  # stops at the app's client_max_size when no length was declared
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_parameter("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_parameter("The request body must be a JSON object.")
    return body


def _too_large() -> ServiceError:
    return ServiceError(
        413, "RequestEntityTooLarge", f"The request body is larger than the {MAX_REQUEST_BYTES} bytes accepted."
    )


def parse_new_version(body: Mapping[str, Any]) -> NewVersion:
    value = body.get("value")
    if value is None:
        raise bad_parameter("Property 'value' is required.")
    if not isinstance(value, str):
        raise bad_parameter("Property 'value' must be a string.")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise bad_parameter(f"Property 'value' is larger than the {MAX_VALUE_BYTES} bytes a secret may hold.")
    return NewVersion(
        value=value,
        content_type=_content_type(body.get("contentType")),
        tags=_tags(body.get("tags")),
        attributes=_attribute_change(body.get("attributes")),
    )


def parse_property_change(body: Mapping[str, Any]) -> PropertyChange:
    return PropertyChange(
        content_type=_content_type(body.get("contentType")),
        tags=_tags(body.get("tags")),
        attributes=_attribute_change(body.get("attributes")),
    )


def parse_backup(body: Mapping[str, Any]) -> bytes:
    """SecretRestoreParameters: `value`, the blob a backup answered, in base64url (padding optional)."""
    value = body.get("value")
    if value is None:
        raise bad_parameter("Property 'value' is required.")
    if not isinstance(value, str):
        raise bad_parameter("Property 'value' must be a string.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise bad_parameter("Property 'value' is not base64url.") from None


def _content_type(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_CONTENT_TYPE_CHARS:
        raise bad_parameter(f"Property 'contentType' must be a string of at most {MAX_CONTENT_TYPE_CHARS} characters.")
    return raw


def _tags(raw: object) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise bad_parameter("Property 'tags' must be an object of string values.")
    return dict(raw)


def _attribute_change(raw: object) -> AttributeChange:
    if raw is None:
        return AttributeChange()
    if not isinstance(raw, dict):
        raise bad_parameter("Property 'attributes' must be an object.")
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise bad_parameter("Property 'attributes.enabled' must be a boolean.")
    return AttributeChange(enabled=enabled, not_before=_timestamp(raw, "nbf"), expires=_timestamp(raw, "exp"))


def _timestamp(attributes: Mapping[str, Any], name: str) -> int | None:
    raw = attributes.get(name)
    if raw is None:
        return None
    # bool is an int to Python, not to JSON's readers: refuse it explicitly.
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= LATEST_TIMESTAMP:
        raise bad_parameter(f"Property 'attributes.{name}' must be a time in epoch seconds.")
    return raw
