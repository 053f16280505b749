"""`radiolatent search`: the codes most like a query, with an image grid ([A], [C]). The
work is in downstream.search and downstream.code_index."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.config import DEFAULT_SEARCH, SEARCH_METRICS
from radiolatent.core.fileio import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="the codes most like a query's, with an image grid ([A], [C])")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument(
        "--query",
        required=True,
        metavar="ID|IMAGE_FILE",
        help="id of a row (any set in the table), or an image file (FITS/PNG/JPEG/.npy) to embed",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="model that embeds an image-file query (default: the table's own, if a floor or the shipped VDVAE)",
    )
    p.add_argument(
        "--pixel-scale",
        type=argtypes.positive_float,
        default=None,
        help="arcsec/pixel of an image-file query without a FITS WCS "
        f"(default {DEFAULT_SEARCH.query_pixel_scale}, FIRST)",
    )
    p.add_argument("--in", dest="in_spec", default="pool", metavar="SPEC", help="set to search (default pool)")
    argtypes.add_settings_arguments(p, "search", "default", "the search settings", "k=20")
    p.add_argument("-k", type=argtypes.positive_int, default=None, help=f"matches to show (default {DEFAULT_SEARCH.k})")
    p.add_argument(
        "--metric",
        choices=SEARCH_METRICS,
        default=None,
        help="whitened-cosine (cosine after whitening on the searched set), cosine (raw, [A]) "
        f"or euclidean-pca ([C]); default {DEFAULT_SEARCH.metric}",
    )
    p.add_argument("--exclude-self", action="store_true", help="leave the query out if it is in the searched set")
    p.add_argument(
        "-o",
        "--out",
        type=argtypes.output_of("png"),
        default="search.png",
        help="grid PNG; the CSV goes beside it (default search.png)",
    )
    p.set_defaults(handler=cmd_search, outputs_beside=lambda args: [(Path(args.out).with_suffix(".csv"), "csv")])


def cmd_search(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.search import search_picture

    given = {"k": args.k, "metric": args.metric, "query_pixel_scale": args.pixel_scale}
    config = argtypes.settings(args, "search", given=given)
    table = read_codes(args.codes)  # read once: the search and its picture
    chosen = argtypes.options(args, "exclude_self", "model")
    result = api.search(table, args.query, args.in_spec, codes_path=args.codes, config=config, **chosen)
    query_image = result.attrs.pop("query_image", None)
    out = Path(args.out)
    csv_path = write_csv(result, out.with_suffix(".csv"))
    print(result.to_string(index=False))
    print(f"wrote {csv_path}")
    search_picture(table, result, args.query, out, query_image=query_image, metric=config.metric, in_spec=args.in_spec)
    print(f"wrote {out}")
    return 0
