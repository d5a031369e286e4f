"""The Functions host's HTTP limits, with the values it runs with in Azure, read once at start-up.

The host (azure-functions-host, src/WebJobs.Script.WebHost/Program.cs) configures Kestrel with one
limit of its own, MaxRequestBodySize = 104,857,600 bytes, which the FUNCTIONS_REQUEST_BODY_SIZE_LIMIT
app setting overrides (HttpRequestBodySizeMiddleware). Every other limit is Kestrel's default
(KestrelServerLimits). The 230 s answer limit is the Azure front end's, not the host's.

Settings (environment of the devstack host process):
- FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: bytes, as in Azure. An app setting, so the app still sees it.
- DEVSTACK_HTTP_RESPONSE_LIMIT_SECONDS, DEVSTACK_REQUEST_HEADERS_TIMEOUT_SECONDS and
  DEVSTACK_REQUEST_BODY_GRACE_SECONDS: devstack-only, so tests can reach each limit in about a
  second. They are removed from the environment before the app is imported, like the host keys.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import MutableMapping
from dataclasses import dataclass

BODY_SIZE_SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
RESPONSE_LIMIT_SETTING = "DEVSTACK_HTTP_RESPONSE_LIMIT_SECONDS"
HEADERS_TIMEOUT_SETTING = "DEVSTACK_REQUEST_HEADERS_TIMEOUT_SECONDS"
BODY_GRACE_SETTING = "DEVSTACK_REQUEST_BODY_GRACE_SECONDS"

# What .NET's long.TryParse accepts (the host reads the body size setting with it): ASCII digits and
# whitespace only, within a long. int() would also take "1_000" or "٣", which the host ignores.
_DOTNET_INTEGER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")
_DOTNET_LONG_MAX = 2**63 - 1


class LimitSettingError(ValueError):
    """A devstack limit setting is not a positive number of seconds; the message names it."""


@dataclass(frozen=True)
class HostLimits:
    # ScriptConstants.DefaultMaxRequestBodySize; HTTP trigger docs, "Limits": 100 MB.
    max_request_body_bytes: int = 104_857_600
    # HTTP trigger docs, "Limits": the Azure load balancer answers 502 after 230 s.
    response_limit_seconds: float = 230.0
    # KestrelServerLimits defaults, which the host does not change.
    min_request_body_bytes_per_second: float = 240.0
    request_body_grace_seconds: float = 5.0
    request_headers_timeout_seconds: float = 30.0
    keep_alive_timeout_seconds: float = 130.0
    max_request_line_bytes: int = 8192
    max_request_header_count: int = 100
    max_request_headers_total_bytes: int = 32768

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str]) -> HostLimits:
        """The limits the settings in `environ` ask for; the devstack-only settings are removed from it."""
        defaults = cls()
        body_limit = request_body_size_limit(environ.get(BODY_SIZE_SETTING))
        return dataclasses.replace(
            defaults,
            max_request_body_bytes=defaults.max_request_body_bytes if body_limit is None else body_limit,
            response_limit_seconds=_pop_seconds(environ, RESPONSE_LIMIT_SETTING, defaults.response_limit_seconds),
            request_headers_timeout_seconds=_pop_seconds(
                environ, HEADERS_TIMEOUT_SETTING, defaults.request_headers_timeout_seconds
            ),
            request_body_grace_seconds=_pop_seconds(environ, BODY_GRACE_SETTING, defaults.request_body_grace_seconds),
        )


def request_body_size_limit(value: str | None) -> int | None:
    """The body size FUNCTIONS_REQUEST_BODY_SIZE_LIMIT sets, or None where the host would ignore it."""
    if value is None or not _DOTNET_INTEGER.fullmatch(value):
        return None
    limit = int(value)
    # Kestrel refuses a negative limit; the devstack keeps the default rather than failing every request.
    return limit if 0 <= limit <= _DOTNET_LONG_MAX else None


def _pop_seconds(environ: MutableMapping[str, str], setting: str, default: float) -> float:
    value = environ.pop(setting, None)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise LimitSettingError(f"{setting} must be a positive number of seconds, not {value!r}")
    return seconds
