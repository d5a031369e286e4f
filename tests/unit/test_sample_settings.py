"""local.settings.sample.json documents every setting the app reads, with valid sample values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frame.settings import AppSettings
from function_app import SETTINGS

ROOT = Path(__file__).resolve().parents[2]  # the repository root

SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_sample_lists_every_app_setting() -> None:
    assert {name for kind in SETTINGS for name in kind.names()} <= set(SAMPLE)


@pytest.mark.parametrize("kind", SETTINGS, ids=lambda kind: kind.__name__)
def test_sample_values_are_valid_settings(kind: type[AppSettings]) -> None:
    kind.from_environment(SAMPLE)
