"""Evaluate main.bicep with parameter values, as a deployment would: concrete resources and grants.

No Bicep compiler or Azure is available here, so this is a small interpreter over the syntax tree
(infra_model.syntax). It follows parameters into modules and module outputs back out, evaluates
conditions and ternaries lazily (as ARM's `if()` does: only the chosen branch), builds resource ids
the way Azure Resource Manager does, and knows the handful of runtime properties the templates read
(a vault's URI, a storage account's endpoints, an identity's principal id).

What it cannot know, because Azure decides it at deployment time (an Application Insights
connection string, a site's host name), becomes a `Deferred` value that says so when it is used.
`uniqueString()` and `guid()` are deterministic stand-ins, since Azure does not publish its hash:
names have Azure's shape (13 characters of [a-z2-7] for uniqueString) but not Azure's values.

A function or construct the interpreter does not know raises `EvaluationError` naming the file and
line, so a template change that outgrows it fails loudly instead of yielding a wrong model.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_model.syntax import BicepFile, Infra, Node, call_arguments, string_parts, text

# Public-cloud DNS suffixes of the endpoints Azure assigns (the properties a template reads back).
# Sources: "Key Vault DNS" (vault.azure.net), "Storage account endpoints" (core.windows.net),
# "Azure Cosmos DB account endpoints" (documents.azure.com, port 443).
VAULT_SUFFIX = "vault.azure.net"
STORAGE_SUFFIX = "core.windows.net"
# What environment() returns in the public cloud, as far as templates here read it ("Deployment
# functions for Bicep", environment(): suffixes.storage, suffixes.keyvaultDns).
ENVIRONMENT = {"name": "AzureCloud", "suffixes": {"storage": STORAGE_SUFFIX, "keyvaultDns": f".{VAULT_SUFFIX}"}}
STORAGE_SERVICES = ("blob", "queue", "table", "file")
COSMOS_SUFFIX = "documents.azure.com"

IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
SITE = "Microsoft.Web/sites"


class EvaluationError(ValueError):
    """The template uses something this interpreter cannot evaluate."""


class Deferred(str):
    """A value Azure assigns during the deployment; its text says which expression it came from."""

    __slots__ = ()

    @classmethod
    def of(cls, what: str) -> Deferred:
        return cls(f"<assigned by Azure: {what}>")


@dataclass(frozen=True)
class Principal:
    principal_id: str
    client_id: str
    tenant_id: str


@dataclass(frozen=True)
class Context:
    """What Azure supplies to a deployment: the subscription, the tenant, and identities' ids.

    `principal_for(resource_id, kind)` gives the ids of a managed identity once its resource exists:
    kind "user" for a user-assigned identity resource, "system" for a site's system identity.
    `unique_string`, when given, stands in for uniqueString() instead of the model's own hash (a tool
    that compares the model with a real deployment gives a recognisable token to find in names).
    """

    subscription_id: str
    tenant_id: str
    principal_for: Callable[[str, str], Principal]
    unique_string: Callable[..., str] | None = None


@dataclass(frozen=True)
class DeployedResource:
    type: str
    id: str
    name: str  # the full name path, "account/default/container"
    symbol: str
    file: str  # relative to the infra folder
    scope: str  # the id of what it is deployed at: a resource group, or the resource an extension applies to
    properties: Mapping[str, Any]  # as declared, evaluated; Deferred where Azure decides
    identity: Mapping[str, Any]

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def source(self) -> str:
        return f"{self.file}:{self.symbol}"


@dataclass(frozen=True)
class _Scope:
    subscription_id: str
    resource_group: str | None  # None: the subscription itself

    @property
    def id(self) -> str:
        base = f"/subscriptions/{self.subscription_id}"
        return base if self.resource_group is None else f"{base}/resourceGroups/{self.resource_group}"


class Deployment:
    """main.bicep evaluated with `parameters`: every resource it deploys, and its outputs."""

    def __init__(self, infra: Infra, parameters: Mapping[str, Any], context: Context) -> None:
        self.infra = infra
        self.context = context
        root = _Scope(context.subscription_id, None)
        self._main = _Instance(self, infra.main, dict(parameters), root)

    @functools.cached_property
    def resources(self) -> tuple[DeployedResource, ...]:
        return tuple(self._main.deployed_resources())

    @functools.cached_property
    def outputs(self) -> dict[str, Any]:
        return self._main.outputs()

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        return [r for r in self.resources if r.type.lower() == resource_type.lower()]

    def relative(self, file: BicepFile) -> str:
        return file.path.relative_to(self.infra.root).as_posix()


# ---- one instance of a file: main.bicep, or a module with its parameters ------------------------


class _Instance:
    def __init__(self, deployment: Deployment, file: BicepFile, params: dict[str, Any], scope: _Scope) -> None:
        self.deployment = deployment
        self.file = file
        self.scope = scope
        self._given = params
        self._declarations = _declarations(file)
        self._values: dict[str, Any] = {}
        self._resolving: set[str] = set()
        unknown = set(params) - set(file.params)
        if unknown:
            raise EvaluationError(f"{file.path.name}: no parameter named {', '.join(sorted(unknown))}")

    # ---- what the instance deploys ---------------------------------------------------------------

    def deployed_resources(self) -> Iterator[DeployedResource]:
        for symbol, (kind, declaration) in self._declarations.items():
            if not self._is_deployed(declaration):
                continue
            if kind == "module":
                module = self.symbol(symbol)
                assert isinstance(module, _ModuleValue)
                yield from module.instance.deployed_resources()
            elif kind == "resource":
                resource = self.symbol(symbol)
                assert isinstance(resource, _ResourceValue)
                if not resource.existing:
                    yield resource.deployed()

    def outputs(self) -> dict[str, Any]:
        return {name: self.evaluate(output.value) for name, output in self.file.outputs.items()}

    def _is_deployed(self, declaration: Node) -> bool:
        condition = _condition(declaration)
        return condition is None or bool(self.evaluate(condition))

    # ---- symbols ---------------------------------------------------------------------------------

    def symbol(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._resolving:
            raise EvaluationError(f"{self.file.path.name}: {name} refers to itself")
        self._resolving.add(name)
        try:
            value = self._resolve(name)
        finally:
            self._resolving.discard(name)
        self._values[name] = value
        return value

    def _resolve(self, name: str) -> Any:
        if name in self.file.params:
            if name in self._given:
                return self._given[name]
            default = self.file.params[name].default
            if default is None:
                raise EvaluationError(f"{self.file.path.name}: parameter {name} is required and was not given")
            return self.evaluate(default)
        if name in self.file.variables:
            return self.evaluate(self.file.variables[name])
        if name in self._declarations:
            kind, declaration = self._declarations[name]
            body = _body(declaration)
            if kind == "module":
                return _ModuleValue(self, name, body)
            return _ResourceValue(self, name, declaration, body)
        raise EvaluationError(f"{self.file.path.name}: unknown symbol {name}")

    # ---- expressions -----------------------------------------------------------------------------

    def evaluate(self, node: Node) -> Any:
        handler = _EVALUATORS.get(node.type)
        if handler is None:
            raise EvaluationError(f"{self._where(node)}: cannot evaluate {node.type} {text(node)[:60]!r}")
        return handler(self, node)

    def _where(self, node: Node) -> str:
        return f"{self.file.path.name}:{node.start_point.row + 1}"

    def _string(self, node: Node) -> str:
        pieces = [p if isinstance(p, str) else self.evaluate(p) for p in string_parts(node)]
        joined = "".join(str(p) for p in pieces)
        return Deferred(joined) if any(isinstance(p, Deferred) for p in pieces) else joined

    def _object(self, node: Node) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for prop in node.named_children:
            if prop.type != "object_property":
                continue
            key, value = prop.named_children[0], prop.named_children[-1]
            name = self._string(key) if key.type == "string" else text(key)
            result[name] = self.evaluate(value)
        return result

    def _array(self, node: Node) -> list[Any]:
        return [self.evaluate(n) for n in node.named_children if n.type != "comment"]

    def _member(self, node: Node) -> Any:
        owner, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
        if owner is None or prop is None:
            raise EvaluationError(f"{self._where(node)}: malformed member access")
        safe = any(child.type == ".?" for child in node.children)
        value = self.evaluate(owner)
        return _member_of(value, text(prop), safe=safe, where=self._where(node))

    def _subscript(self, node: Node) -> Any:
        owner, index = node.named_children[0], node.named_children[-1]
        value, key = self.evaluate(owner), self.evaluate(index)
        if isinstance(value, Deferred):
            return value
        try:
            return value[key]
        except (KeyError, IndexError, TypeError) as error:
            raise EvaluationError(f"{self._where(node)}: {text(node)} has no element {key!r}") from error

    def _ternary(self, node: Node) -> Any:
        condition, when_true, when_false = node.named_children
        return self.evaluate(when_true if self.evaluate(condition) else when_false)

    def _unary(self, node: Node) -> Any:
        operator = node.children[0].type
        value = self.evaluate(node.named_children[0])
        if operator == "!":
            return not value
        if operator == "-":
            return -value
        raise EvaluationError(f"{self._where(node)}: unknown operator {operator}")

    def _binary(self, node: Node) -> Any:
        left_node, right_node = node.named_children[0], node.named_children[-1]
        operator = next(c.type for c in node.children if not c.is_named)
        left = self.evaluate(left_node)
        # Short-circuit as Bicep does, so a guarded reference is never evaluated.
        if operator == "&&":
            return bool(left) and bool(self.evaluate(right_node))
        if operator == "||":
            return bool(left) or bool(self.evaluate(right_node))
        if operator == "??":
            return left if left is not None else self.evaluate(right_node)
        right = self.evaluate(right_node)
        operation = _BINARY.get(operator)
        if operation is None:
            raise EvaluationError(f"{self._where(node)}: unknown operator {operator}")
        return operation(left, right)

    def _call(self, node: Node) -> Any:
        name = text(node.named_children[0]).split(".")[-1]
        arguments = [self.evaluate(a) for a in call_arguments(node)]
        function = _FUNCTIONS.get(name)
        if function is None:
            raise EvaluationError(f"{self._where(node)}: function {name}() is not modelled (infra_model.deployment)")
        return function(self, *arguments)

    def _identifier(self, node: Node) -> Any:
        return self.symbol(text(node))


_EVALUATORS: dict[str, Callable[[_Instance, Node], Any]] = {
    "string": _Instance._string,
    "number": lambda _i, node: int(text(node)),
    "boolean": lambda _i, node: text(node) == "true",
    "null": lambda _i, _node: None,
    "object": _Instance._object,
    "array": _Instance._array,
    "identifier": _Instance._identifier,
    "member_expression": _Instance._member,
    "subscript_expression": _Instance._subscript,
    "parenthesized_expression": lambda i, node: i.evaluate(node.named_children[0]),
    "ternary_expression": _Instance._ternary,
    "unary_expression": _Instance._unary,
    "binary_expression": _Instance._binary,
    "call_expression": _Instance._call,
}

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "=~": lambda a, b: str(a).lower() == str(b).lower(),
    "!~": lambda a, b: str(a).lower() != str(b).lower(),
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _member_of(value: Any, name: str, *, safe: bool, where: str) -> Any:
    if isinstance(value, _SymbolValue):
        return value.member(name, safe=safe, where=where)
    if isinstance(value, Deferred):
        return Deferred.of(f"{value}.{name}")
    if value is None and safe:
        return None
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        if safe:
            return None
        if isinstance(value, _ResourceProperties):
            return Deferred.of(f"properties.{name}")
    raise EvaluationError(f"{where}: no property {name!r}")


# ---- resources and modules as values -------------------------------------------------------------


class _ResourceProperties(dict[str, Any]):
    """A resource's `properties`: what is not declared there is a property Azure assigns."""


