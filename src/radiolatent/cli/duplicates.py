"""`radiolatent duplicates`: pairs of near-identical codes ([B]) and their sky separation."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.config import DEFAULT_SEARCH, DUPLICATE_METRICS
from radiolatent.core.fileio import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("duplicates", help="pairs of near-identical codes and their sky separation ([B])")
    add_rows_arguments(p, "pool", "set to check")
    argtypes.add_settings_arguments(
        p, "search", "default", "the duplicate rule's and search settings", "duplicate_separation_arcsec=10"
    )
    p.add_argument(
        "--metric",
        choices=DUPLICATE_METRICS,
        default=None,
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
        default=None,
        help=f'also report every pair within {DEFAULT_SEARCH.duplicate_separation_arcsec:g}" on the sky '
        "(one source observed twice), whatever the codes (default on; --no-by-position: codes alone, as [B])",
    )
    p.add_argument(
        "--out", type=argtypes.output_of("csv"), default="duplicates.csv", help="CSV to write (default duplicates.csv)"
    )
    p.set_defaults(handler=cmd_duplicates)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.downstream.duplicates import DUPLICATE_KINDS, rule_text

    given = {"metric": args.metric, "duplicates_by_position": args.by_position}
    config = argtypes.settings(args, "search", given=given)
    pairs = api.duplicates(args.codes, args.in_spec, config=config, **argtypes.options(args, "threshold", "margin"))
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
