"""The label store: interest scores (0..5) a person, or a benchmark's oracle, gives to
sources, one JSON line per label, appended and fsynced at once, so a crash loses at most
the label being typed and a session resumes where it stopped. The anomaly search
(`downstream.active`), the explorer and `anomaly label` all read and write it."""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_ACTIVE
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import check_output, write_csv

#: the fields of one label record, in the order they are written.
LABEL_FIELDS = ("id", "score", "time", "by")


class LabelStore:
    """Interest scores (0..5) given to sources, kept in an append-only JSON-lines file.

    One record per line: {"id": str, "score": float, "time": ISO-8601 str, "by": str}.
    A source labelled twice keeps both lines; `scores()` returns the last one. The file is
    only ever appended to, each line flushed and fsynced before `add` returns. A garbled
    last line (a crash mid-write) is skipped with a warning when reading and cut off
    before the next append; garbage anywhere else raises InputError naming the line.
    """

    def __init__(
        self, path: str | Path, min_score: float = DEFAULT_ACTIVE.min_score, max_score: float = DEFAULT_ACTIVE.max_score
    ):
        self.path = Path(path)
        self.min_score = float(min_score)
        self.max_score = float(max_score)
        # one writer at a time within a process (the explorer may label from threads)
        self._lock = threading.Lock()

    def add(self, id: str, score: float, by: str = "person") -> dict[str, Any]:
        """Append one label and make it durable (flush + fsync); returns the record."""
        record = {
            "id": id,
            "score": score,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "by": by,
        }
        record = self._checked(record, "new label")
        line = (json.dumps(record, allow_nan=False) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            with open(self.path, "ab") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        return record

    def check_writable(self) -> None:
        """Refuse now, not on the first label, a store that cannot be appended to."""
        check_output(self.path)
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise InputError(self.path, "label file is read-only; make it writable or give another label file")

    def records(self) -> list[dict[str, Any]]:
        """Every label in the order given (an absent file holds none)."""
        return [record for _, record in self._parsed()]

    def scores(self) -> dict[str, float]:
        """id -> score; the last label given to an id wins. Ordered by first labelling."""
        out: dict[str, float] = {}
        for record in self.records():
            out[record["id"]] = record["score"]
        return out

    def __len__(self) -> int:
        return len(self.scores())

    def export_csv(self, path: str | Path) -> Path:
        """Every record as CSV (id, score, time, by), written atomically."""
        frame = pd.DataFrame(self.records(), columns=list(LABEL_FIELDS))
        return write_csv(frame, path)

    # -- reading --------------------------------------------------------------

    def _lines(self) -> list[bytes]:
        if not self.path.is_file():
            return []
        return self.path.read_bytes().split(b"\n")

    def _parsed(self) -> list[tuple[int, dict[str, Any]]]:
        lines = self._lines()
        filled = [i for i, line in enumerate(lines) if line.strip()]
        out = []
        for i in filled:
            try:
                raw = _decode(lines[i])
            except ValueError as exc:
                if i == filled[-1]:
                    # a crash mid-write leaves a truncated last line: that label was never saved
                    warnings.warn(f"{self.path}: line {i + 1}: skipped an incomplete last label ({exc})", stacklevel=3)
                    continue
                raise InputError(self.path, f"line {i + 1}: not a JSON label record ({exc})") from None
            out.append((i, self._checked(raw, f"line {i + 1}")))
        return out

    def _checked(self, record: Any, where: str) -> dict[str, Any]:
        """A valid record with normalised types, or InputError naming the file and line."""
        if not isinstance(record, dict) or set(record) != set(LABEL_FIELDS):
            raise InputError(self.path, f"{where}: expected the fields {list(LABEL_FIELDS)}")
        ident, score, when, by = (record[f] for f in LABEL_FIELDS)
        if not isinstance(ident, str) or not ident:
            raise InputError(self.path, f"{where}: id must be a non-empty string, got {ident!r}")
        if isinstance(score, bool) or not isinstance(score, (int, float, np.integer, np.floating)):
            raise InputError(self.path, f"{where}: score must be a number, got {score!r}")
        score = float(score)
        if not math.isfinite(score) or not self.min_score <= score <= self.max_score:
            raise InputError(self.path, f"{where}: score {score} is outside {self.min_score:g}..{self.max_score:g}")
        if not isinstance(by, str) or not by:
            raise InputError(self.path, f"{where}: 'by' must be a non-empty string, got {by!r}")
        try:
            datetime.fromisoformat(when)
        except (TypeError, ValueError):
            raise InputError(self.path, f"{where}: time {when!r} is not an ISO-8601 string") from None
        return {"id": ident, "score": score, "time": when, "by": by}

    def _repair_tail(self) -> None:
        """Before appending: cut off a garbled last line, and end the file with a newline,
        so the new record never joins a fragment (which would then be mid-file garbage)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        body = data.rstrip(b"\n")
        start = body.rfind(b"\n") + 1
        try:
            _decode(body[start:])
        except ValueError:
            warnings.warn(f"{self.path}: removed an incomplete last label before appending", stacklevel=3)
            with open(self.path, "r+b") as handle:
                handle.truncate(start)
                handle.flush()
                os.fsync(handle.fileno())
            return
        if not data.endswith(b"\n"):
            with open(self.path, "ab") as handle:
                handle.write(b"\n")


def _decode(line: bytes) -> Any:
    """A JSON value from one line; ValueError (incl. bad UTF-8 / JSON) if it is not one."""
    return json.loads(line.decode("utf-8"))


def known_labels(store: LabelStore, ids: Iterable[Any]) -> dict[int, float]:
    """row -> score for the stored labels whose id is among `ids` (others are ignored)."""
    row_of = {str(ident): row for row, ident in enumerate(ids)}
    return {row_of[ident]: score for ident, score in store.scores().items() if ident in row_of}


def labelled_by_store(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """A copy of a codes table whose `label` / `label_name` are the label store's scores
    (as classes '0'..'5'), for the rows it names, and unlabelled (-1, '') elsewhere."""
    store = LabelStore(path)
    if not store.path.is_file():
        raise InputError(store.path, "no such label store")
    scores = store.scores()
    if not scores:
        raise InputError(store.path, "holds no labels")
    out = table.copy()
    given = out["id"].astype(str).map(scores)
    out["label"] = given.fillna(-1).round().astype(int)
    out["label_name"] = np.where(given.notna(), out["label"].astype(str), "")
    return out
