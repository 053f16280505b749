"""Worker processes that end with their parent.

joblib's loky workers wait for work with a 300 s idle timeout and never look at their
parent, so after a `kill -9` of a command they lingered for about 5 minutes (and a busy
one ran its task to the end). `parallel` gives each worker a watcher thread that ends the
worker within `PARENT_POLL_SECONDS` of its parent's death, busy or idle.
"""

from __future__ import annotations

import os
import threading
import time

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
