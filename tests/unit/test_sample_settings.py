"""local.settings.sample.json documents every setting the app reads, with valid sample values."""

from __future__ import annotations

import json

from devstack.testing import ROOT
from inbox.settings import Settings, all_setting_names

SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_sample_lists_every_app_setting() -> None:
    assert all_setting_names() <= set(SAMPLE)


def test_sample_values_are_valid_settings() -> None:
    Settings.from_environment(SAMPLE)
