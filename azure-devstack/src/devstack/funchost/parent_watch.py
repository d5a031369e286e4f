"""Exit when the parent goes away: the parent holds our stdin pipe open and never writes to it.

When the parent dies, even by SIGKILL, the pipe reaches end-of-file and this process exits at once
(os._exit: there is nobody left to shut down gracefully for). Only a pipe is watched: a terminal or
/dev/null on stdin says nothing about the parent's life.
"""

from __future__ import annotations

import logging
import os
import stat
import threading

log = logging.getLogger("devstack.funchost")


def exit_when_stdin_closes() -> bool:
    """Start the watcher if stdin is a pipe; return whether it was started."""
    try:
        is_pipe = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return False
    if is_pipe:
        threading.Thread(target=_wait_for_end_of_file, name="stdin-watch", daemon=True).start()
    return is_pipe


def _wait_for_end_of_file() -> None:
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    log.info("stdin closed: the parent process is gone, exiting")
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(0)
