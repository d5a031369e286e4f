"""A small typed view of Bicep files over tree-sitter-bicep's syntax tree.

No Bicep compiler runs on these machines, and tree-sitter only checks grammar. This module turns the
tree into the few things the infra checks reason about (params, variables, resources, modules,
outputs, role assignments) and evaluates the literal parts of expressions. Anything it cannot
evaluate stays an expression, rendered as its source text, so a check can still compare it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bicep

Node = tree_sitter.Node

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
COSMOS_ROLE_ASSIGNMENT = "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
COSMOS_ACCOUNT = "Microsoft.DocumentDB/databaseAccounts"
# The data-plane scopes of a sqlRoleAssignment are paths below the account: /dbs/<db>[/colls/<c>].
COSMOS_SCOPE_TYPES = {
    "dbs": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases",
    "colls": "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
}


class Unresolved(ValueError):
    """An expression depends on a parameter, a resource or a function: it has no literal value here."""


def text(node: Node) -> str:
    return (node.text or b"").decode()


def string_parts(node: Node) -> list[str | Node]:
    """The pieces of a string literal: text, and the expression inside each ${...}."""
    parts: list[str | Node] = []
    for child in node.named_children:
        if child.type == "interpolation":
            parts.append(child.named_children[0])
        elif child.type == "escape_sequence":
            parts.append(_unescape(text(child)))
        else:
            parts.append(text(child))
    return parts


def _unescape(sequence: str) -> str:
    return {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}.get(sequence, sequence)


def object_properties(node: Node) -> dict[str, Node]:
    """Key -> value node of an object literal (quoted keys are unquoted)."""
    props: dict[str, Node] = {}
    for prop in node.named_children:
        if prop.type != "object_property":
            continue
        key, value = prop.named_children[0], prop.named_children[-1]
        props[text(key).strip("'")] = value
    return props


def decorator_calls(node: Node | None) -> dict[str, Node]:
    """Decorator name -> its call_expression, for the `decorators` node before a declaration."""
    calls: dict[str, Node] = {}
    if node is None or node.type != "decorators":
        return calls
    for decorator in node.named_children:
        call = decorator.named_children[0]
        if call.type == "call_expression":
            calls[text(call.named_children[0])] = call
    return calls


def call_name(node: Node) -> str | None:
    return text(node.named_children[0]) if node.type == "call_expression" else None


def call_arguments(node: Node) -> list[Node]:
    arguments = node.child_by_field_name("arguments")
    return [] if arguments is None else [a for a in arguments.named_children if a.type != "comment"]


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Node | None
    decorators: dict[str, Node]

    @property
    def required(self) -> bool:
        return self.default is None

    def allowed_values(self, file: BicepFile) -> list[Any] | None:
        call = self.decorators.get("allowed")
        return None if call is None else list(file.evaluate(call_arguments(call)[0]))


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    conditional: bool
    body: Node
    line: int

    def get(self, path: str) -> Node | None:
        """The value at a dotted property path, e.g. 'properties.siteConfig.appSettings'."""
        return lookup(self.body, path)


@dataclass(frozen=True)
class Module:
    symbol: str
    source: str
    body: Node
    line: int

    def get(self, path: str) -> Node | None:
        return lookup(self.body, path)

    @property
    def params(self) -> dict[str, Node]:
        params = lookup(self.body, "params")
        return {} if params is None else object_properties(params)

    @property
    def depends_on(self) -> list[str]:
        depends = lookup(self.body, "dependsOn")
        return [] if depends is None else [text(n) for n in depends.named_children if n.type != "comment"]

    @property
    def is_local(self) -> bool:
        return not re.match(r"^(br|ts)[:/]", self.source)


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    value: Node


@dataclass(frozen=True)
class Grant:
    """One role assignment, reduced to what least-privilege review needs."""

    file: str
    symbol: str
    role_id: str
    scope_type: str  # a resource type, or 'resourceGroup' / 'subscription' / 'managementGroup' / 'tenant'
    scope_name: str  # the scope resource's name path, e.g. 'dataAccount/default/eventsContainer'
    principal: str  # the principalId expression as written
    principal_type: Node | None
    name: Node
    conditional: bool


def lookup(node: Node, path: str) -> Node | None:
    current: Node | None = node
    for key in path.split("."):
        if current is None or current.type != "object":
            return None
        current = object_properties(current).get(key)
    return current


class BicepFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_bytes()
        self.tree = _PARSER.parse(self.source)
        self.root = self.tree.root_node

    def __repr__(self) -> str:
        return f"BicepFile({self.path})"

    # ---- syntax --------------------------------------------------------------------------------

    def syntax_errors(self) -> list[str]:
        return [
            f"{self.path}:{node.start_point.row + 1}: {'missing' if node.is_missing else 'cannot parse'} "
            f"{text(node)[:60]!r}"
            for node in _walk(self.root)
            if node.type == "ERROR" or node.is_missing
        ]

    def nested_declarations(self) -> list[Node]:
        """Resources declared inside another resource's body: this walker reads top-level ones only."""
        return [n for n in _walk(self.root) if n.type == "resource_declaration" and n.parent != self.root]

    def looped_declarations(self) -> list[Node]:
        """Resources or modules declared with a `for` loop: their bodies are not expanded here."""
        kinds = {"resource_declaration", "module_declaration"}
        return [n for n in self.root.named_children if n.type in kinds and n.named_children[-1].type == "for_statement"]

    def calls(self, name: str) -> list[Node]:
        """Calls of a function, bare (`f()`) or on a resource (`account.f()`)."""
        return [
            n for n in _walk(self.root) if n.type == "call_expression" and (call_name(n) or "").split(".")[-1] == name
        ]

    # ---- declarations --------------------------------------------------------------------------

    def _declarations(self, kind: str) -> Iterator[tuple[Node, Node | None]]:
        previous: Node | None = None
        for node in self.root.named_children:
            if node.type == kind:
                yield node, previous if previous is not None and previous.type == "decorators" else None
            if node.type != "comment":
                previous = node

    @functools.cached_property
    def target_scope(self) -> str:
        for node in self.root.named_children:
            if node.type == "target_scope_assignment":
                return str(self.evaluate(node.named_children[0]))
        return "resourceGroup"

    @functools.cached_property
    def params(self) -> dict[str, Param]:
        params: dict[str, Param] = {}
        for node, decorators in self._declarations("parameter_declaration"):
            named = node.named_children
            default = named[2] if len(named) > 2 else None
            params[text(named[0])] = Param(text(named[0]), text(named[1]), default, decorator_calls(decorators))
        return params

    @functools.cached_property
    def variables(self) -> dict[str, Node]:
        return {text(n.named_children[0]): n.named_children[-1] for n, _ in self._declarations("variable_declaration")}

    @functools.cached_property
    def resources(self) -> dict[str, Resource]:
        resources: dict[str, Resource] = {}
        for node, _ in self._declarations("resource_declaration"):
            symbol, type_string = node.named_children[0], node.named_children[1]
            resource_type, _, api_version = str(self.evaluate(type_string)).partition("@")
            body, conditional = _body(node.named_children[-1])
            existing = any(child.type == "existing" for child in node.children)
            resources[text(symbol)] = Resource(
                text(symbol), resource_type, api_version, existing, conditional, body, node.start_point.row + 1
            )
        return resources

    @functools.cached_property
    def modules(self) -> dict[str, Module]:
        modules: dict[str, Module] = {}
        for node, _ in self._declarations("module_declaration"):
            symbol, source = node.named_children[0], node.named_children[1]
            body, _conditional = _body(node.named_children[-1])
            modules[text(symbol)] = Module(text(symbol), str(self.evaluate(source)), body, node.start_point.row + 1)
        return modules

    @functools.cached_property
    def outputs(self) -> dict[str, Output]:
        outputs: dict[str, Output] = {}
        for node, _ in self._declarations("output_declaration"):
            named = node.named_children
            outputs[text(named[0])] = Output(text(named[0]), text(named[1]), named[-1])
        return outputs

    def module_file(self, module: Module) -> Path:
        return (self.path.parent / module.source).resolve()

    def output_references(self) -> list[tuple[str, str, int]]:
        """(module symbol, output name, line) for every `<module>.outputs.<name>` in the file."""
        found = []
        for node in _walk(self.root):
            if node.type != "member_expression":
                continue
            inner = node.child_by_field_name("object")
            prop = node.child_by_field_name("property")
            if inner is None or prop is None or inner.type != "member_expression":
                continue
            owner, middle = inner.child_by_field_name("object"), inner.child_by_field_name("property")
            if owner is not None and middle is not None and text(middle) == "outputs" and owner.type == "identifier":
                found.append((text(owner), text(prop), node.start_point.row + 1))
        return found

    # ---- expressions ---------------------------------------------------------------------------

    def evaluate(self, node: Node) -> Any:
        """The literal value of an expression, following variables; Unresolved for anything else."""
        scalar = _SCALARS.get(node.type)
        if scalar is not None:
            return scalar(text(node))
        compound = {
            "string": self._string,
            "array": self._array,
            "object": self._object,
            "identifier": self._variable,
            "member_expression": self._member,
            "parenthesized_expression": self._parenthesized,
        }.get(node.type)
        if compound is None:
            raise Unresolved(text(node))
        return compound(node)

    def _parenthesized(self, node: Node) -> Any:
        return self.evaluate(node.named_children[0])

    def _string(self, node: Node) -> str:
        return "".join(p if isinstance(p, str) else str(self.evaluate(p)) for p in string_parts(node))

    def _array(self, node: Node) -> list[Any]:
        return [self.evaluate(n) for n in node.named_children if n.type != "comment"]

    def _object(self, node: Node) -> dict[str, Any]:
        return {key: self.evaluate(value) for key, value in object_properties(node).items()}

    def _variable(self, node: Node) -> Any:
        if text(node) not in self.variables:
            raise Unresolved(text(node))
        return self.evaluate(self.variables[text(node)])

    def _member(self, node: Node) -> Any:
        owner, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
        value = None if owner is None else self.evaluate(owner)
        if prop is None or not isinstance(value, dict) or text(prop) not in value:
            raise Unresolved(text(node))
        return value[text(prop)]

    def literal(self, node: Node | None) -> Any:
        """evaluate(), or None when the value is absent or not a literal."""
        if node is None:
            return None
        try:
            return self.evaluate(node)
        except Unresolved:
            return None

    def render(self, node: Node) -> str:
        """A string with every literal piece evaluated and the rest kept as ${expression}."""
        if node.type != "string":
            value = self.literal(node)
            return text(node) if value is None else str(value)
        rendered = []
        for part in string_parts(node):
            if isinstance(part, str):
                rendered.append(part)
            else:
                value = self.literal(part)
                rendered.append(f"${{{text(part)}}}" if value is None else str(value))
        return "".join(rendered)

    def name_path(self, resource: Resource) -> str:
        """The resource's name with its parents', as written: 'account/default/container'."""
        name = resource.get("name")
        own = "?" if name is None else self.render(name)
        parent = resource.get("parent")
        if parent is not None and text(parent) in self.resources:
            return f"{self.name_path(self.resources[text(parent)])}/{own}"
        return own

    # ---- role assignments ----------------------------------------------------------------------

    def grants(self) -> list[Grant]:
        grants = []
        for resource in self.resources.values():
            if resource.existing:
                continue
            if resource.type == ROLE_ASSIGNMENT:
                grants.append(self._rbac_grant(resource))
            elif resource.type == COSMOS_ROLE_ASSIGNMENT:
                grants.append(self._cosmos_grant(resource))
        return grants

    def _grant(self, resource: Resource, role_id: str, scope: tuple[str, str]) -> Grant:
        principal = resource.get("properties.principalId")
        name = resource.get("name")
        if name is None:
            raise Unresolved(f"{resource.symbol} has no name")
        return Grant(
            file=self.path.name,
            symbol=resource.symbol,
            role_id=role_id,
            scope_type=scope[0],
            scope_name=scope[1],
            principal="" if principal is None else text(principal),
            principal_type=resource.get("properties.principalType"),
            name=name,
            conditional=resource.conditional,
        )

    def _rbac_grant(self, resource: Resource) -> Grant:
        definition = resource.get("properties.roleDefinitionId")
        role_id = "" if definition is None else self._role_definition_guid(definition)
        return self._grant(resource, role_id, self._rbac_scope(resource.get("scope")))

    def _role_definition_guid(self, node: Node) -> str:
        if call_name(node) in {"subscriptionResourceId", "resourceId", "tenantResourceId"}:
            args = call_arguments(node)
            if len(args) == 2 and self.literal(args[0]) == "Microsoft.Authorization/roleDefinitions":
                return str(self.literal(args[1]) or text(args[1]))
        return self.render(node).rsplit("/", 1)[-1]

    def _rbac_scope(self, scope: Node | None) -> tuple[str, str]:
        if scope is None:
            return (self.target_scope, "")
        if scope.type == "identifier" and text(scope) in self.resources:
            target = self.resources[text(scope)]
            return (target.type, self.name_path(target))
        if scope.type == "call_expression" and call_name(scope) in {"resourceGroup", "subscription", "tenant"}:
            return (str(call_name(scope)), text(scope))
        if scope.type == "call_expression" and call_name(scope) == "managementGroup":
            return ("managementGroup", text(scope))
        return ("unknown", text(scope))

    def _cosmos_grant(self, resource: Resource) -> Grant:
        definition = resource.get("properties.roleDefinitionId")
        role_id = "" if definition is None else self.render(definition).rsplit("/", 1)[-1]
        return self._grant(resource, role_id, self._cosmos_scope(resource.get("properties.scope")))

    def _cosmos_scope(self, scope: Node | None) -> tuple[str, str]:
        """Classify '${account.id}[/dbs/<db>[/colls/<container>]]' by its deepest segment."""
        if scope is None:
            return ("unknown", "")
        parts = string_parts(scope) if scope.type == "string" else [scope]
        head = parts[0] if parts else None
        if not isinstance(head, Node) or head.type != "member_expression" or not text(head).endswith(".id"):
            return ("unknown", text(scope))
        account = self.resources.get(text(head).removesuffix(".id"))
        if account is None or account.type != COSMOS_ACCOUNT:
            return ("unknown", text(scope))
        rest = "".join(p if isinstance(p, str) else self._param_or_text(p) for p in parts[1:])
        segments = [s for s in rest.split("/") if s]
        names = [self.name_path(account)]
        scope_type = COSMOS_ACCOUNT
        for kind, name in zip(segments[::2], segments[1::2], strict=False):
            scope_type = COSMOS_SCOPE_TYPES.get(kind, "unknown")
            names.append(name)
        return (scope_type, "/".join(names))

    def _param_or_text(self, node: Node) -> str:
        value = self.literal(node)
        return text(node) if value is None else str(value)


_SCALARS: dict[str, Callable[[str], Any]] = {
    "number": int,
    "boolean": lambda source: source == "true",
    "null": lambda _source: None,
}


def _body(node: Node) -> tuple[Node, bool]:
    """The object body of a declaration, and whether it sits behind `if (...)`."""
    if node.type == "if_statement":
        return node.named_children[-1], True
    return node, False


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


class Infra:
    """All Bicep files of an infra directory, keyed by path relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = {p.relative_to(root).as_posix(): BicepFile(p) for p in sorted(root.rglob("*.bicep"))}

    @property
    def main(self) -> BicepFile:
        return self.files["main.bicep"]

    def file(self, relative: str) -> BicepFile:
        return self.files[relative]

    def module_target(self, owner: BicepFile, module: Module) -> BicepFile | None:
        target = owner.module_file(module)
        for file in self.files.values():
            if file.path.resolve() == target:
                return file
        return None

    def resources_of_type(self, resource_type: str) -> list[tuple[BicepFile, Resource]]:
        return [
            (file, resource)
            for file in self.files.values()
            for resource in file.resources.values()
            if resource.type == resource_type
        ]

    def grants(self) -> list[Grant]:
        return [grant for file in self.files.values() for grant in file.grants()]
