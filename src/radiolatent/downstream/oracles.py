"""Oracles: whoever gives the active-learning loop its 0..5 interest scores.

- `TerminalOracle`: a person at the terminal (`anomaly label`).
- `ColumnOracle`: the binary benchmark oracle, 5 for the interesting class and 0 for the
  rest (a person who only ever answers "yes" or "no").
- `ScoreOracle` from `graded_scores` or `rule_scores`: a graded benchmark oracle, 0..5 in
  whole steps, from a numeric metadata column or from a rule over a column's values.
  [C] graded its sources 0-5 from Radio Galaxy Zoo vote fractions; the graded oracle is
  the stand-in for that where a table holds a number that says how interesting a source is.

`oracle_for(rows, spec, interesting)` builds one from a spec, as `anomaly benchmark
--oracle` takes it: `binary`, `column:NAME[:LOW:HIGH]` or `rule:[COLUMN:]VALUE=SCORE,...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_ACTIVE
from radiolatent.core.errors import InputError, SettingError

#: the oracle spec forms `oracle_for` reads, for help texts.
ORACLE_FORMS = "binary, column:NAME[:LOW:HIGH] or rule:[COLUMN:]VALUE=SCORE,...[,*=SCORE]"


class Oracle(Protocol):
    """Whoever gives interest scores: `oracle(row) -> score`, or None to stop."""

    name: str

    def __call__(self, row: int) -> float | None: ...


class ScoreOracle:
    """Benchmark oracle that answers each row with a fixed score (picklable, so the
    benchmark's worker processes can ask it). `description` says how the scores were made."""

    def __init__(self, scores, name: str, description: str = ""):
        self.scores = np.asarray(scores, dtype=np.float64)
        self.name = name
        self.description = description or name

    def __call__(self, row: int) -> float:
        return float(self.scores[row])


class ColumnOracle(ScoreOracle):
    """Binary benchmark oracle: `high` for rows of the interesting class, `low` for the rest."""

    def __init__(self, interesting, high: float = DEFAULT_ACTIVE.max_score, low: float = DEFAULT_ACTIVE.min_score):
        self.interesting = np.asarray(interesting, dtype=bool)
        self.high, self.low = float(high), float(low)
        super().__init__(
            np.where(self.interesting, self.high, self.low),
            "label-column",
            f"binary: {self.high:g} for the interesting class, else {self.low:g}",
        )


def graded_scores(
    values,
    low_value: float | None = None,
    high_value: float | None = None,
    low: float = DEFAULT_ACTIVE.min_score,
    high: float = DEFAULT_ACTIVE.max_score,
    source: str = "column",
) -> np.ndarray:
    """Whole-step scores low..high from numbers: `low_value` maps to `low`, `high_value` to
    `high` (defaults: the column's smallest and largest finite values; give low_value >
    high_value to grade small values highest), values beyond them are clipped, and a
    missing value (NaN) scores `low`. Rounded to whole steps, as a person grades."""
    values = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise InputError(source, "holds no numbers to grade from")
    lo = float(finite.min()) if low_value is None else float(low_value)
    hi = float(finite.max()) if high_value is None else float(high_value)
    if lo == hi:
        raise InputError(source, f"cannot grade: the low and high values are both {lo:g}")
    fraction = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    scores = np.rint(low + fraction * (high - low))
    return np.where(np.isfinite(values), scores, low)


def rule_scores(values, rule: dict[str, float], default: float = DEFAULT_ACTIVE.min_score) -> np.ndarray:
    """The score `rule` gives each value (compared as text), `default` for any other."""
    text = pd.Series(np.asarray(values, dtype=object).ravel()).astype(str)
    return text.map(rule).fillna(default).to_numpy(dtype=np.float64)


def parse_rule(text: str, source: str = "oracle") -> tuple[str, dict[str, float], float]:
    """`[COLUMN:]VALUE=SCORE,...[,*=SCORE]` -> (column, {value: score}, default score)."""
    column = "label_name"
    head, _, _ = text.partition("=")
    if ":" in head:
        column, _, text = text.partition(":")
    rule: dict[str, float] = {}
    default = DEFAULT_ACTIVE.min_score
    for part in filter(None, (p.strip() for p in text.split(","))):
        value, sep, score = part.rpartition("=")
        try:
            number = float(score)
        except ValueError:
            number = float("nan")
        if not sep or not value or not DEFAULT_ACTIVE.min_score <= number <= DEFAULT_ACTIVE.max_score:
            raise SettingError(
                source,
                f"rule part {part!r} is not VALUE=SCORE with a score "
                f"{DEFAULT_ACTIVE.min_score:g}..{DEFAULT_ACTIVE.max_score:g}",
            )
        if value == "*":
            default = number
        else:
            rule[value] = number
    if not rule:
        raise SettingError(source, "the rule gives no value a score, e.g. rule:Bent=5,FRI=2")
    return column, rule, default


def oracle_for(rows: pd.DataFrame, spec: str, interesting, source: str = "oracle") -> ScoreOracle:
    """The benchmark oracle named by `spec` (see ORACLE_FORMS) for codes-table rows;
    `interesting` marks the class the binary oracle scores highest."""
    kind, _, rest = spec.partition(":")
    if kind == "binary" and not rest:
        return ColumnOracle(interesting)
    if kind == "column" and rest:
        return _column_oracle(rows, rest, source)
    if kind == "rule" and rest:
        column, rule, default = parse_rule(rest, source)
        _check_column(rows, column, source)
        scores = rule_scores(rows[column].to_numpy(), rule, default)
        given = ", ".join(f"{value}={score:g}" for value, score in rule.items())
        return ScoreOracle(scores, "graded-rule", f"graded by rule on {column}: {given}, else {default:g}")
    raise SettingError(source, f"unknown oracle {spec!r}; use {ORACLE_FORMS}")


def _column_oracle(rows: pd.DataFrame, text: str, source: str) -> ScoreOracle:
    column, *bounds = text.split(":")
    _check_column(rows, column, source)
    if len(bounds) not in (0, 2):
        raise SettingError(source, f"column oracle takes column:NAME or column:NAME:LOW:HIGH, got {text!r}")
    try:
        low_value, high_value = (float(b) for b in bounds) if bounds else (None, None)
    except ValueError:
        raise SettingError(source, f"LOW and HIGH must be numbers, got {bounds}") from None
    scores = graded_scores(rows[column].to_numpy(), low_value, high_value, source=f"column {column}")
    span = "its range" if not bounds else f"{low_value:g} -> 0 .. {high_value:g} -> 5"
    return ScoreOracle(scores, "graded-column", f"graded 0-5 from column {column} ({span})")


def _check_column(rows: pd.DataFrame, column: str, source: str) -> None:
    if column not in rows.columns:
        raise SettingError(source, f"no column {column!r} in the rows (columns: {', '.join(map(str, rows.columns))})")


class TerminalOracle:
    """A person at the terminal: shows each source's PNG path and metadata, reads 0-5 or q."""

    name = "person"

    def __init__(
        self,
        rows: pd.DataFrame,
        images: np.ndarray,
        thumbs: Path,
        store,
        budget: int,
        done: int = 0,
        ask=None,
        say=print,
    ):
        self.rows, self.images, self.thumbs = rows, images, Path(thumbs)
        self.store, self.budget, self.done = store, budget, done
        # looked up at call time, so a replaced builtins.input (tests, wrappers) is used
        self.ask = ask or (lambda prompt: input(prompt))
        self.say = say
        self.low, self.high = store.min_score, store.max_score

    def __call__(self, row: int) -> float | None:
        meta = self.rows.iloc[row]
        png = self._thumbnail(row, meta)
        self.say(f"[{self.done + 1}/{self.budget}] {meta['id']}  {describe(meta)}")
        self.say(f"  image: {png}")
        while True:
            try:
                answer = self.ask(f"  interest {self.low:g}-{self.high:g} (q to quit): ").strip().lower()
            except EOFError:
                return None
            if answer in ("q", "quit", "exit"):
                return None
            try:
                score = float(answer)
            except ValueError:
                score = float("nan")
            if np.isfinite(score) and self.low <= score <= self.high:
                self.done += 1
                return score
            self.say(f"  please type a number from {self.low:g} to {self.high:g}, or q")

    def _thumbnail(self, row: int, meta: pd.Series) -> Path:
        from radiolatent.data.grid import caption_for, image_grid
        from radiolatent.downstream.density_plots import safe_name

        path = self.thumbs / f"{safe_name(str(meta['id']))}.png"
        return image_grid(self.images[row : row + 1], [caption_for(meta)], path, title=str(meta["id"]))


def describe(meta: pd.Series) -> str:
    """One line of a source's metadata for the person labelling it."""
    from radiolatent.downstream.density_plots import label_text

    parts = [
        f"dataset={meta.get('dataset', '')}",
        f"split={meta.get('split', '')}",
        f"label={label_text(meta.get('label_name'))}",
    ]
    for key, unit in (("las_arcsec", "″"), ("ra", "°"), ("dec", "°")):
        value = meta.get(key)
        if value is not None and np.isfinite(float(value)):
            parts.append(f"{key}={float(value):.4g}{unit}")
    return "  ".join(parts)
