"""`python scripts/sign.py SOURCE FILE`: the X-Hub-Signature-256 header a sender would attach to FILE.

For the local stack (`python3 dev.py up`): reads the source's signing secret from the stack's Key
Vault as the developer identity (which holds Key Vault Secrets Officer locally), through the same
token endpoint and proxy the app uses, and prints only the header, never the secret. What it needs
comes from the stack's `env.json` (`--state-dir`, default .devstack beside this repository's root).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

ROOT = Path(__file__).resolve().parents[1]  # the repository root: the app's packages live there
sys.path.insert(0, str(ROOT))

from webhooks.signing import SIGNATURE_HEADER, secret_name, sign  # noqa: E402 - needs the root on the path

DESCRIPTION = "Print the X-Hub-Signature-256 header a sender would attach to FILE, signed with SOURCE's secret."
# What azure-identity and the HTTP transport read from the environment to reach the local stack.
STACK_VARIABLES = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "HTTPS_PROXY", "NO_PROXY")


def signature_header(env_path: Path, source: str, body: bytes) -> str:
    env = json.loads(env_path.read_text())
    settings = env["settings"]
    with _environment({name: settings[name] for name in STACK_VARIABLES}):
        credential = ManagedIdentityCredential(client_id=env["devstack"]["identities"]["developer"]["clientId"])
        vault = SecretClient(settings["AZURE_KEY_VAULT_ENDPOINT"], credential, connection_verify=env["ca_bundle"])
        with vault:
            secret = vault.get_secret(secret_name(source)).value or ""
    return f"{SIGNATURE_HEADER}: {sign(secret, body)}"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set for the call and restored afterwards, so an in-process caller keeps its own."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/sign.py", description=DESCRIPTION)
    parser.add_argument("source", help="the webhook source, as in WEBHOOK_SOURCES")
    parser.add_argument("file", type=Path, help="the payload to sign, byte for byte")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".devstack", help="where the stack wrote env.json")
    args = parser.parse_args(argv)
    env_path = args.state_dir / "env.json"
    if not env_path.exists():
        parser.error(f"{env_path} does not exist: start the local stack first (python3 dev.py up)")
    print(signature_header(env_path, args.source, args.file.read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
