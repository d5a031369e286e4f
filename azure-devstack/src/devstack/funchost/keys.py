"""Host keys and authorization levels, checked the way the Functions host checks them.

A request presents a key in the `x-functions-key` header or, only when that header is absent, in
the `code` query parameter (the host's AuthenticationLevelHandler reads them in that order and an
empty value counts as no key). The master key grants Admin level everywhere. The function key is
the devstack's stand-in for each function's "default" key: it grants Function level on function
routes and nothing on `/admin` routes, where no function is in scope. A missing or unknown key is
simply anonymous; whether that is enough is the caller's decision (401 with an empty body if not).

Keys come from the environment of the devstack host process and are removed from it before the app
is imported: in Azure the worker process never sees host keys.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

FUNCTION_KEY_ENV = "DEVSTACK_FUNCTION_KEY"
MASTER_KEY_ENV = "DEVSTACK_MASTER_KEY"
KEY_HEADER = "x-functions-key"
KEY_QUERY_PARAMETER = "code"


class AuthLevel(enum.IntEnum):
    """Ordered like the host's AuthorizationLevel: a higher level satisfies every lower requirement."""

    ANONYMOUS = 0
    FUNCTION = 2
    ADMIN = 4

    @classmethod
    def from_binding(cls, value: object) -> AuthLevel:
        """The `authLevel` of an httpTrigger binding; the host's default is Function."""
        if value is None:
            return cls.FUNCTION
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"unsupported authLevel {value!r} (expected ANONYMOUS, FUNCTION or ADMIN)") from None


class MissingKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class HostKeys:
    function_key: str
    master_key: str

    @classmethod
    def take_from(cls, environ: MutableMapping[str, str]) -> HostKeys:
        """Remove both keys from `environ` (so app code cannot read them) and return them."""
        function_key = environ.pop(FUNCTION_KEY_ENV, "")
        master_key = environ.pop(MASTER_KEY_ENV, "")
        missing = [
            name for name, value in ((FUNCTION_KEY_ENV, function_key), (MASTER_KEY_ENV, master_key)) if not value
        ]
        if missing:
            raise MissingKeyError(f"set {' and '.join(missing)} (the host keys) in the environment")
        if function_key == master_key:
            raise MissingKeyError(f"{FUNCTION_KEY_ENV} and {MASTER_KEY_ENV} must differ")
        return cls(function_key, master_key)

    def level_on_function_route(self, presented: str | None) -> AuthLevel:
        if _same(presented, self.master_key):
            return AuthLevel.ADMIN
        if _same(presented, self.function_key):
            return AuthLevel.FUNCTION
        return AuthLevel.ANONYMOUS

    def level_on_admin_route(self, presented: str | None) -> AuthLevel:
        return AuthLevel.ADMIN if _same(presented, self.master_key) else AuthLevel.ANONYMOUS


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a request carries: the header wins whenever it is present, even if it is empty."""
    value = headers.get(KEY_HEADER)
    if value is None:
        value = query.get(KEY_QUERY_PARAMETER)
    return value or None


def _same(presented: str | None, key: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), key.encode())
