"""`radiolatent predict`: a catalogue of classes for sources without labels, from codes
(`--codes --train`: downstream.predict) or straight from images by a fine-tuned
classifier (`--model --data`: downstream.image_predict)."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.cli.data import add_folder_arguments, pool_config
from radiolatent.config import CLASSIFIER_NAMES, DEFAULT_PREDICT, PredictConfig
from radiolatent.core.errors import InputError
from radiolatent.data.catalogue import FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classes, calibrated probabilities and an in-domain flag for rows without labels",
    )
    add_rows_arguments(p, "pool", "rows to predict", required=False)
    p.add_argument(
        "--train",
        default=None,
        metavar="SPEC",
        help="with --codes: labelled rows to learn from, e.g. mbc:train, or your own set with a catalogue label column",
    )
    p.add_argument(
        "--model",
        default=None,
        help="instead of --codes and --train: a fine-tuned classifier (finetuned-mbc, shipped, or a "
        "`train finetune` run folder) that predicts straight from the --data images",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="SPECS",
        help="with --model: comma-separated datasets to predict, e.g. mbc:test or folder@/data/fits",
    )
    add_folder_arguments(p)
    p.add_argument(
        "--train-codes",
        default=None,
        metavar="PATH",
        help="take the --train rows from this codes table (made by the same model) instead of --codes",
    )
    p.add_argument(
        "--labels",
        default=None,
        metavar="PATH",
        help="label store (the explorer's or `anomaly label`'s JSON lines): its scores become "
        "the classes of the --train rows they name",
    )
    p.add_argument(
        "--classifier",
        choices=CLASSIFIER_NAMES,
        default=None,
        help="one of [A]'s six (default: the best of --classifiers by cross-validation within the labelled rows)",
    )
    argtypes.add_classifier_arguments(
        p, f"the classifiers to choose from and that vote for `agreement` (default {','.join(CLASSIFIER_NAMES)})"
    )
    argtypes.add_settings_arguments(p, "predict", "default", "the cross-validation and in-domain settings", "folds=3")
    p.add_argument(
        "--seed",
        type=argtypes.non_negative_int,
        default=None,
        help=f"validation folds' and fits' seed (default {DEFAULT_PREDICT.seed})",
    )
    p.add_argument(
        "--out",
        type=argtypes.output_file,
        default="predictions.csv",
        help="predictions catalogue: .csv, .ecsv, .fits or .vot by its suffix (default predictions.csv)",
    )
    p.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.downstream.predict import summary_lines

    out = Path(args.out)
    if not out.name.lower().endswith(tuple(FORMATS)):
        raise InputError(out, f"unknown catalogue format (use a file ending in {', '.join(FORMATS)})")
    config = argtypes.settings(args, "predict", given={"seed": args.seed})
    if args.model is not None:
        return _predict_images(args, out, config)
    if args.codes is None or args.train is None:
        raise InputError("--codes/--train", "give both (predict from codes), or --model and --data (from images)")
    if args.data is not None:
        raise InputError("--data", "is for --model (a fine-tuned classifier); with --codes choose rows by --in")
    chosen = argtypes.options(args, "train_codes", "classifier", "standardise", "labels", "block")
    classifiers = tuple(argtypes.classifier_list(args.classifiers))
    predictions = api.predict(args.codes, args.train, args.in_spec, classifiers=classifiers, config=config, **chosen)
    for line in summary_lines(predictions):
        print(line)
    print(f"wrote {api.write_catalogue(predictions, out)}: {len(predictions)} rows")
    return 0


def _predict_images(args: argparse.Namespace, out: Path, config: PredictConfig) -> int:
    """`predict --model M --data SPECS`: a fine-tuned classifier on images."""
    from radiolatent import api
    from radiolatent.downstream.image_predict import image_summary_lines

    if args.data is None:
        raise InputError("--data", "--model predicts images: name them, e.g. --data mbc:test or folder@DIR")
    if args.codes is not None or args.train is not None:
        raise InputError(
            "--model", "predicts from images: drop --codes and --train (they are for predicting from codes)"
        )
    predictions = api.predict_images(args.model, args.data, pool_config=pool_config(args), config=config)
    for line in image_summary_lines(predictions):
        print(line)
    print(f"wrote {api.write_catalogue(predictions, out)}: {len(predictions)} rows")
    return 0
