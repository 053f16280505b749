"""`radiolatent embed` (and, with the models, train / reconstruct / generate)."""

from __future__ import annotations

import argparse

from radiolatent.config import EmbedConfig

DEFAULT_SETS = "mbc,frdeep-n,pool"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("embed", help="encode datasets into a codes table (parquet)")
    p.add_argument("--model", required=True,
                   help="a trained run folder, or a no-learning floor: pixels-pca, random-conv")
    p.add_argument("--data", default=DEFAULT_SETS,
                   help=f"comma-separated dataset specs (default {DEFAULT_SETS})")
    p.add_argument("--out", required=True, help="codes table to write (.parquet)")
    p.add_argument("--batch-size", type=int, default=EmbedConfig.batch_size)
    p.set_defaults(handler=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    from radiolatent.codes import write_codes
    from radiolatent.embedding import embed

    specs = [s.strip() for s in args.data.split(",") if s.strip()]
    table = embed(args.model, specs, EmbedConfig(batch_size=args.batch_size))
    path = write_codes(table, args.out)
    print(f"wrote {path}: {len(table)} rows, sets " + ", ".join(table["set"].unique()))
    return 0
