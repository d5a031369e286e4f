"""The stack serves what infra/ declares, with main.parameters.json as azd resolves it, and refuses
what its local services cannot emulate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from devstack.identities import LocalIdentities
from devstack.local_deployment import deploy
from infra_model.resources import ModelError

MINIMAL_INFRA = Path(__file__).resolve().parents[1] / "minimal_app" / "infra"


def copy_infra(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MINIMAL_INFRA, tmp_path / "infra"))


def test_names_and_settings_come_from_the_bicep() -> None:
    people = LocalIdentities()
    local = deploy(people, "tenant", infra_dir=MINIMAL_INFRA)
    settings = local.app_settings()
    assert settings["VAULT_URL"] == local.resources.vault.uri
    assert settings["AZURE_CLIENT_ID"] == people.app.client_id
    assert local.resources.data_account.containers == ("notes",)
    assert local.resources.host_account.name != local.resources.data_account.name
    assert not any(name.startswith(("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_")) for name in settings)


def test_azd_environment_values_reach_the_parameters_and_defaults_apply_without_them() -> None:
    default = deploy(LocalIdentities(), "tenant", infra_dir=MINIMAL_INFRA)
    renamed = deploy(LocalIdentities(), "tenant", infra_dir=MINIMAL_INFRA, environment={"NOTES_CONTAINER": "jottings"})
    assert default.app_settings()["NOTES_CONTAINER"] == "notes"
    assert renamed.app_settings()["NOTES_CONTAINER"] == "jottings"
    assert renamed.resources.data_account.containers == ("jottings",)


def _with(tmp_path: Path, old: str, new: str) -> Path:
    root = copy_infra(tmp_path)
    app = root / "app.bicep"
    source = app.read_text()
    assert source.count(old) == 1, f"{old!r} must occur once in app.bicep"
    app.write_text(source.replace(old, new))
    return root


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        (
            "properties: { allowSharedKeyAccess: false, allowBlobPublicAccess: false }\n}\n\nresource notesBlobs",
            "properties: { allowSharedKeyAccess: true, allowBlobPublicAccess: false }\n}\n\nresource notesBlobs",
            "allowSharedKeyAccess",
        ),
        (
            "properties: { allowSharedKeyAccess: false, allowBlobPublicAccess: false }\n}\n\nresource notesBlobs",
            "properties: { allowSharedKeyAccess: false, allowBlobPublicAccess: true }\n}\n\nresource notesBlobs",
            "allowBlobPublicAccess",
        ),
        ("disableLocalAuth: true", "disableLocalAuth: false", "disableLocalAuth"),
    ],
)
def test_an_account_with_keys_on_is_refused_not_served_differently(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    with pytest.raises(ModelError, match=named):
        deploy(LocalIdentities(), "tenant", infra_dir=_with(tmp_path, old, new))


def test_a_second_vault_is_refused_in_one_line(tmp_path: Path) -> None:
    second_vault = (
        "resource vault2 'Microsoft.KeyVault/vaults@2024-11-01' = {\n  name: 'other${token}'\n  location: location\n"
        "  properties: { tenantId: subscription().tenantId, sku: { family: 'A', name: 'standard' } }\n}\n\n"
    )
    root = _with(tmp_path, "resource hostAccount", second_vault + "resource hostAccount")
    with pytest.raises(ModelError, match=r"^infra/ deploys 2 Key Vaults .*exactly one$"):
        deploy(LocalIdentities(), "tenant", infra_dir=root)
