"""Writing outputs safely: a failure never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
