"""How many labels a classifier needs: MBC test accuracy and ROC-AUC against the number of
labelled training images, for four ways of using them.

Usage: python benchmarks/label_efficiency.py [--labels 25 50 100 145 300 729] [--seeds 0 1 2]
           [--methods vdvae ssl scratch codes] [--ssl simclr-cpu] [--work /tmp/label_efficiency]
           [--table docs/label_efficiency.csv] [--figure docs/figures/label_efficiency.png]

For each N and seed, a stratified subset of N of the 729 `mbc:train` images (drawn with
the seed; all 729 at N = 729) trains:

* `vdvae`: the shipped VDVAE's bottom-up path fine-tuned with a head (`train finetune`,
  the `cpu` recipe);
* `ssl`: the same recipe from an SSL backbone (`--ssl`, default simclr-cpu: the best SSL
  encoder on MBC in Table 2);
* `scratch`: the same network as `vdvae` from random weights (`--init random`), the same recipe;
* `codes`: the shipped VDVAE's frozen codes (8 orientations) and the best of [A]'s six
  classifiers, chosen by 5-fold cross-validation within the N labels (`predict`).

Every model is scored on the 104 MBC test images (8-orientation means for the fine-tuned
ones). Rows are appended to the table as they finish; a rerun skips those already there.
Each run's test probabilities are kept in the work folder, so the summary at all 729
labels gives each method's 95 % bootstrap interval (2,000 resamplings of the 104 test
images, of the mean over seeds), and `--shipped` scores a shipped classifier the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from radiolatent.config.presets import preset
from radiolatent.core.fileio import write_csv
from radiolatent.data.codes import select
from radiolatent.data.inputs import model_input
from radiolatent.downstream.image_predict import ImagePredictor
from radiolatent.downstream.predict import CodePredictor
from radiolatent.embedding import embed
from radiolatent.models.shipped import model_path
from radiolatent.training.finetune import finetune, labelled_images, with_enough_steps

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["method", "labels", "seed", "accuracy", "roc_auc", "epochs", "best_epoch", "minutes"]
#: published points beside ours: (label, labels, accuracy).
PUBLISHED = [
    ("[B] supervised ResNet-18", 729, 0.9242),
    ("Slijepcevic+ 2024, fine-tuned (145 labels)", 145, 1 - 0.0779),
]


def fine_tuned(method: str, n: int, seed: int, ssl: str, work: Path, test) -> dict:
    """One fine-tuning run (the `cpu` recipe) and its MBC test scores."""
    encoder = str(model_path(ssl if method == "ssl" else "vdvae-cpu"))
    init = "random" if method == "scratch" else "pretrained"
    run = dataclasses.replace(preset("finetune", "cpu"), encoder=encoder, init=init, data="mbc:train")
    data = labelled_images(model_input("mbc:train"), "mbc:train", n if n < 729 else 0, seed)
    run = with_enough_steps(run, len(data.labels))
    out = work / f"{method}-n{n}-s{seed}"
    started = time.perf_counter()
    result = finetune(data, run, out, resume=(out / "checkpoint").is_dir(), seed=seed, progress=False)
    minutes = (time.perf_counter() - started) / 60
    found = ImagePredictor(out).predict(test)
    best = min(result.history, key=lambda row: row["val_loss"])
    np.save(work / f"p-{method}-n{n}-s{seed}.npy", found["p_frii"].to_numpy())
    return {
        **scores(test.meta["label"].to_numpy(), found["p_frii"].to_numpy()),
        "epochs": result.epochs_completed,
        "best_epoch": best["epoch"],
        "minutes": round(minutes, 2),
    }


def frozen_codes(n: int, seed: int, table: pd.DataFrame, work: Path) -> dict:
    """The best of [A]'s six on the shipped VDVAE's codes of the same N images."""
    train = select(table, "mbc:train")
    data = labelled_images(model_input("mbc:train"), "mbc:train", n if n < 729 else 0, seed)
    rows = train[train["id"].astype(str).isin(set(data.ids))]
    started = time.perf_counter()
    found = CodePredictor().fit(rows, "mbc:train").predict(select(table, "mbc:test"))
    test = select(table, "mbc:test")
    np.save(work / f"p-codes-n{n}-s{seed}.npy", found["p_frii"].to_numpy())
    return {
        **scores(test["label"].to_numpy(), found["p_frii"].to_numpy()),
        "epochs": 0,
        "best_epoch": 0,
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }


def scores(y: np.ndarray, p: np.ndarray) -> dict:
    return {"accuracy": float(np.mean((p > 0.5) == (y == 1))), "roc_auc": float(roc_auc_score(y, p))}


def bootstrap(y: np.ndarray, p: np.ndarray, rounds: int = 2000) -> dict:
    """Accuracy and ROC-AUC of the mean over seeds of p (seeds, N), with 95 % intervals
    from resampling the N test images."""
    rng = np.random.default_rng(0)
    right = (p > 0.5) == (y == 1)
    accuracy, auc = [], []
    for _ in range(rounds):
        pick = rng.integers(0, len(y), len(y))
        if len(np.unique(y[pick])) < 2:
            continue
        accuracy.append(right[:, pick].mean())
        auc.append(np.mean([roc_auc_score(y[pick], seed[pick]) for seed in p]))
    return {
        "accuracy": float(right.mean()),
        "accuracy_ci": tuple(np.percentile(accuracy, [2.5, 97.5]).round(3)),
        "roc_auc": float(np.mean([roc_auc_score(y, seed) for seed in p])),
        "roc_auc_ci": tuple(np.percentile(auc, [2.5, 97.5]).round(3)),
    }


def full_label_table(table: pd.DataFrame, work: Path, y: np.ndarray, shipped: str | None) -> pd.DataFrame:
    """At all 729 labels: each method's mean (sd) over seeds and its bootstrap intervals."""
    rows = []
    for method, group in table[table["labels"] == 729].groupby("method"):
        files = [work / f"p-{method}-n729-s{seed}.npy" for seed in group["seed"]]
        if not all(f.is_file() for f in files):
            continue
        found = bootstrap(y, np.stack([np.load(f) for f in files]))
        rows.append({"model": method, "seeds": len(files), "accuracy_sd": group["accuracy"].std(), **found})
    if shipped is not None:
        p = ImagePredictor(model_path(shipped)).predict(model_input("mbc:test"))["p_frii"].to_numpy()
        rows.append({"model": shipped, "seeds": 1, "accuracy_sd": np.nan, **bootstrap(y, p[None])})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table.groupby(["method", "labels"])[["accuracy", "roc_auc"]]
    out = grouped.agg(["mean", "std", "count"]).round(3)
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    return out.reset_index()


