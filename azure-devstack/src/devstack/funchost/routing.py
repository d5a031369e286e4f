"""HTTP route templates with the Functions host's (ASP.NET Core's) syntax, compiled once at start-up.

Supported: literal segments (matched case-insensitively), `{name}`, inline constraints such as
`{id:int}` or `{id:int:min(1)}`, optional parameters `{name?}`, defaults `{name=value}`, catch-all
`{*rest}` / `{**rest}` as the last segment, several parameters in one segment (`{name}.{ext}`), and
`{{` / `}}` for literal braces (needed inside `regex(...)`). A trailing slash in the request path is
ignored, as ASP.NET does. Paths are matched as Kestrel decodes them (request_path): an encoded slash
`%2F` is three ordinary characters inside one segment, and route values are never decoded further.

Routes are tried in registration order and the first whose template, constraints and methods all
match wins, which is how the host's RouteCollection behaves: a method mismatch is just another
constraint failing, so it falls through to the next route and ends as 404, never 405.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from devstack.funchost.constraints import Constraint, parse_constraint

T = TypeVar("T")

# A parameter captures non-empty text within one segment; a catch-all captures the rest of the path.
# Greedy captures give ASP.NET's right-to-left reading of `{name}.{ext}`: "a.b.c" -> ("a.b", "c").
# Paths can hold any character Kestrel decoded, newlines included (`%0A`), hence `(?s:...)` and `\Z`
# (`$` would also match before a final newline).
_SEGMENT_VALUE = "[^/]+"
_REST_VALUE = "(?s:.*)"
_END = r"/?\Z"


class RouteTemplateError(ValueError):
    """The template cannot be compiled; the host refuses such a function at start-up too."""


@dataclass(frozen=True)
class Parameter:
    name: str
    constraints: tuple[Constraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


@dataclass(frozen=True)
class Literal:
    text: str


Part = Parameter | Literal


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    target: T
    route_params: dict[str, str]


@dataclass(frozen=True)
class CompiledRoute(Generic[T]):
    template: str
    target: T
    methods: frozenset[str] | None
    pattern: re.Pattern[str]
    parameters: tuple[tuple[str, Parameter], ...]  # (regex group name, parameter)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        if found is None or not self._allows(method):
            return None
        return self._route_params(found)

    def _allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods

    def _route_params(self, found: re.Match[str]) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for group, parameter in self.parameters:
            value = found.group(group) or parameter.default
            if value is None:
                continue  # absent optional values are not sent to the worker (the host drops nulls)
            if not all(constraint.accepts(value) for constraint in parameter.constraints):
                return None
            values[parameter.name] = value
        return values


class RouteTable(Generic[T]):
    """Every HTTP function's route, compiled once; `match` is the per-request work."""

    def __init__(self, routes: Iterable[CompiledRoute[T]]) -> None:
        self._routes = tuple(routes)

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        for route in self._routes:
            params = route.match(method, path)
            if params is not None:
                return RouteMatch(route.target, params)
        return None


def full_template(route_prefix: str, route: str) -> str:
    """The template the host registers: the routePrefix from host.json, then the function's route."""
    return "/".join(part for part in (route_prefix.strip("/"), _strip_leading_slashes(route)) if part)


def compile_route(template: str, target: T, methods: Sequence[str] | None = None) -> CompiledRoute[T]:
    segments = [parse_segment(text) for text in _split_segments(template)]
    _check_shape(template, segments)
    pattern, parameters = _build_pattern(segments)
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise RouteTemplateError(f"route template {template!r} compiles to an invalid pattern: {exc}") from exc
    allowed = frozenset(m.upper() for m in methods) if methods else None
    return CompiledRoute(template, target, allowed, compiled, parameters)


def _strip_leading_slashes(route: str) -> str:
    if route.startswith("~/"):
        route = route[2:]
    return route.lstrip("/")


def _split_segments(template: str) -> list[str]:
    template = _strip_leading_slashes(template)
    if template == "":
        return []
    segments = template.split("/")
    if any(segment == "" for segment in segments):
        raise RouteTemplateError(f"route template {template!r} has an empty segment")
    return segments


def parse_segment(text: str) -> tuple[Part, ...]:
    """Split one segment into literals and parameters, honouring `{{` and `}}` escapes."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(char)
            i += 2
        elif char == "{":
            if literal:
                parts.append(Literal("".join(literal)))
                literal = []
            body, i = _read_parameter_body(text, i + 1)
            parts.append(parse_parameter(body))
        elif char == "}":
            raise RouteTemplateError(f"unmatched '}}' in route segment {text!r}")
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append(Literal("".join(literal)))
    _check_adjacent_parameters(text, parts)
    return tuple(parts)


def _read_parameter_body(text: str, start: int) -> tuple[str, int]:
    body: list[str] = []
    i = start
    while i < len(text):
        if text.startswith("}}", i) or text.startswith("{{", i):
            body.append(text[i])
            i += 2
        elif text[i] == "}":
            return "".join(body), i + 1
        elif text[i] == "{":
            raise RouteTemplateError(f"unescaped '{{' inside a parameter in route segment {text!r}")
        else:
            body.append(text[i])
            i += 1
    raise RouteTemplateError(f"unterminated parameter in route segment {text!r}")


def _check_adjacent_parameters(text: str, parts: Sequence[Part]) -> None:
    for left, right in itertools.pairwise(parts):
        if isinstance(left, Parameter) and isinstance(right, Parameter):
            raise RouteTemplateError(f"route segment {text!r} has two parameters with no literal between them")


def parse_parameter(body: str) -> Parameter:
    """`[*|**]name[:constraint[(args)]]...[?|=default]`, as ASP.NET Core's route pattern parser reads it."""
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    name_end = _first_of(body, ":=?", 0)
    name = body[:name_end]
    if not name or any(c in name for c in "/{}*"):
        raise RouteTemplateError(f"invalid route parameter name {name!r}")
    constraints, rest = _read_constraints(body, name_end)
    optional, default = _read_suffix(name, rest)
    if catch_all and optional:
        raise RouteTemplateError(f"catch-all parameter {name!r} cannot be marked optional")
    return Parameter(name, tuple(constraints), optional or default is not None, default, catch_all)


