"""Every call an app's code makes to an Azure SDK method that sends a request, with its file and line.

Which files: the app's entry point (`function-app` in `[tool.devstack]`) and every Python file of
the project that it imports, directly or not (imports inside functions included), found by reading
the imports; files of the tooling, tests and virtual environments are never the app's.

Which calls: a method of `devstack.sdk_actions`' table called on (or taken from) a receiver whose
type *is* one of the SDK's public classes, or a subclass of one. The type is mypy's: the files are
type-checked with mypy's build API and the receiver's inferred type looked up, so
`self._index.delete_item(...)` is found whatever the attribute is called, and a class of the app's
own with a method named `delete_item` is not. A receiver mypy cannot type (`Any`) is counted as
unresolved, not reported. Literal arguments that change what a call sends (`overwrite=True`, a
batch's operations) are read from the call.

Speed: mypy's incremental cache is one per user (`~/.cache/azure-devstack/mypy`, under
`XDG_CACHE_HOME` when set). The app's files are handed to mypy as text, which makes mypy re-check them
on every scan (a module read from the cache has no expression types), so the cache holds only the
SDKs and the standard library, the same for every app: the first scan of a machine takes 15-20 s
(mypy analyses the SDKs), later ones about a second, in any project or copy.

The project's own mypy configuration is not read: the scan needs types, not its strictness, and
fixed options keep one cache valid for every project that uses it.
"""

from __future__ import annotations

import ast
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import infra_model
from mypy import build
from mypy.errors import CompileError
from mypy.modulefinder import BuildSource
from mypy.nodes import (
    ARG_NAMED,
    ARG_POS,
    CallExpr,
    Expression,
    FloatExpr,
    IntExpr,
    ListExpr,
    MemberExpr,
    MypyFile,
    NameExpr,
    RefExpr,
    StrExpr,
    TupleExpr,
    TypeInfo,
)
from mypy.options import Options
from mypy.server.subexpr import get_subexpressions
from mypy.types import AnyType, Instance, ProperType, Type, TypeType, UnionType, get_proper_type

import devstack
from devstack import sdk_actions
from devstack.project import Project, ProjectError
from devstack.sdk_actions import NOT_LITERAL, Arguments, Needs, SdkMethod


def default_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "azure-devstack" / "mypy"


# Folders that are never the app's code.
_EXCLUDED_PARTS = frozenset({"tests", "test", "node_modules", "site-packages", "venv", "__pycache__"})
_LITERAL_NAMES: Mapping[str, object] = {"builtins.True": True, "builtins.False": False, "builtins.None": None}


class CodeScanError(ProjectError):
    """The app's code cannot be analysed (a syntax error, a module mypy refuses); the message says where."""


@dataclass(frozen=True)
class SdkCall:
    path: Path
    relative_path: str  # to the project's root, with forward slashes
    line: int
    column: int
    method: SdkMethod
    arguments: Arguments
    receiver: str  # the SDK class the receiver is (or derives from): "azure.cosmos.aio._container.ContainerProxy"
    called: bool = True  # False: the method is taken (`f = client.get_secret`) and called elsewhere

    @property
    def location(self) -> str:
        return f"{self.relative_path}:{self.line}"

    @property
    def aio(self) -> bool:
        return ".aio." in self.receiver

    @property
    def needs(self) -> Needs:
        return self.method.needs(self.arguments)

    def describe(self) -> str:
        return f"{self.location} {self.method.name}"


@dataclass(frozen=True)
class Scan:
    files: tuple[Path, ...]
    calls: tuple[SdkCall, ...]
    # SDK method names called on a receiver mypy could not type: "app/store.py:12 delete_item".
    unresolved: tuple[str, ...] = ()
    seconds: float = 0.0
    errors: tuple[str, ...] = field(default=(), repr=False)  # mypy's messages, for diagnosing odd results


