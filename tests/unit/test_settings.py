"""The settings object fails fast and names the setting that is wrong."""

from __future__ import annotations

import pytest

from inbox.settings import Settings, SettingsError, required_setting_names

VALID = {
    "AZURE_KEY_VAULT_ENDPOINT": "https://inbox-kv.vault.azure.net/",
    "AZURE_STORAGE_BLOB_ENDPOINT": "https://inboxdata.blob.core.windows.net/",
    "AZURE_COSMOS_ENDPOINT": "https://inbox-cosmos.documents.azure.com:443/",
    "COSMOS_DATABASE": "inbox",
    "COSMOS_CONTAINER": "events",
    "WEBHOOK_SOURCES": "github, stripe,github",
    "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
}


def test_valid_environment_parses_with_defaults() -> None:
    settings = Settings.from_environment(VALID)
    assert settings.key_vault_endpoint == "https://inbox-kv.vault.azure.net"
    assert settings.sources == ("github", "stripe")
    assert settings.client_id is None
    assert (settings.events_container, settings.digests_container) == ("events", "digests")
    assert settings.max_payload_bytes == 1024 * 1024
    assert settings.secret_cache_seconds == 300


def test_user_assigned_identity_comes_from_azure_client_id() -> None:
    assert Settings.from_environment({**VALID, "AZURE_CLIENT_ID": "abc"}).client_id == "abc"


@pytest.mark.parametrize("name", sorted(required_setting_names()))
def test_each_missing_required_setting_is_named(name: str) -> None:
    environment = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(SettingsError, match=name):
        Settings.from_environment(environment)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZURE_KEY_VAULT_ENDPOINT", "http://inbox-kv.vault.azure.net"),
        ("AZURE_COSMOS_ENDPOINT", "not a url"),
        ("WEBHOOK_SOURCES", "Git Hub"),
        ("WEBHOOK_SOURCES", " , "),
        ("WEBHOOK_SOURCES", "a" * 33),
        ("MAX_PAYLOAD_BYTES", "1MB"),
        ("SECRET_CACHE_SECONDS", "0"),
        ("AZURE_TOKEN_CREDENTIALS", "SomethingElse"),
        ("EVENTS_CONTAINER", "Events_Archive"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_environment({**VALID, name: value})


def test_required_names_are_the_ones_without_defaults() -> None:
    assert required_setting_names() == set(VALID)
