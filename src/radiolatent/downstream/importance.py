"""Which code components predict angular size: [A]'s incremental random forest (Figure 7).

[A] trains a RandomForestRegressor with warm_start over shuffled batches of 1,000 rows,
adding one tree per batch, so the forest ends with one tree per batch (100 trees for
RGZ DR1's ~100k rows), each tree fitted on its own batch. A set of a few hundred rows
would get a single tree, so the first batch instead grows enough trees that the forest
has at least `ImportanceConfig.min_trees` in all; with more batches than that the
forest is exactly the paper's. Set min_trees=1 for the paper's rule everywhere.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_IMPORTANCE, ImportanceConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import save_figure

LAS_SOURCES = ("catalogue", "estimator", "mixed")


def las_source_of(rows: pd.DataFrame) -> str:
    """Where the rows' angular sizes came from: the pool's per-row `las_source` column,
    'mixed' when it holds both; 'catalogue' for tables without that column."""
    if "las_source" not in rows.columns:
        return "catalogue"
    known = rows.loc[np.isfinite(rows["las_arcsec"].to_numpy(dtype=float)), "las_source"].astype(str)
    values = sorted(set(known) & {"catalogue", "estimator"})
    return values[0] if len(values) == 1 else "mixed"


def incremental_forest(X: np.ndarray, y: np.ndarray, seed: int = 0, config: ImportanceConfig = DEFAULT_IMPORTANCE):
    """Fit [A]'s warm-started forest: one tree per shuffled batch (at least min_trees in all)."""
    from sklearn.ensemble import RandomForestRegressor

    order = np.random.default_rng(seed).permutation(len(X))
    batches = [order[i : i + config.batch_size] for i in range(0, len(X), config.batch_size)]
    # the first batch makes up any shortfall so small sets still get a real forest
    first_trees = max(1, config.min_trees - (len(batches) - 1))
    forest = RandomForestRegressor(n_estimators=first_trees, warm_start=True, random_state=seed, n_jobs=config.jobs)
    for i, rows in enumerate(batches):
        if i > 0:
            forest.n_estimators += 1
        forest.fit(X[rows], y[rows])
    return forest


def feature_importance(
    X: np.ndarray,
    las: np.ndarray,
    seed: int = 0,
    config: ImportanceConfig = DEFAULT_IMPORTANCE,
) -> pd.DataFrame:
    """Impurity importance of each code component for predicting angular size.

    Rows with unknown (NaN) angular size are left out. Returns columns component
    (0-based index), importance (sums to 1), mean_value (the component's mean over the
    rows used), most important first.
    """
    X = np.asarray(X, dtype=np.float64)
    las = np.asarray(las, dtype=np.float64).ravel()
    if X.ndim != 2 or len(X) != len(las):
        raise InputError("importance input", f"codes of shape {X.shape} and {len(las)} angular sizes do not match")
    known = np.isfinite(las) & np.isfinite(X).all(axis=1)
    if known.sum() < 2:
        raise InputError("las_arcsec", f"needs at least 2 rows with a known angular size, got {int(known.sum())}")
    X, las = X[known], las[known]
    forest = incremental_forest(X, las, seed=seed, config=config)
    table = pd.DataFrame(
        {"component": np.arange(X.shape[1]), "importance": forest.feature_importances_, "mean_value": X.mean(axis=0)}
    )
    table.attrs["n_rows"] = len(X)
    table.attrs["n_trees"] = int(forest.n_estimators)
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def plot_importance(
    table: pd.DataFrame,
    path: str | Path,
    las_source: str = "catalogue",
    title: str = "",
    config: ImportanceConfig = DEFAULT_IMPORTANCE,
) -> Path:
    """[A] Figure 7: importance (top) and mean value (bottom) per component, in component order."""
    if las_source not in LAS_SOURCES:
        raise InputError(las_source, f"unknown angular-size source; choose one of {LAS_SOURCES}")
    shown = table.sort_values("component").head(config.plot_components)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    top.bar(shown["component"], shown["importance"], width=1.0, color="tab:blue")
    top.set_ylabel("importance")
    bottom.bar(shown["component"], shown["mean_value"], width=1.0, color="tab:gray")
    bottom.set_ylabel("mean value")
    bottom.set_xlabel("code component")
    n_rows, n_trees = table.attrs.get("n_rows"), table.attrs.get("n_trees")
    extra = f", {n_rows} rows, {n_trees} trees" if n_rows else ""
    fig.suptitle(f"{title or 'Feature importance for angular size'} (LAS from {las_source}{extra})")
    return save_figure(fig, path, dpi=120)
