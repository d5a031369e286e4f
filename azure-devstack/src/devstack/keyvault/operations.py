"""The secrets operations: each takes a request that was authenticated and authorised, and answers it.

Shapes and codes follow the REST spec (Security.KeyVault.Secrets) and Microsoft's SDK recordings:
- delete answers the DeletedSecretBundle at once; get-deleted finds it at once too (Azure takes a
  few seconds, which the SDK's pollers wait out, so clients see no difference but speed);
- recover and restore answer the SecretBundle without its value; purge answers 204 with no body;
- the versions of a secret that does not exist are an empty list, not a 404.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from aiohttp import web

from devstack.keyvault.backup import BackupSealer
from devstack.keyvault.bodies import parse_backup, parse_new_version, parse_property_change, read_json_object
from devstack.keyvault.deletion import DeletionPolicy
from devstack.keyvault.errors import ServiceError, bad_parameter, echo, purge_refused
from devstack.keyvault.routes import (
    BACKUP_SECRET,
    DELETE_SECRET,
    GET_DELETED_SECRET,
    GET_DELETED_SECRETS,
    GET_SECRET,
    GET_SECRET_VERSIONS,
    GET_SECRETS,
    PURGE_DELETED_SECRET,
    RECOVER_DELETED_SECRET,
    RESTORE_SECRET,
    SET_SECRET,
    UPDATE_SECRET,
    Call,
)
from devstack.keyvault.store import Store
from devstack.keyvault.wire import (
    backup_result,
    deleted_secret_bundle,
    deleted_secret_item,
    paginate,
    secret_bundle,
    secret_item,
)

Handler = Callable[[Call], Awaitable[web.Response]]
# The spec's ContentType: what getSecret's `outContentType` may ask for (PFX to PEM is the one conversion).
OUT_CONTENT_TYPES = ("application/x-pkcs12", "application/x-pem-file")


class SecretOperations:
    def __init__(self, store: Store, policy: DeletionPolicy, vault: str) -> None:
        self._store = store
        self._policy = policy
        self._vault = vault  # its name, for messages that quote it
        self._sealer = BackupSealer()
        self.handlers: Mapping[str, Handler] = MappingProxyType(
            {
                GET_SECRET: self._get_secret,
                GET_SECRET_VERSIONS: self._get_secret_versions,
                GET_SECRETS: self._get_secrets,
                SET_SECRET: self._set_secret,
                UPDATE_SECRET: self._update_secret,
                DELETE_SECRET: self._delete_secret,
                GET_DELETED_SECRET: self._get_deleted_secret,
                GET_DELETED_SECRETS: self._get_deleted_secrets,
                RECOVER_DELETED_SECRET: self._recover_deleted_secret,
                PURGE_DELETED_SECRET: self._purge_deleted_secret,
                BACKUP_SECRET: self._backup_secret,
                RESTORE_SECRET: self._restore_secret,
            }
        )

    # --- live secrets

    async def _get_secret(self, call: Call) -> web.Response:
        _check_out_content_type(call)
        secret, version = self._store.lookup(call.route.name, call.route.version)
        if not version.enabled:
            raise ServiceError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner_code="SecretDisabled"
            )
        # No secret here backs a certificate, so there is nothing to convert: the value is served as stored.
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=True, policy=self._policy))

    async def _set_secret(self, call: Call) -> web.Response:
        new = parse_new_version(await read_json_object(call.request))
        secret, version = self._store.add(call.route.name, new, _now())
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=True, policy=self._policy))

    async def _update_secret(self, call: Call) -> web.Response:
        change = parse_property_change(await read_json_object(call.request))
        secret, version = self._store.lookup(call.route.name, call.route.version)
        version.apply(change, _now())
        return web.json_response(secret_bundle(call.origin, secret, version, with_value=False, policy=self._policy))

    async def _get_secrets(self, call: Call) -> web.Response:
        page, next_link = paginate(self._store.by_name(), call, "/secrets")
        items = [secret_item(call.origin, s, s.latest, versioned=False, policy=self._policy) for s in page]
        return web.json_response({"value": items, "nextLink": next_link})

    async def _get_secret_versions(self, call: Call) -> web.Response:
        secret = self._store.get(call.route.name)
        if secret is None:  # never set, or deleted: Key Vault lists no versions rather than answering 404
            paginate([], call, "")  # the paging parameters are still checked
            return web.json_response({"value": [], "nextLink": None})
        # Versions only ever append, so an index is a stable paging position.
        entries = [(f"{index:010d}", version) for index, version in enumerate(secret.versions)]
        page, next_link = paginate(entries, call, f"/secrets/{secret.name}/versions")
        items = [secret_item(call.origin, secret, v, versioned=True, policy=self._policy) for v in page]
        return web.json_response({"value": items, "nextLink": next_link})

    # --- soft delete

    async def _delete_secret(self, call: Call) -> web.Response:
        now = _now()
        deleted = self._store.delete(call.route.name, now, self._policy.purge_date(now))
        return web.json_response(deleted_secret_bundle(call.origin, deleted, self._policy))

    async def _get_deleted_secret(self, call: Call) -> web.Response:
        deleted = self._store.deleted(call.route.name, _now())
        return web.json_response(deleted_secret_bundle(call.origin, deleted, self._policy))

    async def _get_deleted_secrets(self, call: Call) -> web.Response:
        page, next_link = paginate(self._store.deleted_by_name(_now()), call, "/deletedsecrets")
        items = [deleted_secret_item(call.origin, deleted, self._policy) for deleted in page]
        return web.json_response({"value": items, "nextLink": next_link})

    async def _recover_deleted_secret(self, call: Call) -> web.Response:
        secret = self._store.recover(call.route.name, _now())
        return web.json_response(
            secret_bundle(call.origin, secret, secret.latest, with_value=False, policy=self._policy)
        )

    async def _purge_deleted_secret(self, call: Call) -> web.Response:
        now = _now()
        self._store.deleted(call.route.name, now)  # a name that is not deleted is a 404 first
        if self._policy.purge_protection:
            raise purge_refused(self._vault)
        self._store.purge(call.route.name, now)
        return web.Response(status=204)

    # --- backup and restore

    async def _backup_secret(self, call: Call) -> web.Response:
        return web.json_response(backup_result(self._sealer.seal(self._store.find(call.route.name))))

    async def _restore_secret(self, call: Call) -> web.Response:
        secret = self._sealer.open(parse_backup(await read_json_object(call.request)))
        latest_id = f"{call.origin}/secrets/{secret.name}/{secret.latest.version}"
        self._store.restore(secret, _now(), latest_id)
        return web.json_response(
            secret_bundle(call.origin, secret, secret.latest, with_value=False, policy=self._policy)
        )


def _check_out_content_type(call: Call) -> None:
    requested = call.request.query.get("outContentType")
    if requested is not None and requested.lower() not in OUT_CONTENT_TYPES:
        # The spec: "If an unsupported format is specified, the request is rejected." The wording is the fake's.
        raise bad_parameter(
            f"The value of outContentType ({echo(requested)}) is not supported; use {' or '.join(OUT_CONTENT_TYPES)}."
        )


def _now() -> int:
    return int(time.time())
