"""The settings objects fail fast and name the setting that is wrong: the frame's and the feature's."""

from __future__ import annotations

import pytest

from frame.settings import AppSettings, Settings, SettingsError
from function_app import SETTINGS
from webhooks.settings import WebhookSettings

VALID = {
    "AZURE_KEY_VAULT_ENDPOINT": "https://inbox-kv.vault.azure.net/",
    "AZURE_STORAGE_BLOB_ENDPOINT": "https://inboxdata.blob.core.windows.net/",
    "AZURE_COSMOS_ENDPOINT": "https://inbox-cosmos.documents.azure.com:443/",
    "COSMOS_DATABASE": "inbox",
    "COSMOS_CONTAINER": "events",
    "WEBHOOK_SOURCES": "github, stripe,github",
    "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
}


def owner(name: str) -> type[AppSettings]:
    (found,) = [kind for kind in SETTINGS if name in kind.names()]
    return found


def test_valid_environment_parses_with_defaults() -> None:
    frame, webhooks = Settings.from_environment(VALID), WebhookSettings.from_environment(VALID)
    assert frame.key_vault_endpoint == "https://inbox-kv.vault.azure.net"
    assert frame.client_id is None
    assert frame.request_deadline_seconds == 8
    assert webhooks.sources == ("github", "stripe")
    assert (webhooks.events_container, webhooks.digests_container) == ("events", "digests")
    assert webhooks.max_payload_bytes == 1024 * 1024
    assert webhooks.secret_cache_seconds == 300


def test_user_assigned_identity_comes_from_azure_client_id() -> None:
    assert Settings.from_environment({**VALID, "AZURE_CLIENT_ID": "abc"}).client_id == "abc"


def test_each_app_setting_is_read_by_one_settings_object() -> None:
    names = [name for kind in SETTINGS for name in kind.names()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", sorted(n for kind in SETTINGS for n in kind.required_names()))
def test_each_missing_required_setting_is_named(name: str) -> None:
    environment = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(SettingsError, match=name):
        owner(name).from_environment(environment)


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
        ("REQUEST_DEADLINE_SECONDS", "inf"),
        ("AZURE_LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        owner(name).from_environment({**VALID, name: value})


def test_required_names_are_the_ones_without_defaults() -> None:
    assert {name for kind in SETTINGS for name in kind.required_names()} == set(VALID)
