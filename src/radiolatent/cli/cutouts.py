"""`radiolatent data cutouts`: cut catalogue sources out of survey mosaics into a folder."""

from __future__ import annotations

import argparse
import dataclasses

from radiolatent.cli import argtypes
from radiolatent.config import CutoutConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cutouts` to the `data` command group's subparsers."""
    p = sub.add_parser(
        "cutouts",
        help="cut catalogue sources out of survey mosaics into a folder of FITS cutouts plus a catalogue",
    )
    p.add_argument(
        "--catalogue",
        required=True,
        metavar="CAT",
        help="source catalogue: CSV, FITS table or VOTable with ra/dec in degrees (and id, label, ...)",
    )
    p.add_argument(
        "--images",
        required=True,
        action="append",
        metavar="GLOB",
        help="mosaic FITS files, a path or a quoted glob such as 'mosaics/*.fits' (repeatable)",
    )
    p.add_argument(
        "--size", required=True, type=argtypes.positive_float, metavar="ARCSEC", help="side of each cutout in arcsec"
    )
    p.add_argument(
        "--out",
        required=True,
        type=argtypes.output_dir,
        metavar="DIR",
        help="folder to write (new or empty, unless --overwrite)",
    )
    p.add_argument(
        "--edge",
        choices=("skip", "fill"),
        default=CutoutConfig.edge,
        help="a source whose cutout runs off every mosaic: skip it (default) or write it NaN-filled; "
        "either way it is listed in DIR/.not_cut.csv",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into a non-empty DIR, replacing files of the same name"
    )
    p.set_defaults(handler=cmd_cutouts)


def cmd_cutouts(args: argparse.Namespace) -> int:
    from radiolatent.config import CutoutConfig
    from radiolatent.data.cutouts import BLANK, EDGE, NO_IMAGE, NO_POSITION, make_cutouts

    config = dataclasses.replace(CutoutConfig(), edge=args.edge)
    result = make_cutouts(args.catalogue, args.images, args.size, args.out, config=config, overwrite=args.overwrite)
    print(
        f"wrote {len(result.written)} cutouts of {args.size:g} arcsec to {result.out_dir}, "
        f"catalogue {result.catalogue_path}"
    )
    filled = " (written NaN-filled)" if args.edge == "fill" else " (not written)"
    print(
        f"at an edge: {result.count(EDGE)}{filled if result.count(EDGE) else ''}; in no image: {result.count(NO_IMAGE)}"
    )
    others = {"no position": result.count(NO_POSITION), "blank pixels only": result.count(BLANK)}
    if any(others.values()):
        print("; ".join(f"{what}: {n}" for what, n in others.items() if n))
    if len(result.not_cut):
        print(f"listed with reasons in {result.report_path}")
    return 0