class _SymbolValue:
    def member(self, name: str, *, safe: bool, where: str) -> Any:
        raise NotImplementedError


class _ResourceValue(_SymbolValue):
    def __init__(self, owner: _Instance, symbol: str, declaration: Node, body: Node) -> None:
        self.owner = owner
        self.symbol = symbol
        self.body = body
        type_node = declaration.named_children[1]
        self.type, _, self.api_version = str(owner.evaluate(type_node)).partition("@")
        self.existing = any(child.type == "existing" for child in declaration.children)

    @functools.cached_property
    def _declared(self) -> dict[str, Any]:
        """The body's properties, each evaluated on its own: one that Azure assigns stays Deferred."""
        declared: dict[str, Any] = {}
        for prop in self.body.named_children:
            if prop.type == "object_property":
                key = text(prop.named_children[0])
                declared[key] = _lenient(self.owner, prop.named_children[-1])
        return declared

    @functools.cached_property
    def name_path(self) -> str:
        own = str(self.owner.evaluate(_required(self.body, "name", self.owner)))
        parent = _property(self.body, "parent")
        if parent is None:
            return own
        parent_value = self.owner.evaluate(parent)
        assert isinstance(parent_value, _ResourceValue)
        return f"{parent_value.name_path}/{own}"

    @functools.cached_property
    def scope(self) -> _Scope | _ResourceValue:
        declared = _property(self.body, "scope")
        if declared is None:
            return self.owner.scope
        value = self.owner.evaluate(declared)
        if isinstance(value, (_Scope, _ResourceValue)):
            return value
        raise EvaluationError(f"{self.owner.file.path.name}: {self.symbol} has a scope this model cannot place")

    @functools.cached_property
    def id(self) -> str:
        if self.type.lower() == "microsoft.resources/resourcegroups":
            return _Scope(self.owner.scope.subscription_id, self.name_path).id
        namespace, *types = self.type.split("/")
        names = self.name_path.split("/")
        if len(types) != len(names):
            raise EvaluationError(f"{self.symbol}: type {self.type} does not fit name {self.name_path}")
        pairs = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
        return f"{self.scope.id}/providers/{namespace}/{pairs}"

    @functools.cached_property
    def _runtime(self) -> dict[str, Any]:
        return _runtime_properties(self)

    @functools.cached_property
    def _view(self) -> dict[str, Any]:
        declared = dict(self._declared)
        declared["properties"] = _ResourceProperties(
            {**declared.get("properties", {}), **self._runtime.get("properties", {})}
        )
        if "identity" in self._runtime:
            declared["identity"] = {**declared.get("identity", {}), **self._runtime["identity"]}
        return declared

    def member(self, name: str, *, safe: bool, where: str) -> Any:
        fixed: dict[str, Callable[[], Any]] = {
            "id": lambda: self.id,
            "name": lambda: self.name_path.rsplit("/", 1)[-1],
            "type": lambda: self.type,
            "apiVersion": lambda: self.api_version,
        }
        if name in fixed:
            return fixed[name]()
        view = self._view
        if name in view:
            return view[name]
        return None if safe else Deferred.of(f"{self.symbol}.{name}")

    def deployed(self) -> DeployedResource:
        view = self._view
        return DeployedResource(
            type=self.type,
            id=self.id,
            name=self.name_path,
            symbol=self.symbol,
            file=self.owner.deployment.relative(self.owner.file),
            scope=self.scope.id,
            properties=view.get("properties", {}),
            identity=view.get("identity", {}),
        )


