"""`radiolatent reconstruct`: inputs beside their VDVAE reconstructions."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.config import ReproduceConfig

#: the study's picture settings are the commands' defaults
_STUDY = ReproduceConfig()
_TEMPERATURES = ",".join(map(str, _STUDY.temperatures))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reconstruct", help="image grid: inputs beside their VDVAE reconstructions")
    p.add_argument("--model", required=True, help="a trained VDVAE run folder")
    p.add_argument("--data", default="mbc:test", help="dataset spec (default mbc:test)")
    p.add_argument(
        "-n",
        type=argtypes.positive_int,
        default=_STUDY.reconstructions,
        help=f"number of images (default {_STUDY.reconstructions})",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_of("png"), default="reconstructions.png")
    p.set_defaults(handler=cmd_reconstruct)


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from radiolatent.downstream.generative import reconstruction_grid

    path = reconstruction_grid(args.model, args.data, args.n, args.seed, args.out)
    print(f"wrote {path}")
    return 0
