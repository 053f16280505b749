"""Anomaly search on codes: [C]'s active learning (Astronomaly's "protege") and
label-free rankings (isolation forest; the flow's likelihood lives in density.py).

The pieces:

- `LabelStore`: the labels a person (or a benchmark oracle) gives, one JSON line per
  label, appended and fsynced at once, so a crash loses at most the label being typed and
  a session resumes where it stopped.
- `ActiveLearner`: PCA to 95 % of the variance ([C]), then a Gaussian-process regressor
  (Matern + white noise, hyperparameters fitted by maximum marginal likelihood) on the
  0..5 interest scores; the next batch is the rows of highest expected improvement.
- `initial_batch`: the first 10 sources, spaced along the first principal component.
- `run_session`: the loop that asks an oracle for labels until the budget is spent.

scikit-learn's GaussianProcessRegressor is used because it is what Astronomaly uses and
at [C]'s budget (<= 200 labels) an exact GP costs milliseconds; nothing bigger is needed.
"""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from joblib import delayed
import pandas as pd
from scipy.special import ndtr
from scipy.stats import norm
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_ACTIVE, ActiveLearningConfig
from radiolatent.errors import InputError
from radiolatent.fileio import write_csv
from radiolatent.workers import parallel

#: the fields of one label record, in the order they are written.
LABEL_FIELDS = ("id", "score", "time", "by")
#: the methods `rank` understands.
RANK_METHODS = ("active", "iforest", "density", "random")


# ---------------------------------------------------------------------------
# Label store: append-only JSON lines
# ---------------------------------------------------------------------------


class LabelStore:
    """Interest scores (0..5) given to sources, kept in an append-only JSON-lines file.

    One record per line: {"id": str, "score": float, "time": ISO-8601 str, "by": str}.
    A source labelled twice keeps both lines; `scores()` returns the last one. The file is
    only ever appended to, each line flushed and fsynced before `add` returns. A garbled
    last line (a crash mid-write) is skipped with a warning when reading and cut off
    before the next append; garbage anywhere else raises InputError naming the line.
    """

    def __init__(self, path: str | Path, min_score: float = DEFAULT_ACTIVE.min_score,
                 max_score: float = DEFAULT_ACTIVE.max_score):
        self.path = Path(path)
        self.min_score = float(min_score)
        self.max_score = float(max_score)
        # one writer at a time within a process (the explorer may label from threads)
        self._lock = threading.Lock()

    def add(self, id: str, score: float, by: str = "person") -> dict:
        """Append one label and make it durable (flush + fsync); returns the record."""
        record = {
            "id": id,
            "score": score,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
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

    def records(self) -> list[dict]:
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

    def _parsed(self) -> list[tuple[int, dict]]:
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

    def _checked(self, record, where: str) -> dict:
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


def _decode(line: bytes):
    """A JSON value from one line; ValueError (incl. bad UTF-8 / JSON) if it is not one."""
    return json.loads(line.decode("utf-8"))


# ---------------------------------------------------------------------------
# Features: PCA as in [C]
# ---------------------------------------------------------------------------


def check_features(X, source: str = "codes") -> np.ndarray:
    """A finite, non-empty (rows, dims) float64 matrix, or InputError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(source, f"expected a non-empty (rows, dims) matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(source, "codes contain NaN or infinite values")
    return X


@dataclass
class Projection:
    """Centre, project on the principal components holding `variance` of the variance,
    and divide by the spread along PC1, so the GP's length scale starts near the data's."""

    mean: np.ndarray
    components: np.ndarray | None
    scale: float

    @classmethod
    def fit(cls, X: np.ndarray, variance: float | None, n_components: int | None = None) -> Projection:
        """Keep `n_components` if given, else enough to hold `variance` (None: no PCA)."""
        mean = X.mean(axis=0)
        centred = X - mean
        components = None
        if (variance is not None or n_components is not None) and X.shape[0] > 1:
            # eigenvectors of the (dims x dims) covariance: far cheaper than an SVD of every row
            values, vectors = np.linalg.eigh(centred.T @ centred)
            values, vectors = np.clip(values[::-1], 0, None), vectors[:, ::-1]
            if n_components is None:
                explained = values / max(values.sum(), 1e-300)
                n_components = int(np.searchsorted(np.cumsum(explained), variance) + 1)
            components = _fixed_sign(vectors[:, : min(n_components, len(values))].T)
        projected = centred if components is None else centred @ components.T
        spread = projected.std(axis=0)
        scale = float(spread.max()) if spread.size and spread.max() > 0 else 1.0
        return cls(mean, components, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        centred = X - self.mean
        projected = centred if self.components is None else centred @ self.components.T
        return projected / self.scale


def _fixed_sign(components: np.ndarray) -> np.ndarray:
    """Flip each component so its largest entry is positive (eigenvector signs are arbitrary)."""
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    return components * np.where(signs == 0, 1, signs)[:, None]


def reduce_features(X, variance: float | None = DEFAULT_ACTIVE.pca_variance) -> np.ndarray:
    """[C]'s preprocessing: PCA keeping `variance` of the variance (None keeps all)."""
    X = check_features(X)
    return Projection.fit(X, variance).transform(X)


def initial_batch(X, n: int = DEFAULT_ACTIVE.n_initial) -> np.ndarray:
    """n distinct rows spread along the first principal component: the rows nearest the
    0th, (100/n)th, ... percentiles of PC1 (every 10th percentile for n = 10)."""
    X = check_features(X)
    if n < 1:
        raise InputError("n", f"must be at least 1, got {n}")
    if n >= len(X):
        return np.arange(len(X))
    pc1 = Projection.fit(X, None, n_components=1).transform(X)[:, 0]
    targets = np.percentile(pc1, 100.0 * np.arange(n) / n)
    free = np.ones(len(X), dtype=bool)
    picked = []
    for target in targets:
        distance = np.where(free, np.abs(pc1 - target), np.inf)
        row = int(np.argmin(distance))
        picked.append(row)
        free[row] = False
    return np.asarray(picked, dtype=np.int64)


# ---------------------------------------------------------------------------
# Active learning
# ---------------------------------------------------------------------------


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, tradeoff: float) -> np.ndarray:
    """EI over the best score seen, with trade-off eta (Astronomaly / Walmsley et al. 2021)."""
    gain = np.asarray(mean, dtype=np.float64) - best - tradeoff
    std = np.asarray(std, dtype=np.float64)
    safe = np.maximum(std, 1e-12)
    z = gain / safe
    ei = gain * ndtr(z) + safe * norm.pdf(z)
    # with no predictive spread the improvement is certain: max(gain, 0)
    return np.where(std > 1e-12, ei, np.maximum(gain, 0.0))


