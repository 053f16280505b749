"""`radiolatent map | importance`: t-SNE ([A]) / UMAP ([C]) maps of the codes coloured by a
column, and which code components carry angular size ([A] Fig. 7). The work is in
downstream.maps and downstream.importance."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_csv

MAP_CHOICES = ("tsne", "umap", "both")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("map", help="t-SNE ([A]) / UMAP ([C]) map of the codes coloured by a column")
    add_rows_arguments(p, "pool", "rows to map")
    p.add_argument("--method", choices=MAP_CHOICES, default="tsne", help="tsne, umap or both (default tsne)")
    p.add_argument("--colour", default="las_arcsec", metavar="COLUMN", help="column to colour by (default las_arcsec)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "-o",
        "--out",
        type=argtypes.output_of("png"),
        default="map.png",
        help="PNG (with 'both': _tsne / _umap added to the name)",
    )
    p.set_defaults(handler=cmd_map, outputs_beside=_maps_beside)

    p = subparsers.add_parser(
        "importance", help="random-forest importance of each component for angular size ([A] Fig. 7)"
    )
    add_rows_arguments(p, "pool", "rows to use")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "-o",
        "--out",
        type=argtypes.output_of("png"),
        default="importance.png",
        help="PNG; a CSV and the PCA curve go beside it",
    )
    p.set_defaults(handler=cmd_importance, outputs_beside=_importance_beside)


def _map_paths(args: argparse.Namespace) -> list[Path]:
    out = Path(args.out)
    if args.method != "both":
        return [out]
    return [out.with_name(f"{out.stem}_{method}{out.suffix or '.png'}") for method in ("tsne", "umap")]


def _maps_beside(args: argparse.Namespace) -> list[tuple[Path, str]]:
    return [(path, "png") for path in _map_paths(args) if path != Path(args.out)]


def _importance_beside(args: argparse.Namespace) -> list[tuple[Path, str]]:
    out = Path(args.out)
    return [(out.with_suffix(".csv"), "csv"), (out.with_name(f"{out.stem}_pca.png"), "png")]


def _rows(args: argparse.Namespace):
    from radiolatent.data.codes import read_codes, select

    table = read_codes(args.codes)
    return table, select(table, args.in_spec)


def cmd_map(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import code_matrix
    from radiolatent.downstream.maps import embed_2d, plot_map

    _, rows = _rows(args)
    if args.colour not in rows.columns:
        raise InputError(args.codes, f"no column '{args.colour}' to colour by")
    methods = ("tsne", "umap") if args.method == "both" else (args.method,)
    for method, path in zip(methods, _map_paths(args), strict=True):
        xy = embed_2d(code_matrix(rows), method, seed=args.seed)
        plot_map(xy, rows[args.colour].to_numpy(), path, f"{method} of {args.in_spec} ({len(rows)} rows)", args.colour)
        print(f"wrote {path}")
    return 0


def cmd_importance(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import code_matrix
    from radiolatent.downstream.importance import feature_importance, las_source_of, plot_importance
    from radiolatent.downstream.maps import pca_variance, plot_pca_variance

    _, rows = _rows(args)
    codes = code_matrix(rows)
    table = feature_importance(codes, rows["las_arcsec"].to_numpy(dtype=float), seed=args.seed)
    out = Path(args.out)
    source = las_source_of(rows)
    plot_importance(table, out, las_source=source, title=f"Importance for angular size, {args.in_spec}")
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
