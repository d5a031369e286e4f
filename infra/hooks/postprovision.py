#!/usr/bin/env python3
"""azd postprovision hook: write local.settings.json for `func start` against the provisioned resources.

azd runs this after `azd provision` / `azd up` with the Bicep outputs in the environment. Locally the
app authenticates as the developer, not as the app's managed identity: AZURE_TOKEN_CREDENTIALS picks
a developer credential and AZURE_CLIENT_ID is left out. The Functions host reaches its storage the
same way (identity-based AzureWebJobsStorage without __credential uses the developer's sign-in).

An existing local.settings.json is never replaced unless --force is given. Standard library only:
azd runs it with whatever Python 3.11+ is on PATH, before any project dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# The project root holds function_app.py; the Functions host reads local.settings.json from there.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Bicep outputs (infra/main.bicep) -> the app settings the app reads (frame/settings.py, webhooks/settings.py).
APP_SETTINGS_FROM_OUTPUTS = {
    "AZURE_KEY_VAULT_ENDPOINT": "AZURE_KEY_VAULT_ENDPOINT",
    "AZURE_STORAGE_BLOB_ENDPOINT": "AZURE_STORAGE_BLOB_ENDPOINT",
    "AZURE_COSMOS_ENDPOINT": "AZURE_COSMOS_ENDPOINT",
    "COSMOS_DATABASE": "COSMOS_DATABASE",
    "COSMOS_CONTAINER": "COSMOS_CONTAINER",
    "EVENTS_CONTAINER": "EVENTS_CONTAINER",
    "DIGESTS_CONTAINER": "DIGESTS_CONTAINER",
    "WEBHOOK_SOURCES": "WEBHOOK_SOURCES",
}
HOST_STORAGE_FROM_OUTPUTS = {
    "AzureWebJobsStorage__blobServiceUri": "AZURE_HOST_STORAGE_BLOB_ENDPOINT",
    "AzureWebJobsStorage__queueServiceUri": "AZURE_HOST_STORAGE_QUEUE_ENDPOINT",
    "AzureWebJobsStorage__tableServiceUri": "AZURE_HOST_STORAGE_TABLE_ENDPOINT",
}
KEY_VAULT_NAME = "AZURE_KEY_VAULT_NAME"
# Credentials that sign in as a developer; the managed identity only exists inside Azure.
DEVELOPER_CREDENTIALS = ("AzureCliCredential", "AzureDeveloperCliCredential", "AzurePowerShellCredential", "dev")


class MissingOutputs(Exception):
    """azd did not provide outputs this hook needs; provisioning probably did not finish."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = list(names)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="replace an existing local.settings.json")
    parser.add_argument(
        "--output",
        type=Path,
        default=PROJECT_ROOT / "local.settings.json",
        help="where to write (default: local.settings.json next to function_app.py)",
    )
    parser.add_argument(
        "--credential",
        choices=DEVELOPER_CREDENTIALS,
        default="AzureCliCredential",
        help="AZURE_TOKEN_CREDENTIALS for the app; the default uses your `az login` (default: %(default)s)",
    )
    parser.add_argument(
        "--host-storage",
        choices=("azure", "azurite"),
        default="azure",
        help="the Functions host's own storage: the provisioned account as you, or a local Azurite",
    )
    return parser.parse_args(argv)


def required(env: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    values = {name: env.get(name, "").strip() for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise MissingOutputs(missing)
    return values


def local_settings(env: Mapping[str, str], credential: str, host_storage: str) -> dict[str, object]:
    """The local.settings.json document for these azd outputs."""
    outputs = required(env, [*APP_SETTINGS_FROM_OUTPUTS.values(), *host_storage_outputs(host_storage)])
    values: dict[str, str] = {"FUNCTIONS_WORKER_RUNTIME": "python"}
    values.update(host_storage_settings(outputs, host_storage))
    values.update({setting: outputs[output] for setting, output in APP_SETTINGS_FROM_OUTPUTS.items()})
    values["AZURE_TOKEN_CREDENTIALS"] = credential
    return {"IsEncrypted": False, "Values": values}


def host_storage_outputs(host_storage: str) -> list[str]:
    return list(HOST_STORAGE_FROM_OUTPUTS.values()) if host_storage == "azure" else []


def host_storage_settings(outputs: Mapping[str, str], host_storage: str) -> dict[str, str]:
    if host_storage == "azurite":
        return {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    # No __credential and no __clientId: outside Azure the host then signs in as the developer.
    return {setting: outputs[output] for setting, output in HOST_STORAGE_FROM_OUTPUTS.items()}


def write_new(path: Path, document: Mapping[str, object], *, force: bool) -> bool:
    """Write the file; without force only if it does not exist yet. Returns whether it was written."""
    content = json.dumps(document, indent=2) + "\n"
    try:
        # "x" creates or fails in one step, so the file checked is the file written.
        with path.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(content)
    except FileExistsError:
        return False
    return True


def secret_commands(env: Mapping[str, str]) -> list[str]:
    vault = env.get(KEY_VAULT_NAME, "").strip() or "<key vault name>"
    sources = dict.fromkeys(s.strip() for s in env.get("WEBHOOK_SOURCES", "").split(",") if s.strip())
    return [
        f"az keyvault secret set --vault-name {vault} --name webhook-{source} --value '<{source} signing secret>'"
        for source in sources
    ]


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        document = local_settings(env, args.credential, args.host_storage)
    except MissingOutputs as error:
        print(f"postprovision: missing azd outputs: {error}. Run `azd provision` first.", file=sys.stderr)
        return 1
    existed = args.output.exists()
    if write_new(args.output, document, force=args.force):
        print(f"{'Replaced' if existed else 'Wrote'} {args.output} for `func start` against Azure.")
    else:
        print(
            f"{args.output} already exists and was left unchanged. To regenerate it from this environment, run:\n"
            f"  python {Path(__file__).resolve().relative_to(PROJECT_ROOT).as_posix()} --force"
        )
    print("\nSet each webhook source's signing secret (the value you also give the sender):")
    for command in secret_commands(env):
        print(f"  {command}")
    print("(Developer access grants you Key Vault Secrets Officer; a new role can take minutes to apply.)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
