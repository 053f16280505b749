"""2-D maps of the codes (t-SNE [A], UMAP [C]) and the PCA variance curve [A].

The PCA helpers here (`pca_variance`, `pca_reduce`) are shared with search
(Euclidean on PCA-reduced codes) and clustering, so all three keep the same
"95 % of the variance" rule.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_MAP, MapConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import save_figure

MAP_METHODS = ("tsne", "umap")
#: t-SNE needs perplexity < n_samples; leave this many samples of head-room.
_TSNE_MARGIN = 1


def check_matrix(X: np.ndarray, source: str, min_rows: int = 2) -> np.ndarray:
    """Return X as a finite 2-D float array, or raise InputError naming `source`."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(source, f"expected a 2-D (rows, dims) array, got shape {X.shape}")
    if len(X) < min_rows:
        raise InputError(source, f"needs at least {min_rows} rows, got {len(X)}")
    if not np.isfinite(X).all():
        raise InputError(source, "contains NaN or infinite values")
    return X


def pca_variance(X: np.ndarray, levels: tuple[float, ...] = DEFAULT_MAP.pca_levels) -> dict:
    """Explained-variance ratios of X's principal components, largest first.

    Returns {'explained': array, 'cumulative': array, 'n95': int, 'n98': int} (one
    'nXX' key per level): the fewest components whose cumulative share reaches it.
    """
    X = check_matrix(X, "pca input")
    # eigenvalues of the d x d covariance: cheap for a million rows of 256 dims
    centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    cov = centred.T @ centred / max(len(X) - 1, 1)
    eig = np.clip(np.linalg.eigvalsh(cov)[::-1], 0.0, None)
    total = eig.sum()
    explained = eig / total if total > 0 else np.zeros_like(eig)
    out = {"explained": explained, "cumulative": np.cumsum(explained)}
    for level in levels:
        out[f"n{round(level * 100)}"] = n_components_for(explained, level)
    return out


def n_components_for(explained: np.ndarray, fraction: float) -> int:
    """Fewest leading components whose explained share reaches `fraction` (at least 1)."""
    cumulative = np.cumsum(explained)
    # a tiny tolerance so a fraction reached exactly is not missed by rounding
    hits = np.flatnonzero(cumulative >= fraction - 1e-9)
    return int(hits[0]) + 1 if hits.size else len(explained)


def pca_reduce(X: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, int]:
    """Project X onto the principal components holding `fraction` of its variance."""
    from sklearn.decomposition import PCA

    n = n_components_for(pca_variance(X)["explained"], fraction)
    reduced = PCA(n_components=n, random_state=seed).fit_transform(X)
    return reduced.astype(np.float32), n


def embed_2d(X: np.ndarray, method: str = "tsne", seed: int = 0, config: MapConfig = DEFAULT_MAP) -> np.ndarray:
    """(N, 2) map of the rows of X by t-SNE ([A], sklearn defaults) or UMAP ([C])."""
    X = check_matrix(X, f"{method} input", min_rows=3)
    if method == "tsne":
        from sklearn.manifold import TSNE

        # sklearn refuses perplexity >= n_samples; small sets get the largest allowed
        perplexity = min(config.tsne_perplexity, len(X) - 1 - _TSNE_MARGIN)
        xy = TSNE(n_components=2, perplexity=max(perplexity, 1.0), random_state=seed).fit_transform(X)
    elif method == "umap":
        import umap

        neighbours = min(config.umap_neighbors, len(X) - 1)
        # a fixed seed makes UMAP single-threaded anyway; saying so silences its warning
        reducer = umap.UMAP(n_neighbors=neighbours, min_dist=config.umap_min_dist, random_state=seed, n_jobs=1)
        xy = reducer.fit_transform(X)
    else:
        raise InputError(method, f"unknown map method; choose one of {MAP_METHODS}")
    return np.asarray(xy, dtype=np.float32)


def is_categorical(values: pd.Series | np.ndarray, config: MapConfig = DEFAULT_MAP) -> bool:
    """Strings, booleans and few-valued integers (class labels) get a legend; other numbers a colour bar."""
    series = pd.Series(values)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return True
    return pd.api.types.is_integer_dtype(series) and series.nunique() <= config.max_categories


def plot_map(
    xy: np.ndarray,
    colour_values,
    path: str | Path,
    title: str = "",
    colour_label: str = "",
    categorical: bool | None = None,
    config: MapConfig = DEFAULT_MAP,
) -> Path:
    """Scatter the 2-D map coloured by a column: colour bar if numeric, legend if categorical."""
    xy = np.asarray(xy)
    values = pd.Series(np.asarray(colour_values)).reset_index(drop=True)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(values) != len(xy):
        raise InputError(path, f"map of shape {xy.shape} and {len(values)} colour values do not match")
    categorical = is_categorical(values, config) if categorical is None else categorical
    fig, ax = plt.subplots(figsize=(7, 6))
    if categorical:
        _scatter_categories(ax, xy, values.astype(str), config)
        ax.legend(title=colour_label, fontsize="small", markerscale=2, loc="best")
    else:
        _scatter_continuous(fig, ax, xy, values.astype(float), colour_label, config)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path, dpi=120)


def _scatter_categories(ax, xy: np.ndarray, values: pd.Series, config: MapConfig) -> None:
    counts = values.value_counts()
    keep = set(counts.index[: config.max_categories])
    values = values.where(values.isin(keep), "other")
    cmap = plt.get_cmap("tab20" if len(keep) > 10 else "tab10")
    for i, name in enumerate(sorted(values.unique())):
        mask = (values == name).to_numpy()
        ax.scatter(
            xy[mask, 0], xy[mask, 1], s=config.point_size, color=cmap(i % cmap.N), label=f"{name} ({mask.sum()})"
        )


def _scatter_continuous(fig, ax, xy: np.ndarray, values: pd.Series, label: str, config: MapConfig) -> None:
    known = np.isfinite(values.to_numpy())
    # unknown values (NaN angular size) are drawn grey underneath, not dropped
    ax.scatter(xy[~known, 0], xy[~known, 1], s=config.point_size, color="lightgrey", label="unknown")
    points = ax.scatter(xy[known, 0], xy[known, 1], s=config.point_size, c=values[known], cmap="viridis")
    fig.colorbar(points, ax=ax, label=label)
    if (~known).any():
        ax.legend(fontsize="small", loc="best")


def plot_pca_variance(result: dict, path: str | Path, title: str = "PCA of the codes") -> Path:
    """Cumulative explained variance with the 95 / 98 % lines and their component counts."""
    cumulative = np.asarray(result["cumulative"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(cumulative) + 1), cumulative, marker=".", color="black")
    levels = sorted(k for k in result if k[0] == "n" and k[1:].isdigit())
    for key, style in zip(levels, ("--", ":", "-.")):
        level = int(key[1:]) / 100
        ax.axhline(level, linestyle=style, color="tab:red", lw=1)
        ax.axvline(result[key], linestyle=style, color="tab:blue", lw=1, label=f"{level:.0%}: {result[key]} components")
    ax.set_xscale("log")
    ax.set_xlabel("number of components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return save_figure(fig, path, dpi=120)
