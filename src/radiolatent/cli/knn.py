"""`radiolatent knn`: [B]'s and [C]'s kNN protocols on a codes table."""

from __future__ import annotations

import argparse
import json

from radiolatent.cli import argtypes
from radiolatent.config import DEFAULT_CLASSIFY


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("knn", help="kNN protocols: [B] (k=20, train->test) or [C] (k=5, 50 splits)")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--protocol", choices=("b", "c"), default="b")
    p.add_argument("--train", default="mbc:train", help="protocol b: train spec (default mbc:train)")
    p.add_argument("--test", default="mbc:test", help="protocol b: test spec (default mbc:test)")
    p.add_argument(
        "--in", dest="set_spec", default="mbc", metavar="SPEC", help="protocol c: the rows to split (default mbc)"
    )
    argtypes.add_deprecated(p, "--set", "--in", "set_spec")
    p.add_argument("-k", type=argtypes.positive_int, help="neighbours (default 20 for b, 5 for c)")
    p.add_argument(
        "--splits", type=argtypes.positive_int, default=DEFAULT_CLASSIFY.knn_c_splits, help="protocol c: splits"
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0, help="protocol c: split seed")
    p.add_argument("--block", default="z", help="code block to use (default z)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_knn)


def cmd_knn(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import code_matrix, read_codes, select
    from radiolatent.downstream.classify import knn_protocol_b, knn_protocol_c

    table = read_codes(args.codes)
    if args.protocol == "b":
        k = args.k or DEFAULT_CLASSIFY.knn_b_neighbors
        train, test = select(table, args.train), select(table, args.test)
        acc = knn_protocol_b(
            code_matrix(train, args.block),
            train["label"].to_numpy(),
            code_matrix(test, args.block),
            test["label"].to_numpy(),
            k=k,
        )
        doc = {"protocol": "b", "k": k, "train": args.train, "test": args.test, "accuracy": acc}
        text = f"kNN [B] k={k}: train {args.train} ({len(train)}), test {args.test} ({len(test)}): accuracy {acc:.4f}"
    else:
        k = args.k or DEFAULT_CLASSIFY.knn_c_neighbors
        rows = select(table, args.set_spec)
        res = knn_protocol_c(
            code_matrix(rows, args.block), rows["label"].to_numpy(), k=k, n_splits=args.splits, seed=args.seed
        )
        doc = {"protocol": "c", "set": args.set_spec, **res}
        text = (
            f"kNN [C] k={k}: {args.set_spec} ({len(rows)}), {res['n_splits']} stratified 75/25 splits: "
            f"accuracy {res['mean']:.4f} ± {res['sd']:.4f}"
        )
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0
