"""Which process wrote a row, and whether it still lives: a store marks what a dead process
left "running" (a server restart) without waiting on it."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_id() -> str:
    """This process, as "host:pid:start" (start in clock ticks since boot, where Linux says),
    so a later process can tell whether a "running" run's trainer is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat: starttime


def process_alive(process: str) -> bool:
    """Whether ``process`` (a ``process_id()``) is still running on this machine."""
    host, _, rest = process.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not (pid_text.isascii() and pid_text.isdigit()):
        return False  # another machine's run on this disk: its server is gone (a restart)
    if len(pid_text) > 9:  # not a pid: os.kill overflows past 2**31 (a damaged database)
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not ticks or _start_ticks(pid) == ticks  # the pid may belong to a new process
