"""What `predict` calls real sources, and how far its probabilities and flags can be trusted.

Usage: python benchmarks/predict_sources.py [--fits ../shared/data/first_fits]
           [--vlass ../shared/data/vlass_epochs] [--seeds 0 1 2] [--figure docs/figures/predict_reliability.png]

Codes: the shipped VDVAE, averaged over the 8 flips and turns (embed's default), of MBC
(train and test), MiraBest uncertain (MiraBest's own renderings), FR-DEEP NVSS test, the raw
FIRST FITS folder (labels from docs/examples/first_fits_catalogue.csv, used only to score)
and the VLASS folder. For each seed a `CodePredictor` is fitted on `mbc:train` (its
classifier chosen by cross-validation within those rows) and predicts:

* MBC test: accuracy, ROC-AUC, Brier score and expected calibration error (10 bins), beside
  `classify`'s best-of-six on the same split;
* the raw FITS of MiraBest uncertain FRI/FRII sources, none in the training split, against
  `classify` (trained on `mbc:train`) on MiraBest's own renderings of the same sources;
* the in-domain score and the out-of-domain flag on each set.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from radiolatent.config import DEFAULT_POOL, FolderConfig, PredictConfig
from radiolatent.data.codes import select
from radiolatent.downstream.classify import classify_tables
from radiolatent.downstream.predict import CodePredictor
from radiolatent.embedding import embed

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CATALOGUE = ROOT / "docs" / "examples" / "first_fits_catalogue.csv"


def codes(fits: Path, vlass: Path) -> pd.DataFrame:
    pool = replace(DEFAULT_POOL, folder=FolderConfig(catalogue=str(CATALOGUE), survey="FIRST"))
    table = embed(None, ["mbc", "mirabest:uncertain", "frdeep-n:test", f"fits=folder@{fits}"], pool_config=pool)
    vlass_codes = embed(None, [f"vlass=folder@{vlass}"], pool_config=replace(DEFAULT_POOL, folder=FolderConfig()))
    return pd.concat([table, vlass_codes], ignore_index=True)


def binary(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["label"].isin([0, 1])].reset_index(drop=True)


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of FRII probabilities: |mean p - fraction FRII| per bin, weighted."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    return float(sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).mean() for b in np.unique(which)))


def curated_twins(table: pd.DataFrame, fits_rows: pd.DataFrame) -> pd.DataFrame:
    """MiraBest's own renderings of the FITS sources (the FITS carry MiraBest's file names)."""
    curated = select(table, "mirabest:uncertain")
    stems = curated["filename"].str.removesuffix(".png")
    at = pd.Index(stems).get_indexer(fits_rows["filename"].str.removesuffix(".fits"))
    assert (at >= 0).all(), "every FITS source has its MiraBest rendering"
    return curated.iloc[at].reset_index(drop=True).assign(set="curated")


def accuracy(predicted: pd.DataFrame, rows: pd.DataFrame) -> float:
    return float((predicted["prediction"].to_numpy() == np.where(rows["label"] == 1, "FRII", "FRI")).mean())


def run_seed(table: pd.DataFrame, seed: int) -> tuple[dict, pd.DataFrame]:
    start = time.perf_counter()
    predictor = CodePredictor(config=PredictConfig(seed=seed)).fit(select(table, "mbc:train"), "mbc:train")
    fitted = time.perf_counter() - start
    test = select(table, "mbc:test")
    fits_rows = binary(select(table, "fits"))
    twins = curated_twins(table, fits_rows)
    on_test, on_fits, on_twins = (predictor.predict(rows) for rows in (test, fits_rows, twins))
    y = test["label"].to_numpy()
    both = pd.concat([table, twins], ignore_index=True)
    classified = classify_tables(both, "mbc:train", both, "curated", seeds=[seed]).table
    per = classified[classified["metric"] == "accuracy"].set_index("classifier")["mean"]
    result = {
        "seed": seed,
        "classifier": predictor.chosen,
        "fit_s": round(fitted, 1),
        "mbc_test_accuracy": accuracy(on_test, test),
        "mbc_test_roc_auc": float(roc_auc_score(y, on_test["p_frii"])),
        "mbc_test_brier": float(brier_score_loss(y, on_test["p_frii"])),
        "mbc_test_ece": calibration_error(on_test["p_frii"].to_numpy(), y),
        "fits_n": len(fits_rows),
        "predict_fits_accuracy": accuracy(on_fits, fits_rows),
        "predict_curated_accuracy": accuracy(on_twins, twins),
        "classify_curated_same_classifier": float(per[predictor.chosen]),
        "classify_curated_best_of_six": float(per.max()),
    }
    domain = {
        name: predictor.predict(select(table, spec))[["in_domain", "out_of_domain"]]
        for name, spec in (
            ("MBC test", "mbc:test"),
            ("raw FIRST FITS", "fits"),
            ("FR-DEEP NVSS test", "frdeep-n:test"),
            ("VLASS", "vlass"),
        )
    }
    flags = pd.DataFrame(
        [
            {
                "set": name,
                "rows": len(d),
                "median in_domain": d["in_domain"].median(),
                "flagged out_of_domain": d["out_of_domain"].mean(),
            }
            for name, d in domain.items()
        ]
    )
    return result | {"_test": (on_test["p_frii"].to_numpy(), y)}, flags


def reliability_figure(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.core.fileio import save_figure

    fig, ax = plt.subplots(figsize=(4.2, 4))
    edges = np.linspace(0, 1, 6)
    for run in runs:
        p, y = run["_test"]
        which = np.clip(np.digitize(p, edges) - 1, 0, len(edges) - 2)
        centres = [p[which == b].mean() for b in np.unique(which)]
        observed = [y[which == b].mean() for b in np.unique(which)]
        ax.plot(centres, observed, "o-", label=f"seed {run['seed']} ({run['classifier']})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="predicted p_frii (5 bins)", ylabel="fraction FRII", title="predict on MBC test (104)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fits", type=Path, default=SHARED / "first_fits")
    parser.add_argument("--vlass", type=Path, default=SHARED / "vlass_epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    table = codes(args.fits, args.vlass)
    runs, flags = [], []
    for seed in args.seeds:
        run, flag = run_seed(table, seed)
        runs.append(run)
        flags.append(flag)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items() if k != "_test"}, flush=True)
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "_test"} for r in runs])
    numeric = frame.drop(columns=["seed", "classifier"])
    print("\nmean (sd) over seeds:")
    print(pd.DataFrame({"mean": numeric.mean(), "sd": numeric.std(ddof=1)}).round(3).to_string())
    print("\nin-domain score by set (mean over seeds):")
    print(pd.concat(flags).groupby("set", sort=False).mean().round(3).to_string())
    if args.figure:
        reliability_figure(runs, args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
