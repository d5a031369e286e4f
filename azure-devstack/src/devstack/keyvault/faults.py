"""Injected faults, for tests: what `POST /_devstack/faults` accepts, and what a faulted request answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs

from devstack.keyvault.errors import ServiceError, bad_parameter
from devstack.keyvault.routes import OPERATIONS

_FAULT_CODES = {
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_ERROR_STATUSES = frozenset(status.value for status in HTTPStatus if status.value >= 400)


@dataclass
class Fault:
    status: int
    remaining: int | None  # None: until cleared
    operation: str | None  # None: every operation

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.remaining, "operation": self.operation}

    def error(self, operation: str) -> ServiceError:
        """The answer `operation` gets while this fault is active."""
        code = _FAULT_CODES.get(self.status) or HTTPStatus(self.status).phrase.replace(" ", "")
        return ServiceError(
            self.status,
            code,
            f"Injected by the local stack: {operation} answers {self.status} while the fault is active.",
            headers={hdrs.RETRY_AFTER: "1"},
            counted_as=operation,
        )


def parse_fault(body: Mapping[str, Any]) -> Fault:
    unknown = set(body) - {"status", "count", "operation"}
    if unknown:
        raise bad_parameter(f"Unknown fault properties: {', '.join(sorted(unknown))}.")
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or status not in _ERROR_STATUSES:
        raise bad_parameter("Fault 'status' must be a standard HTTP error status (4xx or 5xx).")
    count = body.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise bad_parameter("Fault 'count' must be a positive integer, or null for 'until cleared'.")
    operation = body.get("operation")
    if operation is not None and operation not in OPERATIONS:
        raise bad_parameter(f"Fault 'operation' must be one of: {', '.join(OPERATIONS)}.")
    return Fault(status=status, remaining=count, operation=operation)
