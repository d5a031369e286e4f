"""The identities of the local tenant. What each may do is what infra/ grants it (devstack/local_deployment.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.identity_endpoint import Directory
from devstack.tokens import Identity


@dataclass(frozen=True)
class LocalIdentities:
    system: Identity = field(default_factory=lambda: Identity.new("system"))
    app: Identity = field(default_factory=lambda: Identity.new("user"))  # the app's user-assigned identity
    developer: Identity = field(default_factory=lambda: Identity.new("user"))  # stands in for `az login`
    outsider: Identity = field(default_factory=lambda: Identity.new("user"))  # holds no role anywhere

    def directory(self) -> Directory:
        return Directory(system=self.system, user_assigned=(self.app, self.developer, self.outsider))

    def as_json(self) -> dict[str, dict[str, str]]:
        named = {"system": self.system, "app": self.app, "developer": self.developer, "outsider": self.outsider}
        return {name: {"clientId": i.client_id, "objectId": i.object_id, "kind": i.kind} for name, i in named.items()}
