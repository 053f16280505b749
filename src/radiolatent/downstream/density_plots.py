"""The density figures ([A] Figs. 11-13): the flow's training curve, log-likelihood
histograms per set, the least likely sources of a set and a search from the least likely
one (`density fit | plot`, the study's density stage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radiolatent.core.errors import InputError
from radiolatent.data import inputs
from radiolatent.downstream.density_tables import lowest


def plot_history(history: list[dict], path: str | Path, title: str = "MAF training") -> Path:
    """Mean log-likelihood per row on the training and held-out rows, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.core.fileio import save_figure

    if not history:
        raise InputError(path, "no training history to plot")
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h["train_loglik"] for h in history], label="train")
    ax.plot(epochs, [h["valid_loglik"] for h in history], label="held out")
    best = max(history, key=lambda h: h["valid_loglik"])
    ax.axvline(best["epoch"], color="grey", ls=":", label=f"best epoch {best['epoch']}")
    # the first epochs can be far below the rest; show the part worth reading
    values = np.array([h["valid_loglik"] for h in history] + [h["train_loglik"] for h in history])
    low, high = np.percentile(values, 5), values.max()
    ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean log-likelihood per row (nats)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return save_figure(fig, path)


#: display order and colours of the sets in the histogram ([A] Fig. 11: generated in black).
_SET_COLOURS = {"pool": "tab:blue", "mirabest:confident": "tab:orange", "frdeep-n": "tab:green", "generated": "black"}


def plot_loglik_histograms(scores, path: str | Path, title: str = "log-likelihood under the MAF") -> Path:
    """One normalised histogram per set of a `density score` table ([A] Fig. 11).

    The x range spans the 0.5th to 100th percentile of all values, so a few extreme
    outliers do not squash the rest; how many rows of each set fall below is in the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from radiolatent.core.fileio import save_figure

    values = scores["loglik"].to_numpy(dtype=float)
    low, high = np.percentile(values, 0.5), values.max()
    bins = np.linspace(low, high, 60)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    names = list(dict.fromkeys(scores["set"].astype(str)))
    known = [n for n in _SET_COLOURS if n in names]
    others = [n for n in names if n not in _SET_COLOURS]
    used = {to_hex(c) for c in _SET_COLOURS.values()}
    spare = iter(c for c in plt.rcParams["axes.prop_cycle"].by_key()["color"] if to_hex(c) not in used)
    colours = {**{n: _SET_COLOURS[n] for n in known}, **{n: next(spare, "tab:grey") for n in others}}
    for name in known + others:
        ll = scores.loc[scores["set"] == name, "loglik"].to_numpy(dtype=float)
        below = int((ll < low).sum())
        label = f"{name} ({len(ll)}" + (f", {below} below range)" if below else ")")
        ax.hist(
            np.clip(ll, low, None),
            bins=bins.tolist(),
            density=True,
            histtype="step",
            lw=1.5,
            color=colours[name],
            label=label,
        )
    ax.set_xlabel("log-likelihood (nats)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def density_figures(
    scores,
    table,
    out: str | Path,
    gallery_set: str = "mirabest:confident",
    n: int = 16,
    in_spec: str = "pool",
    k: int = 8,
    metric: str = "cosine",
    source: str = "scores",
):
    """[A]'s Figures 11-13 from a scores table and the codes table it scored: histograms per
    set, a gallery of `gallery_set`'s n least likely sources, and a search in `in_spec` from
    the least likely one. Returns (the n least likely rows, the files written)."""
    out = Path(out)
    least = lowest(scores, gallery_set, n, source)
    written = [plot_loglik_histograms(scores, out / "loglik_hist.png")]
    written += _gallery(table, least, gallery_set, out)
    written += _search_from_lowest(table, least.iloc[0], gallery_set, in_spec, k, metric, out)
    return least, written


def _gallery(table, least, set_name: str, out: Path) -> list[Path]:
    from radiolatent.core.fileio import write_csv
    from radiolatent.data.grid import image_grid

    rows = _table_rows(table, least, set_name)
    captions = [f"{label_text(name)}\nlog L {ll:.0f}" for name, ll in zip(least["label_name"], least["loglik"])]
    safe = safe_name(set_name)
    png = image_grid(
        inputs.load_images_for(rows),
        captions,
        out / f"lowest_{safe}.png",
        title=f"lowest-likelihood sources of {set_name}",
    )
    return [png, write_csv(least, out / f"lowest_{safe}.csv")]


def _search_from_lowest(table, query, set_name: str, in_spec: str, k: int, metric: str, out: Path) -> list[Path]:
    from radiolatent.core.fileio import write_csv
    from radiolatent.data.grid import caption_for
    from radiolatent.downstream.search import result_captions, search_grid, similar

    result = similar(table, str(query["id"]), in_spec, k=k, metric=metric, exclude_self=True)
    query_row = _table_rows(table, query.to_frame().T, set_name)
    result_rows = table.drop_duplicates("id").set_index("id").loc[result["id"]].reset_index()
    png = search_grid(
        inputs.load_images_for(query_row)[0],
        inputs.load_images_for(result_rows),
        result_captions(result, metric),
        out / "search_from_lowest.png",
        query_caption=f"query · {caption_for(query_row.iloc[0])}",
        title=f"{in_spec}, {metric}: like the least likely source",
    )
    return [png, write_csv(result, out / "search_from_lowest.csv")]


def _table_rows(table, picked, set_name: str):
    """The codes-table rows of `picked` ids (from `set_name` when the id appears in several sets)."""
    rows = table[table["set"].astype(str) == set_name]
    if rows.empty:
        rows = table
    rows = rows.drop_duplicates("id").set_index("id")
    missing = [i for i in picked["id"] if i not in rows.index]
    if missing:
        raise InputError(
            table.attrs.get("source", "codes table"), f"no row with id {missing[0]!r}: scores and codes differ"
        )
    return rows.loc[list(picked["id"])].reset_index()


def label_text(name) -> str:
    """A label name for a caption; a missing one is 'unlabelled'."""
    return str(name) if isinstance(name, str) and name else "unlabelled"


def safe_name(text: str) -> str:
    """`text` with every run of characters unsafe in a file name replaced by '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
