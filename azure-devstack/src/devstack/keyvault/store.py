"""The vault's contents, in memory: live and soft-deleted secrets by name, each with its versions
oldest first.

Nothing is written to disk: the contents live as long as the stack (the seed refills them at start).
A deleted secret keeps its name, versions and times until it is recovered, purged, or its scheduled
purge date passes; while it is deleted its name cannot be set or restored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from devstack.keyvault.errors import (
    deleted_but_recoverable,
    deleted_secret_not_found,
    restore_conflict,
    secret_not_found,
)

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


@dataclass
class DeletedSecret:
    secret: Secret
    deleted_date: int
    scheduled_purge_date: int


class Store:
    def __init__(self) -> None:
        self._secrets: dict[str, Secret] = {}
        self._deleted: dict[str, DeletedSecret] = {}

    # --- live secrets

    def add(self, name: str, new: NewVersion, now: int) -> tuple[Secret, Version]:
        deleted = self._deleted_now(name, now)
        if deleted is not None:
            raise deleted_but_recoverable(deleted.secret.name)
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

    def get(self, name: str) -> Secret | None:
        return self._secrets.get(name.lower())

    def find(self, name: str) -> Secret:
        secret = self.get(name)
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

    def restore(self, secret: Secret, now: int, secret_id: str) -> Secret:
        """A backed-up secret back under its name, unless the name is taken, live or deleted."""
        key = secret.name.lower()
        if key in self._secrets or self._deleted_now(key, now) is not None:
            raise restore_conflict(secret_id)
        self._secrets[key] = secret
        return secret

    # --- soft delete

    def delete(self, name: str, now: int, purge_date: int) -> DeletedSecret:
        secret = self._secrets.pop(name.lower(), None)
        if secret is None:
            raise secret_not_found(name)
        deleted = DeletedSecret(secret, deleted_date=now, scheduled_purge_date=purge_date)
        self._deleted[name.lower()] = deleted
        return deleted

    def deleted(self, name: str, now: int) -> DeletedSecret:
        deleted = self._deleted_now(name, now)
        if deleted is None:
            raise deleted_secret_not_found(name)
        return deleted

    def deleted_by_name(self, now: int) -> list[tuple[str, DeletedSecret]]:
        self._purge_due(now)
        return sorted(self._deleted.items())

    def recover(self, name: str, now: int) -> Secret:
        deleted = self.deleted(name, now)
        del self._deleted[name.lower()]
        self._secrets[name.lower()] = deleted.secret
        return deleted.secret

    def purge(self, name: str, now: int) -> None:
        self.deleted(name, now)
        del self._deleted[name.lower()]

    def _deleted_now(self, name: str, now: int) -> DeletedSecret | None:
        self._purge_due(now)
        return self._deleted.get(name.lower())

    def _purge_due(self, now: int) -> None:
        """What the vault purges by itself once a deleted secret's retention has passed."""
        due = [key for key, deleted in self._deleted.items() if deleted.scheduled_purge_date <= now]
        for key in due:
            del self._deleted[key]
