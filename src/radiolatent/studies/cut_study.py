"""[B] Figure 3: kNN accuracy on MiraBest Confident against the angular-size cut of the pool.

For every threshold t and seed s: take the pool without the sources whose largest angular
size is below t (the pool's `las_arcsec`: catalogued LAS where present, the estimator's
otherwise; exactly what `--min-las t` drops), train the SSL method on it, embed MBC, fit
kNN (k=20) on the mbc:train codes and score mbc:test ([B]'s protocol).

The cut pools are subsets of one pool build (same leak rules, same images), so the runs
differ only in what the cut removed. Each run lives in OUT/runs/t<t>-s<s>/ with its own
checkpoints; a finished run's `cut_result.json` makes a second invocation skip it, and an
unfinished one resumes from its last epoch. OUT/cut_study.csv holds one row per run,
OUT/cut_study_summary.csv mean, sd and standard error per threshold, OUT/cut_study.png
the plot (mean +- standard error, as [B]).

[B] Figure 5: every epoch each run also scores kNN on MBC (single pass, k=20, fitted on
mbc:train, accuracy on mbc:test) with its current backbone: the metrics.csv column
`val_knn_accuracy`. OUT/cut_study_epochs.csv and OUT/cut_study_epochs.png give it
against epoch, one curve per cut (mean +- standard error over seeds).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import (
    DEFAULT_CLASSIFY,
    DEFAULT_POOL,
    EmbedConfig,
    PoolConfig,
    SSLRunConfig,
    configured,
)
from radiolatent.core.errors import InputError, SettingError
from radiolatent.core.fileio import save_figure, write_csv, write_text
from radiolatent.training.recipes.ssl import SSLRecipe

RESULT_NAME = "cut_result.json"
RUNS_CSV = "cut_study.csv"
SUMMARY_CSV = "cut_study_summary.csv"
PLOT_PNG = "cut_study.png"
EPOCHS_CSV = "cut_study_epochs.csv"
EPOCHS_PNG = "cut_study_epochs.png"
#: the default cuts: each removes a part of the default pool (10" removed 29 of 2,214 sources).
DEFAULT_THRESHOLDS = (0.0, 20.0, 30.0, 45.0)
#: [B]'s point for context: BYOL on RGZ DR1 with a 29" cut, kNN k=20 on MBC test (their pool, not ours).
REFERENCE_POINT = (29.0, 0.8525)


@dataclass(frozen=True)
class CutStudy:
    """What to run: method, thresholds (arcsec), named config (+ overrides), seeds 0..n-1."""

    method: str
    thresholds: tuple[float, ...]
    #: `cut`: ResNet-18 (max-pooled stem), 15 epochs (config/presets.py).
    config: str = "cut"
    seeds: int = 3
    overrides: tuple[str, ...] = ()
    #: train on a seeded random subset of at most this many cut-pool images (None = all):
    #: for quick looks only, as it hides the cut's effect on the pool size.
    max_images: int | None = None
    #: embed MBC once per image instead of averaging the 8 flips and quarter turns.
    single_view: bool = False
    k: int = DEFAULT_CLASSIFY.knn_b_neighbors

    def run_config(self) -> SSLRunConfig:
        return configured(self.method, self.config, self.overrides)


def check_thresholds(values: list[float]) -> tuple[float, ...]:
    """Sorted distinct non-negative thresholds; InputError otherwise."""
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise SettingError("thresholds", f"need one or more non-negative angular sizes in arcsec, got {values}")
    return tuple(sorted({float(v) for v in values}))


def cut_mask(las_arcsec: np.ndarray, threshold: float) -> np.ndarray:
    """Pool rows kept by a cut: NOT (LAS < threshold), as the pool builder drops them."""
    return ~(np.asarray(las_arcsec, float) < threshold)


def run_cut_study(
    study: CutStudy, out_dir: str | Path, pool_config: PoolConfig = DEFAULT_POOL, progress: bool = True
) -> pd.DataFrame:
    """Train, embed and score every (threshold, seed); write the CSVs and the plot."""
    from radiolatent.data.pools import build_pool

    run = study.run_config()
    out_dir = Path(out_dir)
    pool = build_pool(dataclasses.replace(pool_config, min_las_arcsec=0.0), progress=progress)
    las = pool.meta["las_arcsec"].to_numpy(float)
    rows = []
    for threshold in study.thresholds:
        keep = np.flatnonzero(cut_mask(las, threshold))
        for seed in range(study.seeds):
            rows.append(_one_run(study, run, pool.images, keep, threshold, seed, out_dir, progress))
    runs = pd.DataFrame(rows)
    write_csv(runs, out_dir / RUNS_CSV)
    summary = summarise(runs)
    write_csv(summary, out_dir / SUMMARY_CSV)
    plot_cut_study(runs, summary, study, out_dir / PLOT_PNG)
    curves = epoch_curves(runs)
    if len(curves):
        write_csv(curves, out_dir / EPOCHS_CSV)
        plot_epoch_curves(curves, study, out_dir / EPOCHS_PNG)
    return runs


def _one_run(
    study: CutStudy,
    run: SSLRunConfig,
    images: np.ndarray,
    keep: np.ndarray,
    threshold: float,
    seed: int,
    out_dir: Path,
    progress: bool,
) -> dict:
    """One (threshold, seed): reuse its recorded result, or train (resuming) and score it."""
    from radiolatent.training import train

    run_dir = out_dir / "runs" / f"t{threshold:g}-s{seed}"
    done = run_dir / RESULT_NAME
    if done.is_file():
        return json.loads(done.read_text())
    chosen = _subset(keep, study.max_images, seed)
    if len(chosen) < run.train.batch_size * 2:
        raise InputError(f"threshold {threshold:g}", f"the cut leaves {len(chosen)} images, too few to train on")
    started = time.perf_counter()
    recipe = knn_tracking_recipe(run, study.k)
    train(np.ascontiguousarray(images[chosen]), recipe, run_dir, resume=True, seed=seed, progress=progress)
    minutes = (time.perf_counter() - started) / 60.0
    row = {
        "method": study.method,
        "config": run.name,
        "threshold_arcsec": threshold,
        "seed": seed,
        "pool_images": len(keep),
        "train_images": len(chosen),
        "epochs": run.train.epochs,
        "train_minutes": round(minutes, 2),
        "knn_k": study.k,
        "knn_accuracy": knn_accuracy(run_dir, study),
        "run_dir": str(run_dir),
    }
    write_text(done, json.dumps(row, indent=1))
    return row


def _subset(keep: np.ndarray, max_images: int | None, seed: int) -> np.ndarray:
    if max_images is None or len(keep) <= max_images:
        return keep
    return np.sort(np.random.default_rng([seed, 0xC07]).choice(keep, size=max_images, replace=False))


def knn_accuracy(model_path: Path, study: CutStudy) -> float:
    """[B]'s evaluation of a trained run: kNN on mbc:train codes, accuracy on mbc:test."""
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.downstream.classify import knn_protocol_b
    from radiolatent.embedding import embed

    table = embed(str(model_path), ["mbc"], EmbedConfig(dihedral_average=not study.single_view), progress=False)
    train, test = select(table, "mbc:train"), select(table, "mbc:test")
    return knn_protocol_b(
        code_matrix(train), train["label"].to_numpy(), code_matrix(test), test["label"].to_numpy(), k=study.k
    )


