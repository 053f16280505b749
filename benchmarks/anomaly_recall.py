"""Recall of an interesting class against rank: active learning vs label-free rankings ([C] Fig. 8).

    .venv/bin/python benchmarks/anomaly_recall.py --codes codes.parquet --out anomaly-recall

A label column stands in for the person: in the FIRST Radio Galaxy Dataset (Griese et
al. 2023, set `first-galaxy`) Bent sources are the interesting class; in MiraBest
(`mirabest:all`) the hybrids. Methods, all on the same codes:

  active   [C]'s protege loop: 10 sources along PC1, then batches of 10 by expected
           improvement, to a budget of 200 labels (interesting = 5, other = 0); every
           source is then ranked by the Gaussian process's predicted score
  iforest  isolation forest on the PCA-reduced codes (label-free)
  density  lowest MAF log-likelihood first, the flow fitted to the same rows (label-free)
  random   random order (the floor)

plus (unless --no-tuned) the active loop again with PCA keeping 99.9 % of the variance
and a fitted kernel amplitude (ConstantKernel x Matern + white noise) instead of [C]'s
95 % and Astronomaly's amplitude-free kernel.

Prints recall in the top k (default 100) per method (mean, sd, range over seeds) and
writes recall_<case>.png and recall_<case>.csv per case.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from radiolatent.config import DEFAULT_ACTIVE, preset
from radiolatent.core.fileio import write_csv
from radiolatent.data.codes import code_matrix, read_codes, select
from radiolatent.downstream.recall import plot_recall, recall_benchmark

TUNED = "active, PCA 99.9 % + amplitude"
#: (set spec, interesting label_name)
CASES = {"first-galaxy": ("first-galaxy", "Bent"), "mirabest": ("mirabest:all", "hybrid")}


def run_case(table, name: str, args) -> None:
    spec, interesting_name = CASES[name]
    rows = select(table, spec)
    interesting = (rows["label_name"].astype(str) == interesting_name).to_numpy()
    config = dataclasses.replace(DEFAULT_ACTIVE, budget=args.budget)
    seeds = [int(s) for s in args.seeds.split(",")]
    density_seeds = [int(s) for s in args.density_seeds.split(",")]
    start = time.perf_counter()
    curves = recall_benchmark(
        code_matrix(rows),
        rows["id"],
        interesting,
        config,
        seeds,
        preset("density", args.density_config),
        Path(args.out) / f"labels-{name}",
        progress=True,
        density_seeds=density_seeds,
    )
    if args.tuned:
        # the same loop with the settings that suit these codes (see docs/discovery.md)
        tuned = dataclasses.replace(config, pca_variance=0.999, amplitude=True)
        extra = recall_benchmark(
            code_matrix(rows),
            rows["id"],
            interesting,
            tuned,
            seeds,
            labels_dir=Path(args.out) / f"labels-{name}-tuned",
            methods=("active",),
            progress=True,
        )
        curves.curves[TUNED] = extra.curves["active"]
    table_k = curves.recall_table(args.k)
    print(
        f"\n{spec}: {int(interesting.sum())} of {len(rows)} sources are {interesting_name}; "
        f"active-learning budget {args.budget}; {time.perf_counter() - start:.0f} s"
    )
    print(table_k.round(3).to_string(index=False), flush=True)
    out = Path(args.out)
    plot_recall(
        curves,
        out / f"recall_{name}.png",
        budget=args.budget,
        title=f"{spec}: recall of {interesting_name} sources against rank",
    )
    write_csv(table_k, out / f"recall_{name}.csv")
    print(f"wrote {out / f'recall_{name}.png'} and {out / f'recall_{name}.csv'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", required=True, help="codes table holding first-galaxy and/or mirabest:all rows")
    parser.add_argument("--cases", default="first-galaxy,mirabest", help="comma-separated: first-galaxy, mirabest")
    parser.add_argument("--budget", type=int, default=DEFAULT_ACTIVE.budget)
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the active, iforest and random rankings")
    parser.add_argument("--density-seeds", default="0", help="seeds of the MAF ranking (a few minutes each)")
    parser.add_argument("--density-config", default="cpu")
    parser.add_argument(
        "--no-tuned",
        dest="tuned",
        action="store_false",
        help="skip the extra active-learning run with PCA 99.9 %% and a kernel amplitude",
    )
    parser.add_argument("-k", type=int, default=100)
    parser.add_argument("--out", default="anomaly-recall")
    args = parser.parse_args()
    table = read_codes(args.codes)
    for name in args.cases.split(","):
        run_case(table, name.strip(), args)


if __name__ == "__main__":
    main()