class _ModuleValue(_SymbolValue):
    def __init__(self, owner: _Instance, symbol: str, body: Node) -> None:
        self.owner = owner
        self.symbol = symbol
        self.body = body

    @functools.cached_property
    def instance(self) -> _Instance:
        module = self.owner.file.modules[self.symbol]
        target = self.owner.deployment.infra.module_target(self.owner.file, module)
        if target is None:
            raise EvaluationError(f"{self.owner.file.path.name}: module {self.symbol} is not a local file")
        params_node = _property(self.body, "params")
        params = {} if params_node is None else self.owner.evaluate(params_node)
        return _Instance(self.owner.deployment, target, params, self._scope())

    def _scope(self) -> _Scope:
        declared = _property(self.body, "scope")
        if declared is None:
            return self.owner.scope
        value = self.owner.evaluate(declared)
        if isinstance(value, _Scope):
            return value
        if isinstance(value, _ResourceValue) and value.type.lower() == "microsoft.resources/resourcegroups":
            return _Scope(self.owner.scope.subscription_id, value.name_path)
        raise EvaluationError(f"{self.owner.file.path.name}: module {self.symbol} has an unsupported scope")

    def member(self, name: str, *, safe: bool, where: str) -> Any:
        if name == "outputs":
            return self.instance.outputs()
        if name == "name":
            return self.owner.evaluate(_required(self.body, "name", self.owner))
        raise EvaluationError(f"{where}: modules have no property {name!r} here")


