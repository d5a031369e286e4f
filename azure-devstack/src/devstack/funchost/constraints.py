"""Inline route constraints (`{id:int}`, `{name:length(3,20)}`, ...) with ASP.NET Core's meanings.

Numbers are parsed the way .NET's invariant culture does for each constraint (`int` and `long` allow
surrounding white space and a leading sign and check the 32/64-bit range; `double`/`float` allow
exponents and thousands separators; `min`/`max`/`range` compare as 64-bit integers). `regex(...)` is
case-insensitive and unanchored, like RegexRouteConstraint. `datetime` is approximated with ISO 8601
(`datetime.fromisoformat`), which accepts fewer spellings than .NET's DateTime.TryParse.

An unknown constraint name is an error at start-up, as it is for the host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

Check = Callable[[str], bool]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_FLOAT = re.compile(
    r"\s*[+-]?(?=[\d.])(?:\d[\d,]*)?(?:\.\d*)?(?:[eE][+-]?\d+)?\s*|\s*(?:nan|[+-]?infinity)\s*", re.ASCII | re.I
)
_DECIMAL = re.compile(r"\s*[+-]?(?=[\d.])(?:\d[\d,]*)?(?:\.\d*)?[+-]?\s*", re.ASCII)
_HEX = "[0-9a-f]"
_GUID_D = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_GUID = re.compile(rf"\s*(?:{_HEX}{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\))\s*", re.I)
_ALPHA = re.compile(r"[a-z]*", re.ASCII | re.I)
_BOOL = frozenset({"true", "false"})


@dataclass(frozen=True)
class Constraint:
    name: str
    argument: str | None
    check: Check

    def accepts(self, value: str) -> bool:
        return self.check(value)


def parse_constraint(name: str, argument: str | None) -> Constraint:
    key = name.strip().lower()
    factory = _FACTORIES.get(key)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"unknown route constraint {name!r} (supported: {known})")
    try:
        return Constraint(key, argument, factory(argument))
    except (TypeError, ValueError, re.error) as exc:
        raise ValueError(f"invalid arguments for route constraint {name}({argument or ''}): {exc}") from exc


def _no_argument(check: Check) -> Callable[[str | None], Check]:
    def factory(argument: str | None) -> Check:
        if argument is not None:
            raise ValueError("this constraint takes no arguments")
        return check

    return factory


def _integer_in(bounds: tuple[int, int]) -> Check:
    def check(value: str) -> bool:
        return _INTEGER.fullmatch(value) is not None and bounds[0] <= int(value) <= bounds[1]

    return check


def _as_int64(value: str) -> int | None:
    return int(value) if _integer_in(_INT64)(value) else None


def _is_float(value: str) -> bool:
    return _FLOAT.fullmatch(value) is not None and any(c.isdigit() or c in "nN" for c in value)


def _is_decimal(value: str) -> bool:
    return _DECIMAL.fullmatch(value) is not None and any(c.isdigit() for c in value)


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _is_file(value: str) -> bool:
    _, dot, extension = value.rsplit("/", 1)[-1].rpartition(".")
    return bool(dot and extension)


def _ints(argument: str | None, count: int) -> list[int]:
    if argument is None:
        raise ValueError(f"expected {count} integer argument(s)")
    values = [int(part) for part in argument.split(",")]
    if len(values) != count:
        raise ValueError(f"expected {count} integer argument(s)")
    return values


def _length(argument: str | None) -> Check:
    if argument is not None and "," in argument:
        low, high = _ints(argument, 2)
        return lambda value: low <= len(value) <= high
    (exact,) = _ints(argument, 1)
    return lambda value: len(value) == exact


def _min_length(argument: str | None) -> Check:
    (low,) = _ints(argument, 1)
    return lambda value: len(value) >= low


def _max_length(argument: str | None) -> Check:
    (high,) = _ints(argument, 1)
    return lambda value: len(value) <= high


def _range_check(low: int | None, high: int | None) -> Check:
    def check(value: str) -> bool:
        number = _as_int64(value)
        return number is not None and (low is None or number >= low) and (high is None or number <= high)

    return check


def _min(argument: str | None) -> Check:
    (low,) = _ints(argument, 1)
    return _range_check(low, None)


def _max(argument: str | None) -> Check:
    (high,) = _ints(argument, 1)
    return _range_check(None, high)


def _range(argument: str | None) -> Check:
    low, high = _ints(argument, 2)
    return _range_check(low, high)


def _regex(argument: str | None) -> Check:
    if not argument:
        raise ValueError("regex(...) needs a pattern")
    pattern = re.compile(argument, re.IGNORECASE)
    return lambda value: pattern.search(value) is not None


_FACTORIES: dict[str, Callable[[str | None], Check]] = {
    "int": _no_argument(_integer_in(_INT32)),
    "long": _no_argument(_integer_in(_INT64)),
    "bool": _no_argument(lambda value: value.strip().lower() in _BOOL),
    "guid": _no_argument(lambda value: _GUID.fullmatch(value) is not None),
    "alpha": _no_argument(lambda value: _ALPHA.fullmatch(value) is not None),
    "double": _no_argument(_is_float),
    "float": _no_argument(_is_float),
    "decimal": _no_argument(_is_decimal),
    "datetime": _no_argument(_is_datetime),
    "required": _no_argument(lambda value: value != ""),
    "file": _no_argument(_is_file),
    "nonfile": _no_argument(lambda value: not _is_file(value)),
    "length": _length,
    "minlength": _min_length,
    "maxlength": _max_length,
    "min": _min,
    "max": _max,
    "range": _range,
    "regex": _regex,
}
