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
from inbox.signing import SIGNATURE_HEADER, secret_name, sign


def signature_header(env_path: Path, source: str, body: bytes) -> str:
    env = EnvFile.load(env_path)
    settings = env.settings
    # azure-identity and the HTTP transport read these from the environment; restore it afterwards so
    # an in-process caller (the benchmark) keeps its own.
    names = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "HTTPS_PROXY", "NO_PROXY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: settings[name] for name in names})
    try:
        credential = ManagedIdentityCredential(client_id=env.devstack["identities"]["developer"]["clientId"])
        with SecretClient(settings["AZURE_KEY_VAULT_ENDPOINT"], credential, connection_verify=env.ca_bundle) as vault:
            secret = vault.get_secret(secret_name(source)).value or ""
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return f"{SIGNATURE_HEADER}: {sign(secret, body)}"
