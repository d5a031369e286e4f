"""`python -m devstack sign SOURCE FILE`: the X-Hub-Signature-256 header a sender would attach to FILE.

Reads the source's secret from the running stack's Key Vault as the developer identity (the one that
holds Key Vault Secrets Officer locally), through the same token endpoint and proxy the app uses, and
prints only the signature, never the secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from devstack.settings_files import EnvFile
from inbox.signing import SIGNATURE_HEADER, sign


def signature_header(env_path: Path, source: str, body: bytes) -> str:
    env = EnvFile.load(env_path)
    settings = env.settings
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "HTTPS_PROXY", "NO_PROXY"):
        os.environ[name] = settings[name]
    credential = ManagedIdentityCredential(client_id=env.devstack["identities"]["developer"]["clientId"])
    with SecretClient(settings["AZURE_KEY_VAULT_ENDPOINT"], credential, connection_verify=env.ca_bundle) as vault:
        secret = vault.get_secret(f"webhook-{source}").value or ""
    return f"{SIGNATURE_HEADER}: {sign(secret, body)}"