class ActiveLearner:
    """[C]'s protege learner, scikit-learn style: a GP on PCA-reduced codes.

    `fit(X, labelled_index, scores)` takes the full code matrix (the PCA is fitted on all
    rows, no labels needed) and the scores of the labelled rows. The kernel is Matern +
    white noise, as in Astronomaly, or with `config.amplitude` a fitted constant times
    Matern + white noise; its hyperparameters are fitted by maximum marginal likelihood.
    """

    def __init__(self, config: ActiveLearningConfig = DEFAULT_ACTIVE, seed: int = 0,
                 projection: Projection | None = None):
        self.config = config
        self.seed = seed
        #: a PCA already fitted to the same X (a labelling loop refits the GP, not the PCA)
        self.projection = projection

    def fit(self, X, labelled_index, scores) -> ActiveLearner:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        X = check_features(X)
        rows = _check_rows(labelled_index, len(X), "labelled_index")
        if len(rows) == 0:
            raise InputError("labelled_index", "at least one labelled row is needed")
        if len(np.unique(rows)) != len(rows):
            raise InputError("labelled_index", "a row is listed twice")
        y = self._check_scores(scores, len(rows))
        cfg = self.config
        self.projection_ = self.projection or Projection.fit(X, cfg.pca_variance)
        matern = Matern(length_scale=1.0, nu=cfg.matern_nu)
        # Astronomaly's kernel has no amplitude: Matern's variance is fixed at 1 (score units)
        kernel = (ConstantKernel(1.0) * matern if cfg.amplitude else matern) + WhiteKernel(noise_level=1.0)
        self.gp_ = GaussianProcessRegressor(kernel=kernel, normalize_y=cfg.normalize_y,
                                            n_restarts_optimizer=cfg.n_restarts, random_state=self.seed)
        with warnings.catch_warnings():
            # bounds hit by the optimiser are expected with few labels; not worth a warning per round
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(self.projection_.transform(X[rows]), y)
        self.labelled_index_ = rows
        self.best_score_ = float(y.max())
        return self

    def predict(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted interest score and its standard deviation for every row."""
        self._check_fitted()
        mean, std = self.gp_.predict(self.projection_.transform(check_features(X)), return_std=True)
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)

    def expected_improvement(self, X) -> np.ndarray:
        mean, std = self.predict(X)
        return expected_improvement(mean, std, self.best_score_, self.config.ei_tradeoff)

    def next_batch(self, X, exclude, n: int | None = None) -> np.ndarray:
        """The n rows not in `exclude` with the highest expected improvement (ties, e.g.
        where EI underflows to 0, go to the higher predicted score)."""
        n = self.config.batch_size if n is None else int(n)
        mean, std = self.predict(X)
        ei = expected_improvement(mean, std, self.best_score_, self.config.ei_tradeoff)
        free = np.ones(len(mean), dtype=bool)
        free[_check_rows(exclude, len(mean), "exclude")] = False
        order = np.lexsort((np.arange(len(mean)), -mean, -ei))
        return order[free[order]][: max(n, 0)].astype(np.int64)

    @property
    def kernel_(self):
        self._check_fitted()
        return self.gp_.kernel_

    def _check_fitted(self) -> None:
        if not hasattr(self, "gp_"):
            raise RuntimeError("ActiveLearner.fit must run first")

    def _check_scores(self, scores, n: int) -> np.ndarray:
        y = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(y) != n:
            raise InputError("scores", f"{len(y)} scores for {n} labelled rows")
        lo, hi = self.config.min_score, self.config.max_score
        if not np.isfinite(y).all() or (y < lo).any() or (y > hi).any():
            raise InputError("scores", f"scores must be finite and within {lo:g}..{hi:g}")
        return y


def _check_rows(rows, n: int, name: str) -> np.ndarray:
    rows = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows).reshape(-1)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(rows.dtype, np.integer):
        raise InputError(name, f"expected integer row indices, got {rows.dtype}")
    if (rows < 0).any() or (rows >= n).any():
        raise InputError(name, f"row indices must lie in 0..{n - 1}")
    return rows.astype(np.int64)


# ---------------------------------------------------------------------------
# Oracles and the labelling loop
# ---------------------------------------------------------------------------


class Oracle(Protocol):
    """Whoever gives interest scores: `oracle(row) -> score`, or None to stop."""

    name: str

    def __call__(self, row: int) -> float | None: ...


class ColumnOracle:
    """Benchmark oracle: `high` for rows of the interesting class, `low` for the rest."""

    name = "label-column"

    def __init__(self, interesting, high: float = DEFAULT_ACTIVE.max_score, low: float = DEFAULT_ACTIVE.min_score):
        self.interesting = np.asarray(interesting, dtype=bool)
        self.high, self.low = float(high), float(low)

    def __call__(self, row: int) -> float:
        return self.high if self.interesting[row] else self.low


@dataclass
class SessionResult:
    """Where a labelling session ended: labelled rows (in order) and the final predictions."""

    labelled: np.ndarray
    scores: np.ndarray
    mean: np.ndarray | None
    std: np.ndarray | None
    #: True when the budget was reached (or every row labelled); False when the oracle stopped.
    finished: bool
    asked: int


def known_labels(store: LabelStore, ids) -> dict[int, float]:
    """row -> score for the stored labels whose id is among `ids` (others are ignored)."""
    row_of = {str(ident): row for row, ident in enumerate(ids)}
    return {row_of[ident]: score for ident, score in store.scores().items() if ident in row_of}


def run_session(X, ids, store: LabelStore, oracle: Oracle, config: ActiveLearningConfig = DEFAULT_ACTIVE,
                seed: int = 0, progress: bool = False,
                on_round: Callable[[int, ActiveLearner | None], None] | None = None) -> SessionResult:
    """Ask `oracle` for labels until `config.budget` of the rows are labelled.

    Labels already in `store` (from an earlier, interrupted session) count: the session
    resumes. Rows are asked first from `initial_batch` (while fewer than `n_initial`
    labels exist), then in batches of highest expected improvement. Every label is
    appended to `store` as soon as it is given. No row is asked twice.
    """
    X = check_features(X)
    ids = [str(i) for i in ids]
    if len(ids) != len(X):
        raise InputError("ids", f"{len(ids)} ids for {len(X)} rows")
    known = known_labels(store, ids)
    projection = Projection.fit(X, config.pca_variance)
    budget = min(config.budget, len(X))
    initial = initial_batch(X, config.n_initial)
    asked = 0
    bar = tqdm(total=budget, initial=min(len(known), budget), desc="labels", disable=not progress, leave=False)
    try:
        while len(known) < budget:
            learner = None
            batch = [r for r in initial if r not in known] if len(known) < config.n_initial else []
            if not batch:
                learner = ActiveLearner(config, seed, projection).fit(X, list(known), list(known.values()))
                batch = learner.next_batch(X, exclude=list(known))
            if on_round is not None:
                on_round(len(known), learner)
            for row in list(batch)[: budget - len(known)]:
                score = oracle(int(row))
                if score is None:
                    return _result(X, known, config, seed, projection, finished=False, asked=asked)
                store.add(ids[row], float(score), by=oracle.name)
                known[int(row)] = float(score)
                asked += 1
                bar.update(1)
    finally:
        bar.close()
    return _result(X, known, config, seed, projection, finished=True, asked=asked)


def _result(X, known: dict[int, float], config, seed, projection, finished: bool, asked: int) -> SessionResult:
    rows = np.fromiter(known, dtype=np.int64, count=len(known))
    scores = np.fromiter(known.values(), dtype=np.float64, count=len(known))
    mean = std = None
    if len(rows):
        mean, std = ActiveLearner(config, seed, projection).fit(X, rows, scores).predict(X)
    return SessionResult(rows, scores, mean, std, finished, asked)


# ---------------------------------------------------------------------------
# Label-free rankings and recall
# ---------------------------------------------------------------------------


def isolation_forest_scores(X, seed: int = 0, config: ActiveLearningConfig = DEFAULT_ACTIVE) -> np.ndarray:
    """Isolation-forest anomaly score per row on the PCA-reduced codes (higher = more anomalous)."""
    from sklearn.ensemble import IsolationForest

    features = reduce_features(X, config.pca_variance)
    forest = IsolationForest(n_estimators=config.iforest_estimators, random_state=seed).fit(features)
    return -forest.score_samples(features)


def random_scores(n: int, seed: int = 0) -> np.ndarray:
    """A random order, as scores (the floor every ranking must beat)."""
    return np.random.default_rng(seed).permutation(n).astype(np.float64)


def ranking(scores, tie_seed: int | None = None) -> np.ndarray:
    """Row indices from most to least interesting (highest score first). Ties go by row,
    or by a seeded random order with `tie_seed` (so a flat score cannot borrow the
    table's order, in which sets and classes are often contiguous)."""
    scores = np.asarray(scores, dtype=np.float64)
    tiebreak = np.arange(len(scores)) if tie_seed is None else np.random.default_rng(tie_seed).permutation(len(scores))
    return np.lexsort((tiebreak, -scores))


def recall_curve(scores, interesting, tie_seed: int = 0) -> np.ndarray:
    """Recall of the interesting rows among the top k, for k = 1..N, ranking by `scores`
    (ties in random order)."""
    interesting = np.asarray(interesting, dtype=bool)
    if not interesting.any():
        raise InputError("interesting", "no interesting rows: recall is undefined")
    return np.cumsum(interesting[ranking(scores, tie_seed)]) / interesting.sum()


def recall_at(scores, interesting, k: int) -> float:
    curve = recall_curve(scores, interesting)
    return float(curve[min(k, len(curve)) - 1])


# ---------------------------------------------------------------------------
# Benchmark: recall against rank with a label-column oracle ([C] Fig. 8)
# ---------------------------------------------------------------------------


@dataclass
class RecallCurves:
    """Recall-against-rank curves per method, one per seed."""

    interesting: np.ndarray
    curves: dict[str, list[np.ndarray]]

    def recall_table(self, k: int) -> pd.DataFrame:
        """Recall in the top k per method: mean, spread and range over seeds; plus the ideal."""
        n_interesting = int(self.interesting.sum())
        rows = [{"method": "ideal", "runs": 1, "mean": min(k, n_interesting) / n_interesting, "sd": 0.0,
                 "min": min(k, n_interesting) / n_interesting, "max": min(k, n_interesting) / n_interesting}]
        for method, curves in self.curves.items():
            values = np.array([curve[min(k, len(curve)) - 1] for curve in curves])
            rows.append({"method": method, "runs": len(values), "mean": values.mean(), "sd": values.std(),
                         "min": values.min(), "max": values.max()})
        table = pd.DataFrame(rows)
        table.insert(1, "k", k)
        return table


#: ranking methods by their cost on a benchmark's rows (a flow fit is ~10x an active session).
_SLOWEST_FIRST = ("density", "active", "iforest")


def recall_benchmark(X, ids, interesting, config: ActiveLearningConfig = DEFAULT_ACTIVE, seeds=(0, 1, 2),
                     density_config=None, labels_dir: str | Path | None = None, methods=RANK_METHODS,
                     progress: bool = False, density_model=None) -> RecallCurves:
    """Rank the rows by each method and record recall of `interesting` against rank.

    active: a labelling session with a `ColumnOracle` (interesting = max score, else min),
    `config.budget` labels, then every row ranked by the GP's predicted score; its labels
    go to `labels_dir/labels-seed<S>.jsonl` (replaced if present). iforest / density /
    random are label-free; density fits a MAF to the rows themselves, once per seed, unless
    a fitted `density_model` is given, which scores them once (fitting is the slow part).
    Every other method runs once per seed.
    """
    import tempfile

    X = check_features(X)
    interesting = np.asarray(interesting, dtype=bool)
    ids = [str(i) for i in ids]
    runs = [(m, s) for m in methods for s in (seeds[:1] if m == "density" and density_model is not None else seeds)]
    # flow fits first, so the last one does not run alone while the other worker idles
    runs.sort(key=lambda run: _SLOWEST_FIRST.index(run[0]) if run[0] in _SLOWEST_FIRST else len(_SLOWEST_FIRST))
    curves: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(labels_dir) if labels_dir is not None else Path(scratch)
        # the rankings are independent and seeded, so worker processes give the same curves
        tasks = (delayed(_benchmark_scores)(method, X, ids, interesting, config, seed, density_config, folder,
                                            density_model) for method, seed in runs)
        results = parallel(min(config.jobs, len(runs)), return_as="generator")(tasks)
        for (method, seed), scores in tqdm(zip(runs, results), total=len(runs), desc="rankings",
                                           disable=not progress):
            curves[method].append(recall_curve(scores, interesting, tie_seed=seed))
    return RecallCurves(interesting, curves)


def _benchmark_scores(method, X, ids, interesting, config, seed, density_config, folder: Path,
                      density_model=None) -> np.ndarray:
    if method == "active":
        store_path = folder / f"labels-seed{seed}.jsonl"
        store_path.unlink(missing_ok=True)  # a benchmark starts from no labels
        result = run_session(X, ids, LabelStore(store_path), ColumnOracle(interesting), config, seed, False)
        return result.mean
    if method == "iforest":
        return isolation_forest_scores(X, seed, config)
    if method == "density":
        from radiolatent.config import DEFAULT_DENSITY
        from radiolatent.downstream.density import DensityModel

        model = density_model or DensityModel(density_config or DEFAULT_DENSITY).fit(X, seed=seed)
        return -model.score_samples(X)  # least likely first
    if method == "random":
        return random_scores(len(X), seed)
    raise InputError(method, f"unknown ranking method; choose from {RANK_METHODS}")


_METHOD_STYLE = {"active": ("tab:red", "active learning (GP)"), "iforest": ("tab:blue", "isolation forest"),
                 "density": ("tab:green", "MAF likelihood"), "random": ("grey", "random order")}


def plot_recall(curves: RecallCurves, path: str | Path, title: str = "recall against rank", budget: int | None = None) -> Path:
    """Recall of the interesting class against rank per method (mean over seeds, min-max band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.fileio import save_figure

    n = len(curves.interesting)
    ranks = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=100)
    ideal = np.minimum(ranks, curves.interesting.sum()) / curves.interesting.sum()
    ax.plot(ranks, ideal, color="black", ls=":", lw=1, label="ideal")
    for method, runs in curves.curves.items():
        colour, name = _METHOD_STYLE.get(method, (None, method))
        stack = np.stack(runs)
        ax.plot(ranks, stack.mean(axis=0), color=colour, label=f"{name} ({len(runs)} run{'s' * (len(runs) > 1)})")
        if len(runs) > 1:
            ax.fill_between(ranks, stack.min(axis=0), stack.max(axis=0), color=colour, alpha=0.2, lw=0)
    if budget:
        ax.axvline(budget, color="tab:red", ls="--", lw=0.8, alpha=0.6, label=f"label budget {budget}")
    ax.set_xlabel("rank (sources looked at)")
    ax.set_ylabel("recall of the interesting class")
    ax.set_xlim(1, n)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


# ---------------------------------------------------------------------------
# On codes-table rows: `anomaly rank | benchmark` and the study's anomaly stage
# ---------------------------------------------------------------------------


def rank_rows(rows: pd.DataFrame, method: str, *, labels: str | Path | None = None, density_model=None,
              density_config=None, seed: int = 0, in_spec: str = "rows",
              log: Callable[[str], None] = print) -> pd.DataFrame:
    """Codes-table rows ranked from most to least interesting by `method` (RANK_METHODS):
    active (a GP on the labels in `labels`), iforest, density (least likely first under
    `density_model`, else under a MAF of `density_config` fitted here) or random."""
    from radiolatent.codes import code_matrix

    X = code_matrix(rows)
    extra = {}
    if method == "active":
        score, extra = _active_scores(X, rows["id"], labels, seed, in_spec)
    elif method == "iforest":
        score = isolation_forest_scores(X, seed=seed)
    elif method == "density":
        if density_model is None:
            from radiolatent.downstream.density import DensityModel

            log(f"fitting a '{density_config.name}' MAF on the {len(X)} rows (give --density-model to reuse one)")
            density_model = DensityModel(density_config).fit(X, seed=seed, progress=True)
        score = -density_model.score_samples(X)
    elif method == "random":
        score = random_scores(len(X), seed=seed)
    else:
        raise InputError(method, f"unknown ranking method; choose from {RANK_METHODS}")
    return ranked_frame(rows, score, extra)


def _active_scores(X: np.ndarray, ids, labels, seed: int, in_spec: str) -> tuple[np.ndarray, dict]:
    known = known_labels(LabelStore(labels), ids)
    if not known:
        raise InputError(labels, f"no labels for rows of {in_spec}; run `anomaly label` first")
    learner = ActiveLearner(DEFAULT_ACTIVE, seed=seed).fit(X, list(known), list(known.values()))
    mean, std = learner.predict(X)
    given = np.full(len(X), np.nan)
    given[list(known)] = list(known.values())
    return mean, {"std": std, "given": given}


def ranked_frame(rows: pd.DataFrame, score: np.ndarray, extra: dict | None = None) -> pd.DataFrame:
    """rank, id and score (highest first), the `extra` columns, and the rows' metadata."""
    order = ranking(score)
    out = pd.DataFrame({"rank": np.arange(1, len(order) + 1), "id": rows["id"].to_numpy()[order],
                        "score": np.asarray(score)[order]})
    for name, values in (extra or {}).items():
        out[name] = np.asarray(values)[order]
    for col in ("dataset", "label_name", "las_arcsec", "ra", "dec"):
        if col in rows.columns:
            out[col] = rows[col].to_numpy()[order]
    return out


def benchmark_rows(rows: pd.DataFrame, interesting: str, out: str | Path, *, k: int = 100,
                   config: ActiveLearningConfig = DEFAULT_ACTIVE, seeds=(0, 1, 2), density_config=None,
                   density_model=None, in_spec: str = "rows", source: str = "codes",
                   progress: bool = True) -> tuple[RecallCurves, pd.DataFrame, list[Path]]:
    """`recall_benchmark` on codes-table rows, the rows whose label_name is `interesting`
    being the class sought; writes recall.png and recall_at_k.csv (recall in the top k)
    into `out` and returns (curves, that table, the files written)."""
    from radiolatent.codes import code_matrix

    names = rows["label_name"].astype(str)
    if interesting not in set(names):
        raise InputError(source, f"no '{interesting}' rows in {in_spec} (labels: {sorted(set(names))})")
    out = Path(out)
    curves = recall_benchmark(code_matrix(rows), rows["id"], (names == interesting).to_numpy(), config, list(seeds),
                              density_config, out, progress=progress, density_model=density_model)
    table = curves.recall_table(k)
    title = f"{in_spec}: recall of {interesting} against rank"
    written = [plot_recall(curves, out / "recall.png", title=title, budget=config.budget),
               write_csv(table, out / "recall_at_k.csv")]
    return curves, table, written
