"""Worker processes that end with their parent, and the CPU time they and this process use.

joblib's loky workers wait for work with a 300 s idle timeout and never look at their
parent, so after a `kill -9` of a command they lingered for about 5 minutes (and a busy
one ran its task to the end). `parallel` gives each worker a watcher thread that ends the
worker within `PARENT_POLL_SECONDS` of its parent's death, busy or idle.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from joblib import Parallel

#: how often a worker checks that its parent is alive.
PARENT_POLL_SECONDS = 0.5


def parallel(n_jobs: int, **kwargs) -> Parallel:
    """`joblib.Parallel(n_jobs, **kwargs)` whose worker processes end with this process."""
    if n_jobs == 1:
        return Parallel(n_jobs=1, **kwargs)  # runs here: no workers, nothing to watch
    return Parallel(n_jobs=n_jobs, initializer=watch_parent, initargs=(os.getpid(),), **kwargs)


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: exit as soon as `parent_pid` is no longer our parent (it died
    and we were re-parented). Polling the parent id works on every POSIX system and for
    a worker busy in C code, unlike a check between tasks."""
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # not sys.exit: that would only end this thread


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, of its children already reaped, and of
    every live descendant (joblib's workers): the difference over a piece of work is the
    CPU it took on every core. Live descendants are read from /proc (Linux); elsewhere
    only this process and its reaped children count."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(_cpu_of(stat) for stat in _descendant_stats(os.getpid()))


def _descendant_stats(root: int) -> list[list[str]]:
    """/proc/PID/stat fields (after the command name) of every live descendant of `root`."""
    stats: dict[int, list[str]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            stats[int(entry.name)] = text[text.rindex(")") + 2 :].split()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(stats[pid])
        todo.extend(children.get(pid, []))
    return found


def _cpu_of(fields: list[str]) -> float:
    """utime + stime of one /proc stat line, in seconds (fields 14 and 15 of proc(5))."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
