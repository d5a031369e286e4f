"""`--profile FILE`: sample the in-process concurrent phase with pyinstrument, if it is installed.

pyinstrument is a developer's tool, not a project dependency (`pip install pyinstrument`); without it
the option prints a note and the bench runs unprofiled. It is imported by name, so type checking
does not depend on it being installed either.

Sampling ignores asyncio task boundaries (`async_mode="disabled"`): with 32 deliveries in flight,
what matters is where the one event-loop thread spends its time, whichever task it is running.
A FILE ending in .html gets pyinstrument's interactive page; anything else gets its text tree. A
short summary (the frames with the most time of their own) is printed either way.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_INTERVAL_SECONDS = 0.0005
SUMMARY_FRAMES = 12


@contextmanager
def profiled(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    try:
        pyinstrument: Any = importlib.import_module("pyinstrument")
    except ImportError:
        print("--profile: pyinstrument is not installed (pip install pyinstrument); not profiling", file=sys.stderr)
        yield
        return
    profiler = pyinstrument.Profiler(interval=SAMPLE_INTERVAL_SECONDS, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        session = profiler.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".html":
            path.write_text(profiler.output_html())
        else:
            path.write_text(profiler.output_text(unicode=True, show_all=False))
        print(render_summary(session), file=sys.stderr)
        print(f"profile written to {path}", file=sys.stderr)


def render_summary(session: Any) -> str:
    """Self time (time in a frame, not in what it called) by function and by library, as shares."""
    root = session.root_frame()
    if root is None:
        return "profile: no samples"
    by_function: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    stack = [root]
    while stack:
        frame = stack.pop()
        # Synthetic children hold their parent's self time, which total_self_time already includes.
        stack.extend(child for child in frame.children if not child.is_synthetic)
        by_function[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += frame.total_self_time
        by_library[library_of(frame.file_path or "")] += frame.total_self_time
    total = session.duration or 1.0
    cpu = getattr(session, "cpu_time", None)
    spent = f", {cpu:.2f} s of it on this process's CPU" if cpu is not None else ""
    lines = [f"profile: {total:.2f} s wall{spent}; self time by library, as shares of the wall time"]
    lines += [f"  {seconds / total:6.1%}  {name}" for name, seconds in by_library.most_common(SUMMARY_FRAMES)]
    lines += ["functions with the most self time"]
    lines += [f"  {seconds / total:6.1%}  {name}" for name, seconds in by_function.most_common(SUMMARY_FRAMES)]
    return "\n".join(lines)


def library_of(file_path: str) -> str:
    """`.../site-packages/azure/core/x.py` -> `azure.core`; `.../lib/python3.13/ssl.py` -> `ssl`; this
    repository's files -> their top-level folder (`frame`, `webhooks`)."""
    parts = Path(file_path).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        depth = 2 if rest and rest[0] == "azure" else 1
        return ".".join(Path(*rest[:depth]).with_suffix("").parts) if rest else file_path
    if str(ROOT) in file_path:
        return Path(file_path).relative_to(ROOT).parts[0]
    stem = [part for part in parts if part.startswith("python3")]
    if stem:  # the standard library: its top-level module or package
        after = parts[parts.index(stem[-1]) + 1 :]
        return Path(after[0]).stem if after else file_path
    return file_path or "<unknown>"
