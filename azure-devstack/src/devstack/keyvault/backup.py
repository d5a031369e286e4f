"""Backup blobs: a secret with all its versions, sealed so that a client can only hand it back.

Key Vault's blobs are encrypted and restore only into a vault of the same subscription and geography
("Backup Secret", REST reference); a client must treat them as opaque bytes. These are sealed with
AES-GCM under a key made when the vault starts, so they restore only into the vault that made them,
and a blob changed by a single byte is refused. A restored secret keeps its versions, values and
times, as Key Vault's do (a recorded restore answers the original version id and `created`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devstack.keyvault.errors import ServiceError, bad_parameter
from devstack.keyvault.store import Secret, Version

_MAGIC = b"devstack-keyvault-secret-backup-v1\n"  # says what the bytes are to someone who finds a file
_NONCE_BYTES = 12


class BackupSealer:
    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))

    def seal(self, secret: Secret) -> bytes:
        document = {"name": secret.name, "versions": [dataclasses.asdict(v) for v in secret.versions]}
        nonce = os.urandom(_NONCE_BYTES)
        return _MAGIC + nonce + self._aead.encrypt(nonce, json.dumps(document).encode(), _MAGIC)

    def open(self, blob: bytes) -> Secret:
        if not blob.startswith(_MAGIC):
            raise _not_a_backup()
        body = blob[len(_MAGIC) :]
        try:
            plain = self._aead.decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], _MAGIC)
        except (InvalidTag, ValueError):
            raise _not_a_backup() from None
        document: dict[str, Any] = json.loads(plain)
        return Secret(document["name"], [Version(**version) for version in document["versions"]])


def _not_a_backup() -> ServiceError:
    # Key Vault's wording for an unusable blob is not in any recording found; this one is the fake's.
    return bad_parameter("The backup blob is not a secret backup this vault can restore.")
