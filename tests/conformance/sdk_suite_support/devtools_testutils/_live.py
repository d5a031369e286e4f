"""Which path the suite runs on, and the arguments a test takes: what the stand-in's wrappers share."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"true", "yes", "1"}


def is_live() -> bool:
    return _flag("AZURE_TEST_RUN_LIVE")


def require_live_without_recording() -> None:
    """The only path the stand-in has: playback and recording need Microsoft's test proxy."""
    if not (is_live() and _flag("AZURE_SKIP_LIVE_RECORDING")):
        raise RuntimeError(
            "this devtools_testutils stand-in only runs tests live without recording: "
            "set AZURE_TEST_RUN_LIVE=true and AZURE_SKIP_LIVE_RECORDING=true"
        )


def accepted_kwargs(test: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments `test` accepts: preparers pass more than some tests name."""
    parameters = inspect.signature(test).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(kwargs)
    names = {p.name for p in parameters}
    return {name: value for name, value in kwargs.items() if name in names}