def scan(project: Project, *, cache_dir: Path | None = None) -> Scan:
    """The SDK calls of the app's code (see the module's docstring)."""
    started = time.perf_counter()
    modules = app_modules(project)
    sources = [BuildSource(str(path), name, path.read_text(), str(project.root)) for name, path in modules.items()]
    try:
        result = build.build(sources, _options(cache_dir or default_cache_dir()))
    except CompileError as error:
        raise CodeScanError(f"mypy cannot analyse the app's code: {'; '.join(error.messages[:3])}") from None
    calls: list[SdkCall] = []
    unresolved: list[str] = []
    for name, path in modules.items():
        state = result.graph.get(name)
        if state is None or state.tree is None:
            continue
        found, unknown = _find_calls(state.tree, result.types, path, _relative(path, project.root))
        calls += found
        unresolved += unknown
    calls.sort(key=lambda c: (c.relative_path, c.line, c.column))
    return Scan(
        files=tuple(modules.values()),
        calls=tuple(calls),
        unresolved=tuple(unresolved),
        seconds=time.perf_counter() - started,
        errors=tuple(result.errors),
    )


# ---- which files ------------------------------------------------------------------------------------


def app_modules(project: Project) -> dict[str, Path]:
    """Module name -> file, for the entry point and every project file it imports, transitively."""
    root = project.root
    entry = project.function_app.resolve()
    found: dict[str, Path] = {_module_name(entry, root): entry}
    pending = [entry]
    while pending:
        path = pending.pop()
        for name in _imported(path, _module_name(path, root), is_package=path.name == "__init__.py"):
            target = _module_file(name, root)
            if target is None or name in found:
                continue
            found[name] = target
            pending.append(target)
    return dict(sorted(found.items()))


