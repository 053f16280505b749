"""Writing outputs safely: a failure never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from radiolatent.errors import InputError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success.

    The result gets the mode an ordinary `open(path, "w")` would give: an overwritten
    file keeps its mode, a new one gets 0666 less the umask (mkstemp's 0600 would
    otherwise survive the rename and hide outputs from everyone else).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    # the pid in the name tells a later writer whether the temporary file is orphaned
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _target_mode(path))
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete temporary files of `path` left by writers that were killed (SIGKILL, power
    loss: no `finally` ran). Only files whose writer process no longer exists go."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+\.part$")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        match = pattern.match(candidate.name)
        if match and not _process_exists(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere it is read by setting and
    restoring it (there is no getter), which is not thread-safe, hence /proc first."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(path: str | Path, kind: str = "file") -> Path:
    """Refuse, before any work, an output path that cannot be written.

    `kind` is "file" (must not be a folder) or "dir" (must not be a file). Either way
    the nearest existing parent must be a writable folder, so the parents can be made.
    Nothing is created here.
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise InputError(path, "is a folder; expected a file name")
    if kind == "dir" and path.exists() and not path.is_dir():
        raise InputError(path, "is a file; expected a folder")
    # an existing output folder is written into; anything else is made in its parent
    parent = path.absolute() if kind == "dir" and path.is_dir() else path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(path, f"cannot be made: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot be written: no write permission in {parent}")
    return path


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(frame, path: str | Path) -> Path:
    """A DataFrame as CSV, written atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def save_figure(fig, path: str | Path, tight_layout: bool = True, **savefig_kwargs) -> Path:
    """Write a matplotlib figure atomically (PNG unless `format` says otherwise) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if tight_layout:
        fig.tight_layout()
    savefig_kwargs.setdefault("format", "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    plt.close(fig)
    return path
