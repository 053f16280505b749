"""[C]'s active-learning anomaly search (Astronomaly's "protege") on codes.

- `Projection`: PCA to 95 % of the variance ([C]), scaled by the spread along PC1.
- `ActiveLearner`: a Gaussian-process regressor (Matern + white noise, hyperparameters
  fitted by maximum marginal likelihood) on the 0..5 interest scores; the next batch is
  the rows of highest expected improvement.
- `initial_batch`: the first 10 sources, spaced along the first principal component.
- `run_session`: the loop that asks an oracle (`downstream.oracles`) for labels until the
  budget is spent, keeping every label in a `downstream.labels.LabelStore`.

scikit-learn's GaussianProcessRegressor is used because it is what Astronomaly uses and
at [C]'s budget (<= 200 labels) an exact GP costs milliseconds; nothing bigger is needed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_ACTIVE, ActiveLearningConfig
from radiolatent.core.errors import InputError
from radiolatent.data.labels import LabelStore, known_labels
from radiolatent.downstream.oracles import Oracle

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
                assert variance is not None  # the test above: one of the two is given
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

    def __init__(
        self, config: ActiveLearningConfig = DEFAULT_ACTIVE, seed: int = 0, projection: Projection | None = None
    ):
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
        self.gp_ = GaussianProcessRegressor(
            kernel=kernel, normalize_y=cfg.normalize_y, n_restarts_optimizer=cfg.n_restarts, random_state=self.seed
        )
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


def run_session(
    X,
    ids,
    store: LabelStore,
    oracle: Oracle,
    config: ActiveLearningConfig = DEFAULT_ACTIVE,
    seed: int = 0,
    progress: bool = False,
    on_round: Callable[[int, ActiveLearner | None], None] | None = None,
) -> SessionResult:
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
            batch = [int(r) for r in initial if r not in known] if len(known) < config.n_initial else []
            if not batch:
                learner = ActiveLearner(config, seed, projection).fit(X, list(known), list(known.values()))
                batch = [int(r) for r in learner.next_batch(X, exclude=list(known))]
            if on_round is not None:
                on_round(len(known), learner)
            for row in batch[: budget - len(known)]:
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
