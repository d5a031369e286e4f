"""`devtools_testutils.aio`: the async form of `recorded_by_proxy`, on the same live path."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from ._live import accepted_kwargs, require_live_without_recording

__all__ = ["recorded_by_proxy_async"]


def recorded_by_proxy_async(test: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(test)
    async def run_live(*args: Any, **kwargs: Any) -> Any:
        require_live_without_recording()
        return await test(*args, **accepted_kwargs(test, kwargs))

    return run_live
