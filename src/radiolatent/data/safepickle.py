"""A restricted unpickler for the CIFAR-style batch files (MiraBest, FR-DEEP, RGZ).

Unpickling runs whatever callables the pickle names, so a plain `pickle.loads` on a
downloaded file is arbitrary code execution. These batches only ever hold dicts,
lists, strings, ints and numpy arrays, so only the few numpy callables that rebuild
arrays and scalars are let through; anything else is refused before it is imported.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from radiolatent.core.errors import InputError

try:  # numpy >= 2 keeps the real module under _core; numpy.core is a warning shim
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 protocol-2 pickles call (as _codecs.encode) to rebuild bytes.

    Only the latin-1 round trip is honoured: another codec name is refused, so a pickle
    cannot reach the codec machinery beyond turning a str into the bytes it stood for.
    """
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r} is not allowed")
    return text.encode("latin1")


def _empty_bytes(*args: object) -> bytes:
    """What Python 3 protocol 0-2 pickles call (as __builtin__.bytes with no arguments)
    to rebuild an empty byte string, e.g. the data of a numpy array with 0 rows.

    Only the no-argument call is honoured: `bytes(n)` could allocate any size and
    `bytes(x)` would run x's own conversion, so both are refused.
    """
    if args:
        raise pickle.UnpicklingError("bytes() with arguments is not allowed")
    return b""


def _allowed() -> dict[tuple[str, str], Any]:
    """(module, name) -> the object it may resolve to; both numpy spellings map the same."""
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = _multiarray._reconstruct
        table[(module, "scalar")] = _multiarray.scalar
    return table


ALLOWED = _allowed()


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only names in ALLOWED; never imports a module the pickle names."""

    def __init__(self, file: io.BytesIO, source: str | Path):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise InputError(self.source, f"pickle tries to construct {module}.{name}, which is not allowed") from None


def load_pickle(data: bytes, source: str | Path) -> object:
    """Unpickle `data` (read from `source`, named in errors) allowing only numpy arrays.

    Raises InputError if the pickle names any other callable or is corrupt/truncated.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except InputError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        raise InputError(source, f"corrupt or truncated pickle: {type(exc).__name__}: {exc}") from None
