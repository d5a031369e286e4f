"""`python -m devstack audit [--denied]`: who did what to the local Key Vault, Blob and Cosmos DB.

One line per record of the access audit (devstack/audit.py), oldest first: when, which service, the
answer, who (the local identity's name when the running stack's env.json knows it, else the object
id), the operation as the service logs it, and what it was done to. A refusal also gives the data
action that was refused, where the record says it. `--denied` shows only refusals (401 and 403).
The records stay in `<state dir>/logs/audit/<table>.jsonl`, one JSON object a line, in the Azure
tables' own columns: the same queries run over them as over the workspace.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack.audit import AUDIT_FOLDER, read_records, refused
from devstack.project import Project, ProjectError

PROGRAM = "devstack audit"
# Key Vault's 403 names the refused data action on its own line of the message.
_KEYVAULT_ACTION = re.compile(r"Action: '([^']+)'")


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        state_dir = args.state_dir or Project.find(args.project).state_dir
    except ProjectError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    folder = state_dir / "logs" / AUDIT_FOLDER
    if not folder.is_dir():
        print(f"{PROGRAM}: no audit records in {folder}: start the stack (python3 dev.py up) first", file=sys.stderr)
        return 2
    names = _identity_names(state_dir / "env.json")
    for record in read_records(folder):
        if not args.denied or refused(record):
            print(line(record, names))
    return 0


def line(record: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One record, in a line: time, service, status, who, operation, resource[, refused action]."""
    table = str(record.get("Type", ""))
    shown = _FIELDS.get(table, _other)(record)
    who = shown["who"]
    who = (names or {}).get(who.lower(), who) if who else "(no token)"
    parts = [str(record.get("TimeGenerated", "")), shown["service"], shown["status"], who, shown["operation"]]
    parts.append(shown["resource"])
    if shown.get("action"):
        parts.append(f"refused {shown['action']}")
    return "  ".join(part for part in parts if part)


def _keyvault(record: Mapping[str, Any]) -> dict[str, str]:
    claim = (record.get("Identity") or {}).get("claim", {})
    action = _KEYVAULT_ACTION.search(str(record.get("ResultDescription", "")))
    return {
        "service": "keyvault",
        "status": f"{record.get('HttpStatusCode', '')} {record.get('ResultSignature', '')}",
        "who": str(claim.get("oid", "")),
        "operation": str(record.get("OperationName", "")),
        "resource": str(record.get("Id") or str(record.get("RequestUri", "")).split("?")[0]),
        "action": action.group(1) if action else "",
    }


def _blob(record: Mapping[str, Any]) -> dict[str, str]:
    denied = [d.get("action", "") for d in record.get("AuthorizationDetails") or [] if d.get("result") == "Denied"]
    return {
        "service": "blob",
        "status": f"{record.get('StatusCode', '')} {record.get('StatusText', '')}",
        "who": str(record.get("RequesterObjectId", "")),
        "operation": str(record.get("OperationName", "")),
        "resource": str(record.get("ObjectKey", "")),
        "action": " or ".join(denied) if refused(record) else "",
    }


def _cosmos(record: Mapping[str, Any]) -> dict[str, str]:
    where = "/".join(str(record.get(c)) for c in ("DatabaseName", "CollectionName") if record.get(c))
    return {
        "service": "cosmos",
        "status": str(record.get("StatusCode", "")),
        "who": str(record.get("AadPrincipalId", "")),
        "operation": f"{record.get('OperationName', '')} {record.get('RequestResourceType', '')}".strip(),
        "resource": where or str(record.get("AccountName", "")),
    }


def _other(record: Mapping[str, Any]) -> dict[str, str]:
    return {"service": str(record.get("Type", "")), "status": "", "who": "", "operation": "", "resource": ""}


_FIELDS = {"AZKVAuditLogs": _keyvault, "StorageBlobLogs": _blob, "CDBDataPlaneRequests": _cosmos}


def _identity_names(env_file: Path) -> dict[str, str]:
    """Object id -> the local identity's name ("app", "developer", ...), from a running stack's env.json."""
    try:
        identities = json.loads(env_file.read_text())["devstack"]["identities"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {str(i["objectId"]).lower(): name for name, i in identities.items() if isinstance(i, dict)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack audit", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--denied", action="store_true", help="only requests refused with 401 or 403")
    parser.add_argument("--state-dir", type=Path, help="the stack's state folder (default: <app>/.devstack)")
    parser.add_argument("--project", type=Path, help="the app's folder (default: found from here up)")
    return parser
