"""Ranking sources from most to least interesting: by [C]'s active learner on the labels
given so far (`downstream.active`), by an isolation forest, by the flow's likelihood
(`downstream.density`) or at random (the floor). `anomaly rank` and the study use
`rank_rows`; the benchmark of these rankings is `downstream.recall`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_ACTIVE, ActiveLearningConfig
from radiolatent.core.errors import InputError
from radiolatent.data.labels import LabelStore, known_labels
from radiolatent.downstream.active import ActiveLearner, reduce_features

#: the methods `rank` understands.
RANK_METHODS = ("active", "iforest", "density", "random")


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


# ---------------------------------------------------------------------------
# On codes-table rows: `anomaly rank`
# ---------------------------------------------------------------------------


def rank_rows(
    rows: pd.DataFrame,
    method: str,
    *,
    labels: str | Path | None = None,
    density_model=None,
    density_config=None,
    seed: int = 0,
    in_spec: str = "rows",
    log: Callable[[str], None] = print,
    config: ActiveLearningConfig = DEFAULT_ACTIVE,
) -> pd.DataFrame:
    """Codes-table rows ranked from most to least interesting by `method` (RANK_METHODS):
    active (a GP on the labels in `labels`), iforest, density (least likely first under
    `density_model`, else under a MAF of `density_config` fitted here) or random;
    `config` holds the GP's and the isolation forest's settings."""
    from radiolatent.data.codes import code_matrix

    X = code_matrix(rows)
    extra: dict = {}
    if method == "active":
        score, extra = _active_scores(X, rows["id"], labels, seed, in_spec, config)
    elif method == "iforest":
        score = isolation_forest_scores(X, seed=seed, config=config)
    elif method == "density":
        if density_model is None:
            from radiolatent.downstream.density import DensityModel

            log(f"fitting a '{density_config.name}' MAF on the {len(X)} rows (a fitted density model can be reused)")
            density_model = DensityModel(density_config).fit(X, seed=seed, progress=True)
        score = -density_model.score_samples(X)
    elif method == "random":
        score = random_scores(len(X), seed=seed)
    else:
        raise InputError(method, f"unknown ranking method; choose from {RANK_METHODS}")
    return ranked_frame(rows, score, extra)


def _active_scores(
    X: np.ndarray, ids, labels, seed: int, in_spec: str, config: ActiveLearningConfig
) -> tuple[np.ndarray, dict]:
    known = known_labels(LabelStore(labels), ids)
    if not known:
        raise InputError(labels, f"no labels for rows of {in_spec}; run `anomaly label` first")
    learner = ActiveLearner(config, seed=seed).fit(X, list(known), list(known.values()))
    mean, std = learner.predict(X)
    given = np.full(len(X), np.nan)
    given[list(known)] = list(known.values())
    return mean, {"std": std, "given": given}


def ranked_frame(rows: pd.DataFrame, score: np.ndarray, extra: dict | None = None) -> pd.DataFrame:
    """rank, id and score (highest first), the `extra` columns, and the rows' metadata."""
    order = ranking(score)
    out = pd.DataFrame(
        {"rank": np.arange(1, len(order) + 1), "id": rows["id"].to_numpy()[order], "score": np.asarray(score)[order]}
    )
    for name, values in (extra or {}).items():
        out[name] = np.asarray(values)[order]
    for col in ("dataset", "label_name", "las_arcsec", "ra", "dec"):
        if col in rows.columns:
            out[col] = rows[col].to_numpy()[order]
    return out
