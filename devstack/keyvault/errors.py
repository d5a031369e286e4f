"""Key Vault's error shape: the exception every refusal is raised as, and the refusals several modules share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

_ECHO_LIMIT = 130  # client input quoted back in a message is cut to this many characters


class ServiceError(Exception):
    """An answer in Key Vault's error shape; `counted_as` names the stats bucket it belongs to, if any."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        counted_as: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = dict(headers or {})
        self.counted_as = counted_as

    def response(self) -> web.Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return web.json_response({"error": error}, status=self.status, headers=self.headers)


def bad_parameter(message: str) -> ServiceError:
    return ServiceError(400, "BadParameter", message)


def secret_not_found(name: str, version: str = "") -> ServiceError:
    subject = f"{name}/{version}" if version else name
    return ServiceError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {echo(subject)} was not found in this key vault. If you recently deleted "
        "this secret you may be able to recover it using the correct recovery command.",
    )


def echo(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."
