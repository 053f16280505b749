"""`radiolatent search | duplicates`: the codes most like a query, with an image grid
([A], [C]), and pairs of near-identical codes with their sky separation ([B]). The work
is in downstream.search, downstream.code_index and downstream.duplicates."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.config import DEFAULT_SEARCH, DUPLICATE_METRICS, SEARCH_METRICS
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
        default=DEFAULT_SEARCH.query_pixel_scale,
        help="arcsec/pixel of an image-file query without a FITS WCS "
        f"(default {DEFAULT_SEARCH.query_pixel_scale}, FIRST)",
    )
    p.add_argument("--in", dest="in_spec", default="pool", metavar="SPEC", help="set to search (default pool)")
    p.add_argument(
        "-k", type=argtypes.positive_int, default=DEFAULT_SEARCH.k, help=f"matches to show (default {DEFAULT_SEARCH.k})"
    )
    p.add_argument(
        "--metric",
        choices=SEARCH_METRICS,
        default=DEFAULT_SEARCH.metric,
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

    p = subparsers.add_parser("duplicates", help="pairs of near-identical codes and their sky separation ([B])")
    add_rows_arguments(p, "pool", "set to check")
    p.add_argument(
        "--metric",
        choices=DUPLICATE_METRICS,
        default=DEFAULT_SEARCH.metric,
        help=f"whitened-cosine or cosine (raw: [B]'s every pair >= 0.99); default {DEFAULT_SEARCH.metric}",
    )
    p.add_argument(
        "--threshold",
        type=argtypes.finite_float,
        default=None,
        help=f"similarity at or above which a pair is reported (default {DEFAULT_SEARCH.duplicate_threshold} "
        f"whitened, {DEFAULT_SEARCH.cosine_duplicate_threshold} cosine)",
    )
    p.add_argument(
        "--margin",
        type=argtypes.non_negative_float,
        default=None,
        help="report only mutual nearest codes that beat both next-nearest by this much "
        f"(default {DEFAULT_SEARCH.duplicate_margin} whitened, none for cosine)",
    )
    p.add_argument(
        "--by-position",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_SEARCH.duplicates_by_position,
        help=f'also report every pair within {DEFAULT_SEARCH.duplicate_separation_arcsec:g}" on the sky '
        "(one source observed twice), whatever the codes (default on; --no-by-position: codes alone, as [B])",
    )
    p.add_argument(
        "--out", type=argtypes.output_of("csv"), default="duplicates.csv", help="CSV to write (default duplicates.csv)"
    )
    p.set_defaults(handler=cmd_duplicates)


def cmd_search(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.search import search_picture

    table = read_codes(args.codes)  # read once: the search and its picture
    chosen = argtypes.options(args, "k", "metric", "exclude_self", "model", "pixel_scale")
    result = api.search(table, args.query, args.in_spec, codes_path=args.codes, **chosen)
    query_image = result.attrs.pop("query_image", None)
    out = Path(args.out)
    csv_path = write_csv(result, out.with_suffix(".csv"))
    print(result.to_string(index=False))
    print(f"wrote {csv_path}")
    search_picture(table, result, args.query, out, query_image=query_image, metric=args.metric, in_spec=args.in_spec)
    print(f"wrote {out}")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.downstream.duplicates import DUPLICATE_KINDS, rule_text

    chosen = argtypes.options(args, "threshold", "metric", "margin", "by_position")
    pairs = api.duplicates(args.codes, args.in_spec, **chosen)
    path = write_csv(pairs, Path(args.out))
    kinds = pairs["kind"].value_counts()
    counts = ", ".join(f"{int(kinds.get(kind, 0))} {kind}" for kind in DUPLICATE_KINDS)
    found = pairs["found_by"].value_counts()
    how = ", ".join(f"{int(n)} by {name}" for name, n in found.items())
    print(
        f"{len(pairs)} pairs {rule_text(pairs.attrs['rule'])} in {args.in_spec}: {counts}"
        + (f" ({how})" if how else "")
    )
    print(f"wrote {path}")
    return 0
