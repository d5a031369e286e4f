"""What an app declares its code does with its managed identity: resources and the data actions on them.

The declaration is a TOML file of the app's (`access` in `[tool.devstack]`), a list of `[[resource]]`
tables. Each names the service and the app settings that locate the resource, so the tools can find it
in infra/'s deployment the way the app finds it at run time:

```toml
[[resource]]
name = "archive"                      # any name; diagnostics and messages use it
service = "blob"                      # keyvault | blob | cosmos
endpoint-setting = "STORAGE_URL"      # the app setting holding the account, vault or Cosmos DB endpoint
container-setting = "ARCHIVE"         # blob: the container;  cosmos: also database-setting
secret-names = "hook-{SOURCES}"       # keyvault: the secrets, {SETTING} filled per comma-separated value
actions = [{ action = "Microsoft.Storage/.../blobs/read", why = "read a payload back" }]
```
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.project import ProjectError

SERVICES = ("keyvault", "blob", "cosmos")
# The settings each service needs besides its endpoint.
_LOCATORS = {
    "keyvault": ("secret-names",),
    "blob": ("container-setting",),
    "cosmos": ("database-setting", "container-setting"),
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DeclaredAction:
    action: str
    why: str


@dataclass(frozen=True)
class Resource:
    name: str
    service: str
    endpoint_setting: str
    actions: tuple[DeclaredAction, ...]
    container_setting: str | None = None
    database_setting: str | None = None
    secret_names: str | None = None  # a template: "hook-{SOURCES}"

    def secrets(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """Secret name -> the setting value that filled its placeholder (the name, without one)."""
        if self.secret_names is None:
            return {}
        return expand(self.secret_names, settings)

    def settings_used(self) -> list[str]:
        names = [self.endpoint_setting, self.container_setting, self.database_setting]
        names += _PLACEHOLDER.findall(self.secret_names or "")
        return [n for n in names if n]


@dataclass(frozen=True)
class Declaration:
    path: Path
    resources: tuple[Resource, ...]

    def of_service(self, service: str) -> list[Resource]:
        return [r for r in self.resources if r.service == service]

    def actions(self) -> Iterator[tuple[Resource, DeclaredAction]]:
        for resource in self.resources:
            for action in resource.actions:
                yield resource, action

    @classmethod
    def load(cls, path: Path) -> Declaration:
        try:
            document = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ProjectError(f"{path} is not valid TOML: {error}") from None
        entries = document.get("resource", [])
        if not isinstance(entries, list):
            raise ProjectError(f"{path}: declare resources as [[resource]] tables")
        resources = tuple(_resource(entry, path) for entry in entries)
        names = [r.name for r in resources]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ProjectError(f"{path}: resource names must be unique; {', '.join(duplicated)} appear twice")
        return cls(path, resources)


def expand(template: str, settings: Mapping[str, Any]) -> dict[str, str]:
    """`hook-{SOURCES}` with SOURCES="a,b" -> {"hook-a": "a", "hook-b": "b"}; one placeholder at most."""
    names = _PLACEHOLDER.findall(template)
    if not names:
        return {template: template}
    (setting,) = names
    values = [v.strip() for v in str(settings.get(setting, "")).split(",") if v.strip()]
    return {template.replace("{" + setting + "}", value): value for value in values}


def _resource(entry: Any, path: Path) -> Resource:
    if not isinstance(entry, dict):
        raise ProjectError(f"{path}: each [[resource]] must be a table")
    name = str(entry.get("name", "")) or "<unnamed>"
    where = f"{path}: resource {name!r}"
    service = entry.get("service")
    if service not in SERVICES:
        raise ProjectError(f"{where}: service must be one of {', '.join(SERVICES)}, got {service!r}")
    missing = [key for key in ("name", "endpoint-setting", *_LOCATORS[service]) if not entry.get(key)]
    if missing:
        raise ProjectError(f"{where}: a {service} resource needs {', '.join(missing)}")
    if service == "keyvault" and len(_PLACEHOLDER.findall(str(entry["secret-names"]))) > 1:
        raise ProjectError(f"{where}: secret-names may use one {{SETTING}} placeholder at most")
    actions = entry.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, dict) and a.get("action") for a in actions):
        raise ProjectError(f'{where}: actions must be a list of {{ action = "...", why = "..." }}')
    return Resource(
        name=name,
        service=service,
        endpoint_setting=str(entry["endpoint-setting"]),
        container_setting=entry.get("container-setting"),
        database_setting=entry.get("database-setting"),
        secret_names=entry.get("secret-names"),
        actions=tuple(DeclaredAction(str(a["action"]), str(a.get("why", ""))) for a in actions),
    )
