"""The secret cache tells a disabled latest version from Key Vault refusing the app's identity."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from azure.core.exceptions import HttpResponseError

from frame.problems import Problem
from tests.unit.service_errors import VAULT_ID, key_vault_error, key_vault_rbac_refusal
from webhooks.secret_cache import SecretCache, latest_disabled

NOW = datetime.datetime.now(datetime.UTC)


@dataclass
class Version:
    version: str
    created_on: datetime.datetime
    enabled: bool = True
    expires_on: datetime.datetime | None = None
    not_before: datetime.datetime | None = None


@dataclass
class Secret:
    value: str
    properties: Version


@dataclass
class Vault:
    """A SecretClient stand-in: two versions, the newest disabled; `latest` is what a plain get answers."""

    latest: HttpResponseError
    versions: list[Version] = field(
        default_factory=lambda: [
            Version("old", NOW - datetime.timedelta(days=2)),
            Version("new", NOW - datetime.timedelta(days=1), enabled=False),
        ]
    )

    async def list_properties_of_secret_versions(self, name: str) -> AsyncIterator[Version]:
        for version in self.versions:
            yield version

    async def get_secret(self, name: str, version: str | None = None) -> Secret:
        if version is None:
            raise self.latest
        return Secret(f"value-{version}", next(v for v in self.versions if v.version == version))


DISABLED = key_vault_error("SecretDisabled", "Operation get is not allowed on a disabled secret.")
REFUSED = key_vault_rbac_refusal("Microsoft.KeyVault/vaults/secrets/getSecret/action", f"{VAULT_ID}/secrets/webhook-a")


def test_a_disabled_version_is_not_a_refusal() -> None:
    assert latest_disabled(DISABLED)
    assert not latest_disabled(REFUSED)


async def test_a_disabled_latest_version_falls_back_on_the_previous_one() -> None:
    cache = SecretCache(cast("Any", Vault(DISABLED)), ttl_seconds=60)
    assert await cache.secrets_for("a") == ("value-old",)


async def test_a_refused_read_is_a_503_naming_key_vault_not_an_empty_secret() -> None:
    cache = SecretCache(cast("Any", Vault(REFUSED)), ttl_seconds=60)
    with pytest.raises(Problem) as raised:
        await cache.secrets_for("a")
    assert (raised.value.status, raised.value.extra["dependency"]) == (503, "keyvault")