def _imported(path: Path, module: str, *, is_package: bool) -> Iterator[str]:
    """Every module an import in the file may load: each package on the way, and `from x import y`'s
    y as a module too (it is one when it is a submodule)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as error:
        raise CodeScanError(f"{path}:{error.lineno}: {error.msg}") from None
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _prefixes(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base is None:
                continue
            if base:
                yield from _prefixes(base)
            for alias in node.names:
                if alias.name != "*":
                    yield f"{base}.{alias.name}" if base else alias.name


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level > len(parts):
        return None  # beyond the top-level package (or from a top-level module): Python refuses it too
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if base and module else (base or module or "")


def _prefixes(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file() and _is_app_file(candidate.resolve(), root):
            return candidate.resolve()
    return None


def _is_app_file(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if any(part in _EXCLUDED_PARTS or part.startswith(".") for part in parts[:-1]):
        return False
    return not any(path.is_relative_to(folder) for folder in _tooling_folders())


def _tooling_folders() -> list[Path]:
    """The tooling's packages, and its distribution's folder when it is installed from source."""
    folders = [Path(package.__file__).resolve().parent for package in (devstack, infra_model) if package.__file__]
    return folders + [f.parent.parent for f in folders if f.parent.name == "src"]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# ---- mypy -------------------------------------------------------------------------------------------


def _options(cache_dir: Path) -> Options:
    cache_dir.mkdir(parents=True, exist_ok=True)
    options = Options()
    options.export_types = True  # BuildResult.types: every expression's type
    options.preserve_asts = True  # keep function bodies after checking
    options.check_untyped_defs = True  # type the bodies of unannotated functions too
    options.incremental = True
    options.cache_dir = str(cache_dir)
    options.python_executable = sys.executable  # the SDKs installed for the interpreter that runs the scan
    options.show_traceback = True
    return options


def _find_calls(
    tree: MypyFile, types: Mapping[Expression, Type], path: Path, relative_path: str
) -> tuple[list[SdkCall], list[str]]:
    """The SDK calls in one module, and the SDK-named calls on receivers of unknown type.

    (mypy's visitor classes cannot be subclassed from interpreted code when mypy is compiled, so the
    expressions come from the daemon's own walker, `get_subexpressions`.)
    """
    # A node can be listed twice (`cast(T, x.f())` keeps the call as an argument and in its analysis).
    expressions = list({id(e): e for e in get_subexpressions(tree)}.values())
    callees = {id(e.callee): e for e in expressions if isinstance(e, CallExpr) and isinstance(e.callee, MemberExpr)}
    calls: list[SdkCall] = []
    unresolved: list[str] = []
    for member in expressions:
        if not isinstance(member, MemberExpr) or member.name not in _METHOD_NAMES:
            continue
        receiver = types.get(member.expr)
        if receiver is None:
            continue
        call = callees.get(id(member))
        arguments = _arguments(call) if call is not None else Arguments(spread=True)
        for proper in _alternatives(get_proper_type(receiver)):
            if isinstance(proper, AnyType):
                unresolved.append(f"{relative_path}:{member.line} {member.name}")
                continue
            sdk_class = _sdk_class(proper.type) if isinstance(proper, Instance) else None
            method = sdk_actions.lookup(sdk_class.name, member.name) if sdk_class else None
            if sdk_class is not None and method is not None:
                calls.append(
                    SdkCall(
                        path=path,
                        relative_path=relative_path,
                        line=member.line,
                        column=member.column,
                        method=method,
                        arguments=arguments,
                        receiver=sdk_class.fullname,
                        called=call is not None,
                    )
                )
    return calls, unresolved


_METHOD_NAMES = frozenset(method for _cls, method in sdk_actions.SDK_METHODS)


def _alternatives(proper: ProperType) -> list[ProperType]:
    """A union's members (an Optional receiver narrowed or not), each once."""
    if isinstance(proper, UnionType):
        return [get_proper_type(item) for item in proper.items]
    if isinstance(proper, TypeType):
        return []  # `ContainerProxy.read_item(...)` on the class: not a client
    return [proper]


def _sdk_class(info: TypeInfo) -> TypeInfo | None:
    """The SDK class a type is, or derives from (azure.cosmos.aio._container.ContainerProxy: a public class
    in the package the table names for it)."""
    for base in info.mro:
        entry = sdk_actions.CLASSES.get(base.name)
        if entry is not None and base.fullname.startswith(entry[1] + "."):
            return base
    return None


def _arguments(call: CallExpr) -> Arguments:
    positional: list[object] = []
    keywords: dict[str, object] = {}
    spread = False
    for kind, name, value in zip(call.arg_kinds, call.arg_names, call.args, strict=True):
        if kind == ARG_POS:
            positional.append(_literal(value))
        elif kind == ARG_NAMED and name is not None:
            keywords[name] = _literal(value)
        else:
            spread = True  # *args, **kwargs
    return Arguments(tuple(positional), keywords, spread)


def _literal(expression: Expression) -> object:
    """The value of a literal argument; NOT_LITERAL for anything the code computes."""
    if isinstance(expression, NameExpr) and expression.fullname in _LITERAL_NAMES:
        return _LITERAL_NAMES[expression.fullname]
    if isinstance(expression, (StrExpr, IntExpr, FloatExpr)):
        return expression.value
    if isinstance(expression, (TupleExpr, ListExpr)):
        return tuple(_literal(item) for item in expression.items)
    if isinstance(expression, MemberExpr) and isinstance(expression.expr, RefExpr):
        owner = expression.expr.node
        if isinstance(owner, TypeInfo) and owner.is_enum:
            return f"{owner.name}.{expression.name}"
    return NOT_LITERAL


def count_by_service(calls: tuple[SdkCall, ...] | list[SdkCall]) -> dict[str, int]:
    counts = dict.fromkeys((sdk_actions.KEYVAULT, sdk_actions.BLOB, sdk_actions.COSMOS), 0)
    for call in calls:
        counts[call.method.service] += 1
    return counts