# ---- what Azure assigns --------------------------------------------------------------------------


def _runtime_properties(resource: _ResourceValue) -> dict[str, Any]:
    kind = resource.type.lower()
    name = resource.name_path.rsplit("/", 1)[-1]
    context = resource.owner.deployment.context
    if kind == "microsoft.keyvault/vaults":
        return {"properties": {"vaultUri": f"https://{name}.{VAULT_SUFFIX}/"}}
    if kind == "microsoft.storage/storageaccounts":
        endpoints = {service: f"https://{name}.{service}.{STORAGE_SUFFIX}/" for service in STORAGE_SERVICES}
        return {"properties": {"primaryEndpoints": endpoints}}
    if kind == "microsoft.documentdb/databaseaccounts":
        return {"properties": {"documentEndpoint": f"https://{name}.{COSMOS_SUFFIX}:443/"}}
    if kind == IDENTITY.lower():
        principal = context.principal_for(resource.id, "user")
        ids = {"principalId": principal.principal_id, "clientId": principal.client_id}
        return {"properties": {**ids, "tenantId": principal.tenant_id}}
    if kind == SITE.lower():
        declared_identity = resource._declared.get("identity", {})
        if "SystemAssigned" in str(declared_identity.get("type", "")):
            principal = context.principal_for(resource.id, "system")
            return {"identity": {"principalId": principal.principal_id, "tenantId": principal.tenant_id}}
    return {}


