"""`radiolatent cluster`: [C]'s PCA + Bayesian Gaussian mixture clusters of the codes,
scored against the labels, with a montage. The work is in downstream.cluster."""

from __future__ import annotations

import argparse
import json

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cluster", help="PCA + Bayesian Gaussian mixture clusters scored against labels ([C])")
    add_rows_arguments(p, "mbc", "rows to cluster")
    argtypes.add_settings_arguments(
        p,
        "cluster",
        "fast",
        "fast (at most 32 PCA components, diagonal covariance above 16, 3 inits: tens of seconds on a "
        "2,000-row table) or paper ([C]: full covariance, 10 inits, 1,000 iterations)",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "--per-cluster",
        type=argtypes.positive_int,
        default=None,
        help="members shown per cluster in the montage (default 8)",
    )
    p.add_argument("-o", "--out", type=argtypes.output_dir, default="clusters", help="output folder (default clusters)")
    p.set_defaults(handler=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import read_codes, select
    from radiolatent.downstream.cluster import cluster_rows

    rows = select(read_codes(args.codes), args.in_spec)
    doc, written = cluster_rows(
        rows,
        args.out,
        seed=args.seed,
        config=argtypes.settings(args, "cluster"),
        in_spec=args.in_spec,
        per_cluster=args.per_cluster,
    )
    print(json.dumps(doc, indent=2))
    for path in written:
        print(f"wrote {path}")
    return 0