def figure(table: pd.DataFrame, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {
        "vdvae": "fine-tuned VDVAE encoder",
        "ssl": "fine-tuned SimCLR backbone",
        "scratch": "same network, from scratch",
        "codes": "frozen VDVAE codes + best of [A]'s six",
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    stats = summary(table)
    for method, rows in stats.groupby("method"):
        for ax, metric in zip(axes, ("accuracy", "roc_auc")):
            ax.errorbar(
                rows["labels"],
                rows[f"{metric}_mean"],
                yerr=rows[f"{metric}_std"],
                marker="o",
                capsize=3,
                label=names.get(str(method), str(method)),
            )
    for (label, n, accuracy), colour in zip(PUBLISHED, ("black", "grey")):
        axes[0].scatter([n], [accuracy], marker="*", s=140, zorder=5, color=colour, label=label)
    ticks = sorted(set(table["labels"]))
    for ax, metric in zip(axes, ("MBC test accuracy", "MBC test ROC-AUC")):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("labelled training images")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Label efficiency on MiraBest Confident (mean and sd over seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[25, 50, 100, 145, 300, 729])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["vdvae", "codes", "scratch", "ssl"])
    parser.add_argument("--ssl", default="simclr-cpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/label_efficiency"))
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "label_efficiency.csv")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "label_efficiency.png")
    parser.add_argument("--shipped", default=None, help="also score this shipped classifier, e.g. finetuned-mbc")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(args.table) if args.table.is_file() else pd.DataFrame(columns=COLUMNS)
    test = model_input("mbc:test")
    codes = None
    for method in args.methods:
        for n in args.labels:
            for seed in args.seeds:
                if ((done["method"] == method) & (done["labels"] == n) & (done["seed"] == seed)).any():
                    continue
                if method == "codes":
                    codes = codes if codes is not None else embed(None, ["mbc"], progress=False)
                    row = frozen_codes(n, seed, codes, args.work)
                else:
                    row = fine_tuned(method, n, seed, args.ssl, args.work, test)
                row = {"method": method, "labels": n, "seed": seed, **row}
                print(
                    ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                    flush=True,
                )
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                write_csv(done[COLUMNS], args.table)
    print(summary(done).to_string(index=False))
    print("at all 729 labels, 95 % bootstrap intervals over the 104 test images:")
    print(full_label_table(done, args.work, test.meta["label"].to_numpy(), args.shipped).to_string(index=False))
    figure(done, args.figure)
    print(f"wrote {args.table} and {args.figure}")


if __name__ == "__main__":
    main()
