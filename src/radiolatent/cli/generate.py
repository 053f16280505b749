"""`radiolatent generate`: samples from a trained VDVAE's prior, as an image grid."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.config import ReproduceConfig

#: the study's picture settings are the commands' defaults
_STUDY = ReproduceConfig()
_TEMPERATURES = ",".join(map(str, _STUDY.temperatures))


def register(subparsers: argparse._SubParsersAction) -> None:

    p = subparsers.add_parser("generate", help="image grid of samples from the VDVAE prior")
    p.add_argument("--model", required=True, help="a trained VDVAE run folder")
    p.add_argument(
        "-n",
        type=argtypes.positive_int,
        default=_STUDY.samples_per_temperature,
        help=f"samples per temperature (default {_STUDY.samples_per_temperature})",
    )
    p.add_argument(
        "--temperatures",
        type=argtypes.positive_floats,
        default=_TEMPERATURES,
        help=f"comma-separated (default {_TEMPERATURES})",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_of("png"), default="samples.png")
    p.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from radiolatent.downstream.generative import sample_grid

    path = sample_grid(args.model, args.n, args.temperatures, args.seed, args.out)
    print(f"wrote {path}")
    return 0
