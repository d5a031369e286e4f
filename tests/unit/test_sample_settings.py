"""local.settings.sample.json documents every setting the app reads, with valid sample values."""

from __future__ import annotations

import json
from pathlib import Path

from inbox.settings import Settings, all_setting_names

ROOT = Path(__file__).resolve().parents[2]  # the repository root

SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_sample_lists_every_app_setting() -> None:
    assert all_setting_names() <= set(SAMPLE)


def test_sample_values_are_valid_settings() -> None:
    Settings.from_environment(SAMPLE)
