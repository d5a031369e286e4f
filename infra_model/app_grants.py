"""Which of infra/'s role assignments lets the app do each thing its code does (inbox/permissions.py).

`python -m infra_model.app_grants --write` records the answer in `inbox/grants.json`, which the app
deploys and reads for its diagnostics hints (infra/ itself is not deployed). The infra tests
regenerate it and fail when the committed file is stale, and fail when a need has no grant: a change
that needs a role the Bicep does not give fails here, before anything is deployed.

The answer is the same for both identity kinds and any environment name: it records roles and the
level of scope they are granted at, never a name or an id.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox.permissions import NEEDS, Need, Target
from infra_model import access
from infra_model.authorization import Assignment
from infra_model.deployment import Context, Principal, load
from infra_model.resources import AppResources, app_resources

ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = ROOT / "infra"
MANIFEST = ROOT / "inbox" / "grants.json"
# Any values do: the manifest holds no names. These make one deployment to reason about.
_PARAMETERS = {"environmentName": "grants", "location": "grants", "principalId": "developer"}
_APP = Principal("app-principal", "app-client", "tenant")


@dataclass(frozen=True)
class Grant:
    need: Need
    assignment: Assignment
    scope_level: str  # where the assignment sits, relative to what the need touches


class MissingGrant(LookupError):
    """The app's code does something no role assignment in infra/ allows its identity to do."""


def grants(infra_dir: Path = INFRA_DIR, parameters: Mapping[str, Any] | None = None) -> list[Grant]:
    context = Context("00000000-0000-0000-0000-000000000000", "tenant", lambda _id, _kind: _APP)
    deployment = load(infra_dir, {**_PARAMETERS, **(parameters or {})}, context)
    resources = app_resources(deployment)
    authorizer = access.authorizer(deployment)
    found, missing = [], []
    for need in NEEDS:
        for scope in target_scopes(resources, need.target):
            decision = authorizer.decide(_APP.principal_id, need.action, scope)
            if decision.assignment is None:
                missing.append(f"{need.action} on {scope} ({need.why})")
            else:
                found.append(Grant(need, decision.assignment, _scope_level(decision.assignment.scope, resources)))
    if missing:
        raise MissingGrant("infra/ grants the app's identity nothing for: " + "; ".join(missing))
    return _unique(found)


def target_scopes(resources: AppResources, target: Target) -> Iterator[str]:
    """The scopes the app's requests for a need fall in, as the services compute them."""
    settings = resources.settings
    if target is Target.VAULT:
        for source in str(settings["WEBHOOK_SOURCES"]).split(","):
            yield f"{resources.vault.id}/secrets/webhook-{source.strip()}"
    elif target in (Target.EVENTS_CONTAINER, Target.DIGESTS_CONTAINER):
        name = settings["EVENTS_CONTAINER" if target is Target.EVENTS_CONTAINER else "DIGESTS_CONTAINER"]
        yield f"{resources.data_account.id}/blobServices/default/containers/{name}"
    else:
        yield f"{resources.cosmos.id}/dbs/{settings['COSMOS_DATABASE']}/colls/{settings['COSMOS_CONTAINER']}"


def _scope_level(scope: str, resources: AppResources) -> str:
    levels = {
        resources.vault.id: "vault",
        resources.data_account.id: "account",
        resources.cosmos.id: "account",
    }
    for prefix, level in levels.items():
        if scope.lower() == prefix.lower():
            return level
    tail = scope.rsplit("/", 2)[-2].lower()
    return {"containers": "container", "secrets": "secret", "dbs": "database", "colls": "container"}[tail]


def _unique(found: list[Grant]) -> list[Grant]:
    seen: dict[tuple[str, str, str], Grant] = {}
    for grant in found:
        seen.setdefault((grant.need.dependency, grant.need.target, grant.need.action), grant)
    return list(seen.values())


def manifest(infra_dir: Path = INFRA_DIR) -> dict[str, Any]:
    return {
        "about": "Generated from infra/ by `python -m infra_model.app_grants --write`; do not edit.",
        "grants": [
            {
                "dependency": g.need.dependency,
                "target": str(g.need.target),
                "action": g.need.action,
                "role": g.assignment.role.name,
                # A built-in role's GUID; for a custom Cosmos DB role, its name (its id differs per account).
                "roleId": g.assignment.role.id if "/" not in g.assignment.role.id else None,
                "scopeLevel": g.scope_level,
            }
            for g in grants(infra_dir)
        ],
    }


def render(infra_dir: Path = INFRA_DIR) -> str:
    return json.dumps(manifest(infra_dir), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra_model.app_grants", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {MANIFEST.relative_to(ROOT)}")
    parser.add_argument("--infra-dir", type=Path, default=INFRA_DIR)
    args = parser.parse_args(argv)
    text = render(args.infra_dir)
    if args.write:
        MANIFEST.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
