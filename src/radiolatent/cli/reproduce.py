"""`radiolatent reproduce`: the paper's study on the shipped pool (or on any pool, with
--add SOURCE), and its report."""

from __future__ import annotations

import argparse
import dataclasses

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_pool_arguments, pool_config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce", help="run the paper's study (cached stages) and write report/index.html + results.json"
    )
    p.add_argument(
        "--out", type=argtypes.output_dir, default="report", help="report folder (default report/); rerun to resume"
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train the VDVAE, SimCLR, BYOL and SimSiam from scratch (cpu configs) instead of "
        "using the shipped checkpoints",
    )
    p.add_argument(
        "--retrain-ceiling",
        action="store_true",
        help="also train the supervised ceiling (ResNet-18 on the labels; --seeds seeds x MBC, NVSS, "
        "about a minute each on 2 cores) instead of showing the shipped table",
    )
    p.add_argument(
        "--seeds",
        type=argtypes.positive_int,
        default=None,
        help="seeds for every multi-seed result (default 2; 3 adds about half of Table 2's ~7 minutes)",
    )
    argtypes.add_settings_arguments(
        p,
        "reproduce",
        "full",
        "full (the study), fast (full with the SSL encoders in bf16 where the CPU has it) "
        "or quick (two encoders, one seed)",
    )
    argtypes.add_deprecated(p, "--profile", "--config", "config")
    # every stage runs on this pool: the shipped one, or e.g. --add rgz-dr1@/data/rgz108k
    add_pool_arguments(p)
    p.set_defaults(handler=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from radiolatent.core.errors import InputError
    from radiolatent.studies.reproduce import reproduce

    cfg = dataclasses.replace(argtypes.settings(args, "reproduce"), pool=pool_config(args))
    if args.seeds is not None:
        if args.seeds < 1:
            raise InputError("--seeds", f"must be at least 1, got {args.seeds}")
        cfg = dataclasses.replace(cfg, seeds=args.seeds)
    if args.retrain_ceiling:
        cfg = dataclasses.replace(cfg, retrain_ceiling=True)
    page = reproduce(args.out, cfg, retrain=args.retrain)
    print(f"wrote {page} and {page.with_name('results.json')}")
    return 0
