"""The identities of the local tenant, and the roles each holds, mirroring what infra/ grants in Azure."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.identity_endpoint import Directory
from devstack.keyvault import SECRETS_OFFICER, SECRETS_USER
from devstack.tokens import Identity


@dataclass(frozen=True)
class LocalIdentities:
    system: Identity = field(default_factory=lambda: Identity.new("system"))
    app: Identity = field(default_factory=lambda: Identity.new("user"))  # the app's user-assigned identity
    developer: Identity = field(default_factory=lambda: Identity.new("user"))  # stands in for `az login`
    outsider: Identity = field(default_factory=lambda: Identity.new("user"))  # holds no role anywhere

    def directory(self) -> Directory:
        return Directory(system=self.system, user_assigned=(self.app, self.developer, self.outsider))

    def keyvault_roles(self) -> dict[str, frozenset[str]]:
        return {
            self.system.object_id: frozenset({SECRETS_USER}),
            self.app.object_id: frozenset({SECRETS_USER}),
            self.developer.object_id: frozenset({SECRETS_OFFICER}),
        }

    def data_contributors(self) -> tuple[Identity, ...]:
        """Blob and Cosmos data roles (Azurite enforces none; the Cosmos server does)."""
        return (self.system, self.app, self.developer)

    def as_json(self) -> dict[str, dict[str, str]]:
        named = {"system": self.system, "app": self.app, "developer": self.developer, "outsider": self.outsider}
        return {name: {"clientId": i.client_id, "objectId": i.object_id, "kind": i.kind} for name, i in named.items()}
