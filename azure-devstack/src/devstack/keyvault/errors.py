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


# The soft-delete refusals, in Key Vault's words. Sources: the 409 for a deleted name quoted in
# ironmansoftware/powershell-universal#1990 (its inner code from external-secrets#3519); "Deleted Secret
# not found" and the restore conflict from the azure-sdk-for-js keyvault-secrets recordings; the purge
# refusal from a Terraform run quoted in a public main.tf (Status=403 Code="Forbidden").


def deleted_secret_not_found(name: str) -> ServiceError:
    return ServiceError(404, "SecretNotFound", f"Deleted Secret not found: {echo(name)}")


def deleted_but_recoverable(name: str) -> ServiceError:
    return ServiceError(
        409,
        "Conflict",
        f"Secret {echo(name)} is currently in a deleted but recoverable state, and its name cannot be reused; "
        "in this state, the secret can only be recovered or purged.",
        inner_code="ObjectIsDeletedButRecoverable",
    )


def restore_conflict(secret_id: str) -> ServiceError:
    return ServiceError(
        409,
        "Conflict",
        f"There was a conflict restoring the secret '{secret_id}'. This can happen if either: a second secret "
        "with the same name was created after the first secret was deleted; thus trying to restore a secret "
        "whose name is already in use. To fix this, rename the second secret to something else so that the "
        "restore works. The second probable cause of this exception is when multiple operations are performed "
        "in parallel against the secret. To avoid this error, perform operations against a secret in a "
        "sequential manner.",
    )


def purge_refused(vault: str) -> ServiceError:
    return ServiceError(
        403,
        "Forbidden",
        'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service '
        f"will automatically purge it after the retention period has passed. Vault: {vault};location=local",
    )