# ---- functions -----------------------------------------------------------------------------------


def _unique_string(instance: _Instance, *values: Any) -> str:
    override = instance.deployment.context.unique_string
    if override is not None:
        return override(*values)
    digest = hashlib.sha256("\x1f".join(str(v) for v in values).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


def _guid(_instance: _Instance, *values: Any) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\x1f".join(str(v) for v in values)))


def _subscription(instance: _Instance) -> dict[str, Any]:
    context = instance.deployment.context
    subscription = context.subscription_id
    return {"id": f"/subscriptions/{subscription}", "subscriptionId": subscription, "tenantId": context.tenant_id}


def _resource_group(instance: _Instance) -> dict[str, Any]:
    if instance.scope.resource_group is None:
        raise EvaluationError(f"{instance.file.path.name}: resourceGroup() at subscription scope")
    return {"id": instance.scope.id, "name": instance.scope.resource_group}


def _subscription_resource_id(instance: _Instance, resource_type: str, *names: str) -> str:
    return _provider_id(f"/subscriptions/{instance.deployment.context.subscription_id}", resource_type, names)


def _resource_id(instance: _Instance, resource_type: str, *names: str) -> str:
    return _provider_id(instance.scope.id, resource_type, names)


def _provider_id(prefix: str, resource_type: str, names: tuple[str, ...]) -> str:
    namespace, *types = resource_type.split("/")
    pairs = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"{prefix}/providers/{namespace}/{pairs}"


def _union(_instance: _Instance, *values: Any) -> Any:
    if all(isinstance(v, Mapping) for v in values):
        merged: dict[str, Any] = {}
        for value in values:
            merged.update(value)
        return merged
    unique: list[Any] = []
    for value in values:
        unique.extend(item for item in value if item not in unique)
    return unique


def _concat(_instance: _Instance, *values: Any) -> Any:
    if all(isinstance(v, list) for v in values):
        return [item for value in values for item in value]
    return "".join(str(v) for v in values)


# loadTextContent's encoding names that Python spells otherwise.
_BICEP_ENCODINGS = {"utf-16BigEndian": "utf-16-be", "us-ascii": "ascii"}


def _load_text_content(instance: _Instance, path: str, encoding: str = "utf-8") -> str:
    """Bicep's loadTextContent(): a file beside the Bicep file that names it, read at compile time
    ("File functions for Bicep"), so the deployed text is exactly the file's."""
    source = instance.file.path.parent / path
    try:
        return source.read_text(encoding=_BICEP_ENCODINGS.get(encoding, encoding))
    except OSError as error:
        raise EvaluationError(f"{instance.file.path.name}: loadTextContent('{path}'): {error.strerror}") from None


def _string_of(_instance: _Instance, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toLower": lambda _i, value: str(value).lower(),
    "toUpper": lambda _i, value: str(value).upper(),
    "uniqueString": _unique_string,
    "guid": _guid,
    "subscription": _subscription,
    "tenant": lambda instance: {"tenantId": instance.deployment.context.tenant_id},
    "environment": lambda _i: ENVIRONMENT,
    "resourceGroup": _resource_group,
    "subscriptionResourceId": _subscription_resource_id,
    "resourceId": _resource_id,
    "string": _string_of,
    "int": lambda _i, value: int(value),
    "empty": lambda _i, value: value is None or len(value) == 0,
    "length": lambda _i, value: len(value),
    "contains": lambda _i, container, item: item in container,
    "union": _union,
    "concat": _concat,
    "split": lambda _i, value, separator: str(value).split(separator),
    "join": lambda _i, values, separator: separator.join(str(v) for v in values),
    "replace": lambda _i, value, old, new: str(value).replace(old, new),
    "trim": lambda _i, value: str(value).strip(),
    "first": lambda _i, values: values[0],
    "loadTextContent": _load_text_content,
    "last": lambda _i, values: values[-1],
}


# ---- syntax helpers ------------------------------------------------------------------------------


def _declarations(file: BicepFile) -> dict[str, tuple[str, Node]]:
    kinds = {"resource_declaration": "resource", "module_declaration": "module"}
    return {
        text(node.named_children[0]): (kinds[node.type], node)
        for node in file.root.named_children
        if node.type in kinds
    }


def _condition(declaration: Node) -> Node | None:
    last = declaration.named_children[-1]
    return last.named_children[0] if last.type == "if_statement" else None


def _body(declaration: Node) -> Node:
    last = declaration.named_children[-1]
    return last.named_children[-1] if last.type == "if_statement" else last


def _property(body: Node, key: str) -> Node | None:
    for prop in body.named_children:
        if prop.type == "object_property" and text(prop.named_children[0]) == key:
            return prop.named_children[-1]
    return None


def _required(body: Node, key: str, owner: _Instance) -> Node:
    node = _property(body, key)
    if node is None:
        raise EvaluationError(f"{owner.file.path.name}:{body.start_point.row + 1}: no {key}")
    return node


def _lenient(owner: _Instance, node: Node) -> Any:
    """Evaluate a declared property; one built from values Azure assigns stays Deferred."""
    if node.type == "object":
        result: dict[str, Any] = {}
        for prop in node.named_children:
            if prop.type == "object_property":
                key, value = prop.named_children[0], prop.named_children[-1]
                name = owner._string(key) if key.type == "string" else text(key)
                result[name] = _lenient(owner, value)
        return result
    return owner.evaluate(node)


def load(
    infra_dir: Path,
    parameters: Mapping[str, Any],
    context: Context,
) -> Deployment:
    return Deployment(Infra(infra_dir), parameters, context)
