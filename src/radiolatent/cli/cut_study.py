"""`radiolatent cut-study`: [B]'s angular-size cut study for an SSL method (not `make study`,
which runs `radiolatent reproduce`)."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_pool_arguments, pool_config


def register(subparsers: argparse._SubParsersAction) -> None:
    from radiolatent.config import SSL_METHODS

    p = subparsers.add_parser(
        "cut-study",
        help="[B]'s angular-size cut study: kNN accuracy on MBC against a LAS cut of the pool (Fig. 3)",
    )
    p.add_argument("--method", choices=SSL_METHODS, help="the SSL method to train (required)")
    argtypes.add_deprecated(p, "--model", "--method", "method", choices=SSL_METHODS)
    p.add_argument("--thresholds", default="0,20,30,45", help="comma-separated LAS cuts in arcsec (default 0,20,30,45)")
    p.add_argument(
        "--config",
        default="cut",
        help="cut (default: ResNet-18, max-pooled stem, 15 epochs), tiny, cpu, paper, b-paper or c-mirabest",
    )
    p.add_argument(
        "--seeds", type=argtypes.positive_int, default=3, help="training seeds 0..N-1 per threshold (default 3)"
    )
    p.add_argument(
        "--out", type=argtypes.output_dir, required=True, help="study folder: runs/, cut_study.csv, cut_study.png"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting of the config, e.g. train.epochs=3 (repeatable)",
    )
    p.add_argument(
        "--max-images",
        type=argtypes.positive_int,
        default=None,
        help="train on at most this many images per run (quick looks; default all)",
    )
    p.add_argument(
        "--single-view",
        action="store_true",
        help="embed MBC once per image (default: average over the 8 flips and quarter turns)",
    )
    add_pool_arguments(p)
    p.set_defaults(handler=cmd_cut)


def cmd_cut(args: argparse.Namespace) -> int:
    from radiolatent.config import SSL_METHODS
    from radiolatent.core.errors import InputError
    from radiolatent.studies.cut_study import CutStudy, check_thresholds, run_cut_study, summarise

    try:
        values = [float(v) for v in args.thresholds.split(",") if v.strip()]
    except ValueError:
        raise InputError("--thresholds", f"not a list of numbers: {args.thresholds!r}") from None
    if args.method is None:
        raise InputError("--method", f"name the SSL method to train: one of {', '.join(SSL_METHODS)}")
    if args.seeds < 1:
        raise InputError("--seeds", "need at least one seed")
    if args.max_images is not None and args.max_images < 2:
        raise InputError("--max-images", "need at least 2 images")
    if args.min_las:
        raise InputError("--min-las", "the study sets the cut itself: give --thresholds instead")
    study = CutStudy(
        method=args.method,
        thresholds=check_thresholds(values),
        config=args.config,
        seeds=args.seeds,
        overrides=tuple(args.set),
        max_images=args.max_images,
        single_view=args.single_view,
    )
    study.run_config()  # bad --config/--set fail here, before the pool is built
    runs = run_cut_study(study, args.out, pool_config(args))
    summary = summarise(runs).set_index("threshold_arcsec")[["mean", "sem", "seeds", "pool_images"]]
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {args.out}/cut_study.csv, cut_study_summary.csv, cut_study.png and cut_study_epochs.png")
    return 0
