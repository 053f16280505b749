"""Time `radiolatent cluster`'s mixture on a real codes table: [C]'s setting as the study
runs it, the same with the BLAS thread pool the command used before (every core), and the
command's `fast` default.

    .venv/bin/python benchmarks/cluster_speed.py --codes codes.parquet --in pool
    .venv/bin/python benchmarks/cluster_speed.py --codes codes.parquet --in mbc --n-init 1

`--n-init` overrides the inits of every case (the paper's 10 inits cost ten times one on
a wide table; a quick run times one). Prints, per case: PCA components kept, covariance,
inits, wall-clock seconds, clusters found and, where the rows are labelled, the cluster
accuracy ([C]: each cluster named by its majority class).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from radiolatent.config import preset
from radiolatent.data.codes import code_matrix, read_codes, select
from radiolatent.downstream.cluster import cluster_accuracy, fit_mixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", required=True)
    parser.add_argument("--in", dest="in_spec", default="pool")
    parser.add_argument("--cases", default="paper-all-threads,paper,fast")
    parser.add_argument("--n-init", type=int, default=None, help="inits for every case (default: each config's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = select(read_codes(args.codes), args.in_spec)
    X, y = code_matrix(rows), rows["label"].to_numpy(dtype=int)
    print(f"{args.codes} [{args.in_spec}]: {X.shape[0]} rows x {X.shape[1]} dims, {os.cpu_count()} cores")
    for case in args.cases.split(","):
        config = case_config(case)
        if args.n_init is not None:
            config = dataclasses.replace(config, n_init=args.n_init)
        started = time.perf_counter()
        labels, _, info = fit_mixture(X, seed=args.seed, config=config)
        seconds = time.perf_counter() - started
        accuracy = f"{cluster_accuracy(labels, y):.3f}" if (y >= 0).any() else "n/a (unlabelled)"
        print(
            f"{case:18s} pca_dims {info['pca_dims']:4d}  {info['covariance']:5s}  n_init {config.n_init:2d}  "
            f"{seconds:8.1f} s  clusters {len(np.unique(labels)):2d}  accuracy {accuracy}",
            flush=True,
        )


def case_config(case: str):
    """paper-all-threads: [C]'s setting with BLAS on every core, as `cluster` ran before."""
    if case == "paper-all-threads":
        return dataclasses.replace(preset("cluster", "paper"), threads=os.cpu_count() or 1)
    return preset("cluster", case)


if __name__ == "__main__":
    main()
