"""Renaming what a user of this template renames breaks no check: the checks state requirements.

A copy of infra/ gets another digests container, another Cosmos DB database and a second webhook
source (in main.bicep's default and in main.parameters.json's azd default alike), and every infra
rule in test_bicep.py must still pass on it. A check that compared against this template's own names
would fail here; one that states what Azure or the app requires does not.
"""

from __future__ import annotations

import pytest
from infra_model.resources import app_resources
from infra_model.syntax import Infra

from . import rules
from .conftest import copy_infra, replace_text
from .test_bicep import RULES

DIGESTS = "daily-digests"
DATABASE = "hooks-db"
SOURCES = "github,stripe"


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Infra:
    root = copy_infra(tmp_path_factory.mktemp("renamed") / "infra")
    main, parameters = root / "main.bicep", root / "main.parameters.json"
    replace_text(main, "var digestsContainerName = 'digests'", f"var digestsContainerName = '{DIGESTS}'")
    replace_text(main, "var cosmosDatabaseName = 'inbox'", f"var cosmosDatabaseName = '{DATABASE}'")
    replace_text(main, "param webhookSources string = 'github'", f"param webhookSources string = '{SOURCES}'")
    replace_text(parameters, "${WEBHOOK_SOURCES=github}", f"${{WEBHOOK_SOURCES={SOURCES}}}")
    return Infra(root)


def test_the_renames_reach_the_app(renamed: Infra) -> None:
    """The copy really deploys the new names (else the next test would prove nothing)."""
    try:
        settings = app_resources(rules.evaluate(renamed)).settings
    except (ValueError, KeyError) as error:
        pytest.fail(f"the renamed copy of infra/ does not evaluate: {error}", pytrace=False)
    deployed = {name: settings.get(name) for name in ("DIGESTS_CONTAINER", "COSMOS_DATABASE", "WEBHOOK_SOURCES")}
    assert deployed == {"DIGESTS_CONTAINER": DIGESTS, "COSMOS_DATABASE": DATABASE, "WEBHOOK_SOURCES": SOURCES}, (
        f"the renamed copy gives the app {deployed}; the edits in this test no longer reach the app settings"
    )


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_every_rule_passes_after_the_renames(renamed: Infra, rule: str) -> None:
    problems = RULES[rule](renamed)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
