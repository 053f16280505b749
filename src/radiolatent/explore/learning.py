"""A person's 0-5 interest scores and the active-learning model fitted to them ([C], Astronomaly).

The labels live in `downstream.labels.LabelStore`, the same append-only file the terminal
oracle writes, so a session in the browser and one in the terminal add to one
record. The Gaussian-process learner, its expected improvement, the PC1-spaced first
batch and the isolation forest all come from `downstream.labels`, `.active` and `.anomaly`; this module only
keeps the explorer's state between requests (which model is current, the ranking it
gave last time) behind one lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from radiolatent.config import DEFAULT_ACTIVE, ActiveLearningConfig
from radiolatent.core.errors import InputError

if TYPE_CHECKING:
    from radiolatent.downstream.active import ActiveLearner

#: the ranking lists the page offers.
RANKINGS = ("loglik", "anomaly", "active", "acquisition")
#: fewest labelled sources a Gaussian process is fitted to.
MIN_LABELS = 2


class Learning:
    """Labels of the rows of one table, and the learner last fitted to them."""

    def __init__(
        self,
        ids: list[str],
        codes: np.ndarray,
        labels_path: str | Path,
        config: ActiveLearningConfig = DEFAULT_ACTIVE,
        seed: int = 0,
    ):
        from radiolatent.data.labels import LabelStore

        self.ids = list(ids)
        self.row_of = {source_id: i for i, source_id in enumerate(self.ids)}
        self.codes = codes
        self.config = config
        self.seed = seed
        self.store = LabelStore(labels_path)
        self.labels_path = Path(labels_path)
        self._lock = threading.RLock()
        self.learner: ActiveLearner | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.improvement: np.ndarray | None = None
        self.fitted_on = 0
        self.previous_rank: dict[str, int] = {}
        self._anomaly: np.ndarray | None = None
        # labels from an earlier session: refit so the ranking is there after a restart
        if len(self.scores()) >= MIN_LABELS:
            self.retrain()

    # ------------------------------------------------------------------ labels

    def scores(self) -> dict[str, float]:
        """The latest score of every labelled source of this table (the store may hold others)."""
        with self._lock:
            return {k: v for k, v in self.store.scores().items() if k in self.row_of}

    def label(self, source_id: str, score: float) -> None:
        with self._lock:
            self.store.add(source_id, float(score), by="person")

    def export_csv(self, path: str | Path) -> Path:
        with self._lock:
            self.store.export_csv(path)
        return Path(path)

    def interest(self) -> np.ndarray:
        """Per row: the person's score, NaN where unlabelled."""
        out = np.full(len(self.ids), np.nan)
        for source_id, score in self.scores().items():
            out[self.row_of[source_id]] = score
        return out

    # ------------------------------------------------------------------ the model

    def retrain(self) -> int:
        """Refit the learner to every label so far; returns how many it saw."""
        from radiolatent.downstream.active import ActiveLearner

        with self._lock:
            scores = self.scores()
            if len(scores) < MIN_LABELS:
                raise InputError(
                    "labels", f"score at least {MIN_LABELS} sources (keys 0-5) before retraining; {len(scores)} so far"
                )
            rows = np.array([self.row_of[k] for k in scores], dtype=np.int64)
            values = np.array(list(scores.values()), dtype=np.float64)
            if self.mean is not None:
                self.previous_rank = self._ranks(self.mean)
            learner = ActiveLearner(self.config, self.seed).fit(self.codes, rows, values)
            self.mean, self.std = (np.asarray(a, dtype=np.float64) for a in learner.predict(self.codes))
            self.improvement = np.asarray(learner.expected_improvement(self.codes), dtype=np.float64)
            self.learner, self.fitted_on = learner, len(scores)
            return len(scores)

    def _ranks(self, values: np.ndarray) -> dict[str, int]:
        order = np.argsort(-values, kind="stable")
        return {self.ids[row]: rank for rank, row in enumerate(order, start=1)}

    def anomaly(self) -> np.ndarray:
        """Isolation-forest anomaly score per row (higher = more unusual), computed once."""
        from radiolatent.downstream.anomaly import isolation_forest_scores

        with self._lock:
            if self._anomaly is None:
                scores = isolation_forest_scores(self.codes, self.seed, self.config)
                self._anomaly = np.asarray(scores, dtype=np.float64)
            return self._anomaly

    # ------------------------------------------------------------------ rankings

    def ranking(self, by: str, limit: int, loglik: np.ndarray | None) -> dict:
        """One list for the page: {available, message, rows: [(row, value, moved)]}."""
        if by not in RANKINGS:
            raise InputError("by", f"unknown ranking '{by}'; choose one of {RANKINGS}")
        with self._lock:
            if by == "loglik":
                return self._by_loglik(loglik, limit)
            if by == "anomaly":
                return _listing(np.argsort(-self.anomaly(), kind="stable")[:limit], self.anomaly())
            if by == "active":
                return self._by_prediction(limit)
            return self._by_acquisition(limit)

    def _by_loglik(self, loglik: np.ndarray | None, limit: int) -> dict:
        if loglik is None:
            return {
                "available": False,
                "rows": [],
                "message": "no density model: fit one with `radiolatent density fit` and restart "
                "the explorer with --density DIR",
            }
        # lowest log-likelihood first: the sources the flow finds least like the rest
        return _listing(np.argsort(loglik, kind="stable")[:limit], loglik)

    def _by_prediction(self, limit: int) -> dict:
        if self.mean is None:
            return {
                "available": False,
                "rows": [],
                "message": f"score at least {MIN_LABELS} sources (keys 0-5), then press Retrain",
            }
        order = np.argsort(-self.mean, kind="stable")[:limit]
        out = _listing(order, self.mean, self.std)
        for item in out["rows"]:
            before = self.previous_rank.get(self.ids[item["row"]])
            item["moved"] = None if before is None else before - item["rank"]
        return out

    def _by_acquisition(self, limit: int) -> dict:
        labelled = np.array([self.row_of[k] for k in self.scores()], dtype=np.int64)
        if self.learner is not None:
            rows = np.asarray(self.learner.next_batch(self.codes, labelled, n=limit), dtype=np.int64)
            out = _listing(rows, self.improvement)
            out["message"] = f"unlabelled sources by expected improvement (model fitted to {self.fitted_on} labels)"
            return out
        from radiolatent.downstream.active import initial_batch

        first = [
            r
            for r in np.asarray(initial_batch(self.codes, self.config.n_initial), dtype=np.int64)
            if r not in set(labelled.tolist())
        ]
        out = _listing(np.asarray(first, dtype=np.int64), None)
        out["message"] = (
            "first batch: sources spaced along the first principal component; score them, then press Retrain"
        )
        return out


def _listing(rows: np.ndarray, values: np.ndarray | None, spread: np.ndarray | None = None) -> dict:
    items = []
    for rank, row in enumerate(np.asarray(rows, dtype=np.int64).tolist(), start=1):
        item = {"row": row, "rank": rank, "value": None if values is None else float(values[row])}
        if spread is not None:
            item["spread"] = float(spread[row])
        items.append(item)
    return {"available": True, "rows": items, "message": ""}