class KNNTrackingRecipe(SSLRecipe):
    """The SSL recipe, plus [B]'s kNN accuracy on MBC after every epoch (Figure 5):
    `mbc` is (train images, train labels, test images, test labels)."""

    def __init__(self, run: SSLRunConfig, k: int, mbc: tuple) -> None:  # type: ignore[type-arg]
        super().__init__(run)
        self.k, self.mbc = k, mbc

    def evaluate(self, model, images, rows, seed, device):  # type: ignore[no-untyped-def]
        val = super().evaluate(model, images, rows, seed, device)
        val["knn_accuracy"] = _knn_now(model.backbone, self.mbc, self.k, device)
        return val

    def val_row(self, val, model):  # type: ignore[no-untyped-def]
        return {**super().val_row(val, model), "val_knn_accuracy": val["knn_accuracy"]}

    def columns(self, model):  # type: ignore[no-untyped-def]
        return [*super().columns(model), "val_knn_accuracy"]


def knn_tracking_recipe(run: SSLRunConfig, k: int) -> KNNTrackingRecipe:
    """The cut study's recipe for `run`, with MBC read once for its kNN after every epoch."""
    from radiolatent.data.inputs import model_input

    try:
        SSLRecipe(run)
    except ValueError as exc:
        raise InputError("config", str(exc)) from None
    train, test = model_input("mbc:train"), model_input("mbc:test")
    mbc = (train.images, train.meta["label"].to_numpy(), test.images, test.meta["label"].to_numpy())
    return KNNTrackingRecipe(run, k, mbc)


