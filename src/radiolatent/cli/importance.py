"""`radiolatent importance`: the random forest's importance of each component for angular size ([A] Fig. 7)."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.core.fileio import write_csv

MAP_CHOICES = ("tsne", "umap", "both")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "importance", help="random-forest importance of each component for angular size ([A] Fig. 7)"
    )
    add_rows_arguments(p, "pool", "rows to use")
    argtypes.add_settings_arguments(
        p, "importance", "default", "the forest's settings (min_trees=1 is [A]'s)", "min_trees=1"
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "-o",
        "--out",
        type=argtypes.output_of("png"),
        default="importance.png",
        help="PNG; a CSV and the PCA curve go beside it",
    )
    p.set_defaults(handler=cmd_importance, outputs_beside=_importance_beside)


def _importance_beside(args: argparse.Namespace) -> list[tuple[Path, str]]:
    out = Path(args.out)
    return [(out.with_suffix(".csv"), "csv"), (out.with_name(f"{out.stem}_pca.png"), "png")]


def cmd_importance(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import code_matrix
    from radiolatent.downstream.importance import feature_importance, las_source_of, plot_importance
    from radiolatent.downstream.maps import pca_variance, plot_pca_variance

    config = argtypes.settings(args, "importance")
    _, rows = argtypes.codes_rows(args)
    codes = code_matrix(rows)
    table = feature_importance(codes, rows["las_arcsec"].to_numpy(dtype=float), seed=args.seed, config=config)
    out = Path(args.out)
    source = las_source_of(rows)
    title = f"Importance for angular size, {args.in_spec}"
    plot_importance(table, out, las_source=source, title=title, config=config)
    csv_path = write_csv(table, out.with_suffix(".csv"))
    pca = pca_variance(codes)
    pca_path = plot_pca_variance(pca, out.with_name(f"{out.stem}_pca.png"), title=f"PCA of {args.in_spec} codes")
    print(table.head(10).to_string(index=False))
    print(
        f"{table.attrs['n_rows']} rows, {table.attrs['n_trees']} trees, LAS from {source}; "
        f"PCA: {pca['n95']} components hold 95 %, {pca['n98']} hold 98 %"
    )
    for path in (out, csv_path, pca_path):
        print(f"wrote {path}")
    return 0
