"""The vault's contents, in memory: secrets by name, each with its versions oldest first."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from devstack.keyvault.errors import secret_not_found

VERSION_PATTERN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class AttributeChange:
    enabled: bool | None = None
    not_before: int | None = None
    expires: int | None = None


@dataclass(frozen=True)
class NewVersion:
    value: str
    content_type: str | None = None
    tags: Mapping[str, str] | None = None
    attributes: AttributeChange = AttributeChange()


@dataclass(frozen=True)
class PropertyChange:
    content_type: str | None = None
    tags: Mapping[str, str] | None = None
    attributes: AttributeChange = AttributeChange()


@dataclass
class Version:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int

    def apply(self, change: PropertyChange, now: int) -> None:
        if change.content_type is not None:
            self.content_type = change.content_type
        if change.tags is not None:
            self.tags = dict(change.tags)
        if change.attributes.enabled is not None:
            self.enabled = change.attributes.enabled
        if change.attributes.not_before is not None:
            self.not_before = change.attributes.not_before
        if change.attributes.expires is not None:
            self.expires = change.attributes.expires
        self.updated = now


@dataclass
class Secret:
    name: str  # as first written; lookups ignore case, as Key Vault's do
    versions: list[Version] = field(default_factory=list)

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def version(self, version: str) -> Version:
        if not version:
            return self.latest
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        raise secret_not_found(self.name, version)


class Store:
    def __init__(self) -> None:
        self._secrets: dict[str, Secret] = {}

    def add(self, name: str, new: NewVersion, now: int) -> tuple[Secret, Version]:
        secret = self._secrets.setdefault(name.lower(), Secret(name))
        version = Version(
            version=uuid.uuid4().hex,
            value=new.value,
            content_type=new.content_type,
            tags=dict(new.tags or {}),
            enabled=True if new.attributes.enabled is None else new.attributes.enabled,
            not_before=new.attributes.not_before,
            expires=new.attributes.expires,
            created=now,
            updated=now,
        )
        secret.versions.append(version)
        return secret, version

    def find(self, name: str) -> Secret:
        secret = self._secrets.get(name.lower())
        if secret is None:
            raise secret_not_found(name)
        return secret

    def lookup(self, name: str, version: str) -> tuple[Secret, Version]:
        secret = self.find(name)
        if version and not VERSION_PATTERN.fullmatch(version):
            raise secret_not_found(secret.name, version)
        return secret, secret.version(version)

    def by_name(self) -> list[tuple[str, Secret]]:
        return sorted(self._secrets.items())