def _knn_now(backbone, mbc: tuple, k: int, device) -> float:  # type: ignore[no-untyped-def]
    """kNN (k) on the backbone's single-pass codes: fitted on mbc:train, accuracy on mbc:test."""
    import torch

    from radiolatent.downstream.classify import knn_protocol_b

    def codes(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                x = torch.from_numpy(images[start : start + 256].astype(np.float32) / 255.0).unsqueeze(1)
                out.append(backbone(x.to(device)).float().cpu().numpy())
        return np.concatenate(out)

    was_training = backbone.training
    backbone.eval()
    try:
        return knn_protocol_b(codes(mbc[0]), mbc[1], codes(mbc[2]), mbc[3], k=k)
    finally:
        backbone.train(was_training)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and standard error (0 for one seed), min and max kNN accuracy per threshold."""
    grouped = runs.groupby("threshold_arcsec")
    summary = grouped["knn_accuracy"].agg(["mean", "std", "min", "max", "count"]).reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    summary["sem"] = summary["std"] / np.sqrt(summary["count"])  # [B] shows the standard error
    summary["pool_images"] = grouped["pool_images"].first().to_numpy()
    return summary.rename(columns={"count": "seeds"})


def plot_cut_study(runs: pd.DataFrame, summary: pd.DataFrame, study: CutStudy, path: Path) -> Path:
    """Mean +- standard error per threshold, every seed as a dot, pool sizes on the top axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    ax.errorbar(
        summary["threshold_arcsec"],
        summary["mean"],
        yerr=summary["sem"],
        marker="o",
        capsize=4,
        label=f"{study.method} ({runs['config'].iloc[0]}), mean ± standard error over seeds",
    )
    ax.scatter(
        runs["threshold_arcsec"], runs["knn_accuracy"], s=12, color="grey", alpha=0.6, label="single runs", zorder=3
    )
    if study.method == "byol":
        ax.scatter(*REFERENCE_POINT, marker="x", color="red", s=50, label='[B] BYOL, RGZ DR1, 29" cut')
    ax.set_xlabel("angular-size cut: pool sources below this LAS removed (arcsec)")
    ax.set_ylabel(f"kNN (k={study.k}) accuracy, MBC test")
    ax.set_title("angular-size cut study ([B] Fig. 3)")
    top = ax.secondary_xaxis("top")
    top.set_xticks(summary["threshold_arcsec"].to_numpy())
    top.set_xticklabels([str(n) for n in summary["pool_images"]], fontsize=7)
    top.set_xlabel("pool images", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def epoch_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """[B] Fig. 5's data: per threshold and epoch, the mean and standard error over seeds of
    the kNN accuracy recorded after that epoch (runs whose metrics.csv lack it are left out)."""
    frames = []
    for run_dir, threshold in zip(runs["run_dir"], runs["threshold_arcsec"]):
        metrics = Path(run_dir) / "metrics.csv"
        if not metrics.is_file():
            continue
        m = pd.read_csv(metrics)
        if "val_knn_accuracy" in m:
            frames.append(m[["epoch", "val_knn_accuracy"]].assign(threshold_arcsec=threshold))
    if not frames:
        return pd.DataFrame(columns=["threshold_arcsec", "epoch", "mean", "sem", "seeds"])
    grouped = pd.concat(frames).groupby(["threshold_arcsec", "epoch"])["val_knn_accuracy"]
    curves = grouped.agg(["mean", "std", "count"]).reset_index()
    curves["sem"] = curves["std"].fillna(0.0) / np.sqrt(curves["count"])
    return curves.rename(columns={"count": "seeds"})[["threshold_arcsec", "epoch", "mean", "sem", "seeds"]]


def plot_epoch_curves(curves: pd.DataFrame, study: CutStudy, path: Path) -> Path:
    """kNN accuracy on MBC test against epoch, one curve per cut, +- standard error ([B] Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    for threshold, curve in curves.groupby("threshold_arcsec"):
        line = ax.plot(curve["epoch"], curve["mean"], marker=".", label=f'cut {threshold:g}"')[0]
        ax.fill_between(
            curve["epoch"],
            curve["mean"] - curve["sem"],
            curve["mean"] + curve["sem"],
            color=line.get_color(),
            alpha=0.2,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"kNN (k={study.k}) accuracy, MBC test (single pass)")
    ax.set_title(f"kNN accuracy during training, per cut ([B] Fig. 5), {study.method}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", title="mean ± standard error", title_fontsize=7)
    return save_figure(fig, path)
