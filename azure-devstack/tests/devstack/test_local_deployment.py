"""The stack serves what infra/ declares, and refuses what its local services cannot emulate."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.identities import LocalIdentities
from devstack.local_deployment import deploy
from tests.infra.conftest import copy_infra, replace_text


def test_names_and_settings_come_from_the_bicep() -> None:
    people = LocalIdentities()
    local = deploy(people, "tenant", sources="github")
    settings = local.app_settings()
    assert settings["AZURE_KEY_VAULT_ENDPOINT"] == local.resources.vault.uri
    assert settings["AZURE_CLIENT_ID"] == people.app.client_id
    assert local.resources.host_account.name != local.resources.data_account.name
    assert not any(name.startswith(("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_")) for name in settings)


@pytest.mark.parametrize(
    ("module", "old", "new", "named"),
    [
        ("data-storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", "allowSharedKeyAccess"),
        ("data-storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true", "allowBlobPublicAccess"),
        ("cosmos.bicep", "disableLocalAuth: true", "disableLocalAuth: false", "disableLocalAuth"),
    ],
)
def test_an_account_with_keys_on_is_refused_not_served_differently(
    tmp_path: Path, module: str, old: str, new: str, named: str
) -> None:
    root = copy_infra(tmp_path / "infra")
    replace_text(root / "modules" / module, old, new)
    with pytest.raises(ValueError, match=named):
        deploy(LocalIdentities(), "tenant", sources="github", infra_dir=root)
