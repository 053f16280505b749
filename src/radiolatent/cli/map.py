"""`radiolatent map`: t-SNE ([A]) / UMAP ([C]) maps of the codes coloured by a column. The
work is in downstream.maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.core.errors import InputError

MAP_CHOICES = ("tsne", "umap", "both")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("map", help="t-SNE ([A]) / UMAP ([C]) map of the codes coloured by a column")
    add_rows_arguments(p, "pool", "rows to map")
    argtypes.add_settings_arguments(p, "map", "default", "the maps' settings", "tsne_perplexity=50")
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


def _map_paths(args: argparse.Namespace) -> list[Path]:
    out = Path(args.out)
    if args.method != "both":
        return [out]
    return [out.with_name(f"{out.stem}_{method}{out.suffix or '.png'}") for method in ("tsne", "umap")]


def _maps_beside(args: argparse.Namespace) -> list[tuple[Path, str]]:
    return [(path, "png") for path in _map_paths(args) if path != Path(args.out)]


def cmd_map(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import code_matrix
    from radiolatent.downstream.maps import embed_2d, plot_map

    config = argtypes.settings(args, "map")
    _, rows = argtypes.codes_rows(args)
    if args.colour not in rows.columns:
        raise InputError(args.codes, f"no column '{args.colour}' to colour by")
    methods = ("tsne", "umap") if args.method == "both" else (args.method,)
    for method, path in zip(methods, _map_paths(args), strict=True):
        xy = embed_2d(code_matrix(rows), method, seed=args.seed, config=config)
        title = f"{method} of {args.in_spec} ({len(rows)} rows)"
        plot_map(xy, rows[args.colour].to_numpy(), path, title, args.colour, config=config)
        print(f"wrote {path}")
    return 0
