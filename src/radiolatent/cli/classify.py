"""`radiolatent classify`: [A]'s six classifiers on a codes table (Table 2)."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from radiolatent.cli import argtypes
from radiolatent.config import CLASSIFIER_NAMES, DEFAULT_CLASSIFY
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="the six classifiers of [A] Table 2 on a codes table")
    p.add_argument(
        "--codes",
        action="append",
        required=True,
        metavar="PATH",
        help="codes table (parquet); repeat for several encoders to compare them",
    )
    p.add_argument("--train", required=True, help="train spec, e.g. mbc:train")
    p.add_argument("--test", required=True, help="test spec, e.g. mbc:test")
    p.add_argument(
        "--test-codes",
        action="append",
        default=[],
        metavar="PATH",
        help="take the --test rows from this codes table instead (made by the same model, "
        "e.g. your own folder's codes); one per --codes, in the same order",
    )
    argtypes.add_settings_arguments(p, "classify", "default", "the classifiers' settings ([A]'s)", "knn_neighbors=5")
    p.add_argument(
        "--seeds",
        type=argtypes.positive_int,
        default=None,
        help=f"number of seeds 0..N-1 (default {len(DEFAULT_CLASSIFY.seeds)}; wins over --set seeds=...)",
    )
    argtypes.add_classifier_arguments(
        p, f"comma-separated subset of {','.join(CLASSIFIER_NAMES)} (default all six)", from_settings=True
    )
    p.add_argument(
        "--binary-only", action="store_true", help="drop rows labelled other than FRI/FRII instead of failing"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", type=argtypes.output_of("csv"), metavar="CSV", help="also write the table(s) as CSV")
    p.set_defaults(handler=cmd_classify)


def cmd_classify(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.downstream.classify import compare

    config = argtypes.settings(
        args,
        "classify",
        given={
            "seeds": None if args.seeds is None else tuple(range(args.seeds)),
            "classifiers": None if args.classifiers is None else tuple(argtypes.classifier_list(args.classifiers)),
            "standardise": args.standardise,
        },
    )
    test_paths = args.test_codes or args.codes
    if len(test_paths) != len(args.codes):
        raise InputError("--test-codes", f"give one per --codes ({len(args.codes)}), got {len(test_paths)}")
    results = []
    for path, test_path in zip(args.codes, test_paths):
        results.append(
            api.classify(
                path,
                args.train,
                args.test,
                test_codes=None if test_path == path else test_path,
                block=args.block,
                binary_only=args.binary_only,
                config=config,
            )
        )
    if args.json:
        docs = [json.loads(r.to_json()) for r in results]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        for r in results:
            print(r.to_markdown())
        if len(results) > 1:
            print(compare(results))
    if args.out:
        table = pd.concat([r.to_frame() for r in results], ignore_index=True)
        print(f"wrote {write_csv(table, args.out)}")
    return 0
