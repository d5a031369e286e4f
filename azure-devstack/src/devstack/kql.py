"""KQL checked offline: Microsoft's Kusto language service parses and analyses each query against the
tables' documented columns (devstack/monitor_tables.py), the way the Log Analytics editor would, with
no workspace.

A query that does not parse, names a column or table the schema lacks, or calls a function wrongly
comes back with Kusto's own diagnostics (code, line:column, message). Each report also lists the table
columns the query reads, as the analyser bound them, so a caller can compare them with what some other
source (the local stack's audit records) provides.

The language service is the npm package @kusto/language-service-next (devstack/node/package.json),
run by node/kql-check.js; one Node process checks a batch of queries (it takes about 2 s to load).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from devstack.children import node_executable
from devstack.monitor_tables import TABLES, Table
from devstack.node_packages import NODE_DIR, ensure_node_packages

CHECKER = NODE_DIR / "kql-check.js"
TIMEOUT_SECONDS = 120


class KqlCheckFailed(RuntimeError):
    """The checker itself did not run (Node missing, the package not installed); the message says why."""


@dataclass(frozen=True)
class Report:
    diagnostics: tuple[str, ...]  # "<severity> <code> at <line>:<column>: <message>"
    columns: Mapping[str, frozenset[str]] = field(default_factory=dict)  # table -> columns read

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(d for d in self.diagnostics if d.startswith("Error "))


def check(queries: Mapping[str, str], tables: Mapping[str, Table] = TABLES) -> dict[str, Report]:
    """Each query's report, by the name it was given."""
    ensure_node_packages()
    request = {"tables": {name: table.schema() for name, table in tables.items()}, "queries": dict(queries)}
    try:
        done = subprocess.run(
            [node_executable(), str(CHECKER)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            cwd=NODE_DIR,
        )
    except subprocess.TimeoutExpired:
        raise KqlCheckFailed(f"the KQL checker did not answer within {TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KqlCheckFailed(f"the KQL checker failed (exit {done.returncode}): {last}")
    answers = json.loads(done.stdout)
    return {
        name: Report(
            diagnostics=tuple(answer["diagnostics"]),
            columns={table: frozenset(columns) for table, columns in answer["columns"].items()},
        )
        for name, answer in answers.items()
    }