def _read_constraints(body: str, i: int) -> tuple[list[Constraint], str]:
    constraints: list[Constraint] = []
    while i < len(body) and body[i] == ":":
        end = _constraint_end(body, i + 1)
        constraints.append(_parse_constraint_text(body[i + 1 : end]))
        i = end
    return constraints, body[i:]


def _constraint_end(body: str, start: int) -> int:
    """End of one inline constraint: an argument list runs to the `)` that ends the constraint."""
    name_end = _first_of(body, "(:=?", start)
    if name_end == len(body) or body[name_end] != "(":
        return name_end
    for close in (m.start() for m in re.finditer(r"\)", body[name_end:])):
        after = name_end + close + 1
        if after == len(body) or body[after] in ":=" or body[after:] == "?":
            return after
    raise RouteTemplateError(f"unterminated constraint argument in {body!r}")


def _parse_constraint_text(text: str) -> Constraint:
    name, _, args = text.partition("(")
    argument = args[:-1] if args else None
    try:
        return parse_constraint(name, argument)
    except ValueError as exc:
        raise RouteTemplateError(str(exc)) from exc


def _read_suffix(name: str, rest: str) -> tuple[bool, str | None]:
    if rest == "":
        return False, None
    if rest == "?":
        return True, None
    if rest.startswith("="):
        return False, rest[1:]
    raise RouteTemplateError(f"unexpected text {rest!r} after route parameter {name!r}")


def _first_of(text: str, chars: str, start: int) -> int:
    positions = [p for p in (text.find(c, start) for c in chars) if p != -1]
    return min(positions, default=len(text))


def _check_shape(template: str, segments: Sequence[tuple[Part, ...]]) -> None:
    names = [p.name.lower() for parts in segments for p in parts if isinstance(p, Parameter)]
    if len(names) != len(set(names)):
        raise RouteTemplateError(f"route template {template!r} uses a parameter name twice")
    for index, parts in enumerate(segments):
        for part in parts:
            if isinstance(part, Parameter) and part.catch_all and index != len(segments) - 1:
                raise RouteTemplateError(f"catch-all parameter {part.name!r} must be in the last segment")
            if isinstance(part, Parameter) and part.optional and len(parts) > 1:
                raise RouteTemplateError(
                    f"optional parameter {part.name!r} shares its segment with other text "
                    "(the devstack host only supports optional parameters as whole segments)"
                )
    _check_optional_tail(template, segments)


def _check_optional_tail(template: str, segments: Sequence[tuple[Part, ...]]) -> None:
    """Once a segment may be missing, every later one must be too, or the template can never match."""
    seen_optional = False
    for parts in segments:
        skippable = _is_skippable(parts)
        if seen_optional and not skippable:
            raise RouteTemplateError(f"route template {template!r} has a required segment after an optional one")
        seen_optional = seen_optional or skippable


def _is_skippable(parts: tuple[Part, ...]) -> bool:
    only = parts[0] if len(parts) == 1 else None
    return isinstance(only, Parameter) and (only.optional or only.catch_all)


def _build_pattern(segments: Sequence[tuple[Part, ...]]) -> tuple[str, tuple[tuple[str, Parameter], ...]]:
    parameters: list[tuple[str, Parameter]] = []

    def group_for(parameter: Parameter) -> str:
        group = f"p{len(parameters)}"
        parameters.append((group, parameter))
        return group

    required: list[str] = []
    skippable: list[str] = []
    for parts in segments:
        piece = "/" + _segment_pattern(parts, group_for)
        (skippable if skippable or _is_skippable(parts) else required).append(piece)
    # Optional segments nest, so a later one can only be present when the earlier ones are.
    tail = ""
    for piece in reversed(skippable):
        tail = f"(?:{piece}{tail})?"
    return "^" + "".join(required) + tail + _END, tuple(parameters)


def _segment_pattern(parts: tuple[Part, ...], group_for: Callable[[Parameter], str]) -> str:
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, Literal):
            pieces.append(re.escape(part.text))
        else:
            value = _REST_VALUE if part.catch_all else _SEGMENT_VALUE
            pieces.append(f"(?P<{group_for(part)}>{value})")
    return "".join(pieces)
