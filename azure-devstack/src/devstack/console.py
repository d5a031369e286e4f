"""What `python3 dev.py up` shows on the terminal: readable lines, as `func start` users expect.

The function host writes one JSON object per line (devstack/funchost/logs.py); the full lines stay in
its log file. The terminal gets, instead:
- one line per invocation: time, function, status, duration;
- the app's own log lines: time, level, message (warnings and errors coloured);
- start-up problems and anything that is not a JSON line, as they are;
- the host's warnings, such as a request refused for a missing or wrong function key.
The host's other bookkeeping lines (the ready event, "Executing ...") are left to the log file.
The stack's own notices (each refusal of the app's identity, devstack/refusals.py) are shaped the same
way by `render_notice`.
`--json` on `devstack up` shows the raw lines instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

RESET = "\033[0m"
COLOURS = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[31m", "Failed": "\033[31m"}
DIM, GREEN = "\033[2m", "\033[32m"
HOST_LOGGER = "devstack.funchost"


def render_notice(level: str, message: str, *, colour: bool, now: datetime | None = None) -> str:
    """One of the stack's own lines (a refusal of the app's identity, ...), shaped like the app's lines."""
    clock = (now or datetime.now(UTC)).strftime("%H:%M:%S")  # UTC, as the host's records are
    text = f"{clock} {level:<7} {message}"
    paint = COLOURS.get(level, "")
    return f"{paint}{text}{RESET}" if colour and paint else text


def wants_colour(stream: TextIO) -> bool:
    """Colour on a terminal unless NO_COLOR is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class ReadableHostLog:
    """Takes the host's output line by line (children.Echo) and writes readable lines to `out`."""

    def __init__(self, out: TextIO, *, colour: bool) -> None:
        self._out = out
        self._colour = colour

    def write(self, text: str) -> int:
        for line in text.splitlines():
            rendered = self.render(line)
            if rendered is not None:
                self._out.write(rendered + "\n")
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def render(self, line: str) -> str | None:
        try:
            record = json.loads(line)
        except ValueError:
            return line  # a traceback at start-up, or anything else the host printed raw
        if not isinstance(record, dict) or "message" not in record:
            return None  # the ready event and other machine-readable lines
        return self._render_record(record)

    def _render_record(self, record: Mapping[str, Any]) -> str | None:
        clock = str(record.get("time", ""))[11:19]
        if "durationMs" in record:  # the host's "Executed ..." line: one per invocation
            status = str(record.get("status", ""))
            shown = self._paint(status, GREEN if status == "Succeeded" else COLOURS.get(status, ""))
            return f"{self._paint(clock, DIM)} {record.get('functionName')}: {shown} in {record['durationMs']} ms"
        if record.get("logger") == HOST_LOGGER and record.get("level") == "INFO":
            return None  # "Executing ...", start-up notes: the log file keeps them
        level = str(record.get("level", ""))
        text = f"{clock} {level:<7} {record['message']}"
        if record.get("exception"):
            text += "\n" + str(record["exception"])
        return self._paint(text, COLOURS.get(level, ""))

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{RESET}" if self._colour and colour else text
