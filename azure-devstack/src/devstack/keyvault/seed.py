"""The secrets a vault starts with: read from a JSON file, checked as the vault would check them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.keyvault.bodies import MAX_VALUE_BYTES
from devstack.keyvault.routes import NAME_PATTERN
from devstack.keyvault.store import NewVersion


@dataclass(frozen=True)
class SeedSecret:
    name: str
    value: str
    content_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def load_seed(path: Path) -> list[SeedSecret]:
    """Secrets to start with, from `{"secrets": [{"name", "value" | null, "contentType"?, "tags"?}]}`.

    A null value becomes a random 32-byte urlsafe string, so a fresh stack never shares a secret with
    another. Repeating a name seeds several versions, oldest first.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = document.get("secrets") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f'{path}: expected an object {{"secrets": [...]}}')
    return [_seed_entry(entry, where=f"{path}: secrets[{index}]") for index, entry in enumerate(entries)]


def _seed_entry(entry: object, *, where: str) -> SeedSecret:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{where}: 'name' must match {NAME_PATTERN.pattern}")
    value = entry.get("value")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: 'value' must be a string or null")
    content_type = entry.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        raise ValueError(f"{where}: 'contentType' must be a string")
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValueError(f"{where}: 'tags' must be an object of strings")
    return SeedSecret(
        name=name,
        value=secrets.token_urlsafe(32) if value is None else value,
        content_type=content_type,
        tags=dict(tags),
    )


def seed_version(entry: SeedSecret) -> NewVersion:
    if not NAME_PATTERN.fullmatch(entry.name):
        raise ValueError(f"seed secret name {entry.name!r} does not match {NAME_PATTERN.pattern}")
    if len(entry.value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise ValueError(f"seed secret {entry.name!r} is larger than {MAX_VALUE_BYTES} bytes")
    return NewVersion(value=entry.value, content_type=entry.content_type, tags=dict(entry.tags))
