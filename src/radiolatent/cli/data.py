"""`radiolatent data ...`: list the shipped datasets, look at them, build the pool."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.config import DEFAULT_POOL, FolderConfig, PreprocessConfig
from radiolatent.data.dataset import pick


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="list, show and pool the radio datasets")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    p = sub.add_parser("list", help="every dataset and subset with its split counts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="an image grid of a dataset, as the model will see it")
    p.add_argument(
        "spec", help="DATASET[:SUBSET[:SPLIT]][@PATH], e.g. mbc:test, first-galaxy:all:train or folder@/data/fits"
    )
    p.add_argument("--path", help="folder for rgz-dr1 and folder datasets (or write DATASET@PATH)")
    add_folder_arguments(p)
    p.add_argument("-n", type=argtypes.positive_int, default=16, help="number of images (default 16)")
    p.add_argument(
        "-o", "--out", type=argtypes.output_of("png"), default="grid.png", help="PNG to write (default grid.png)"
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0, help="which random images (default 0)")
    p.add_argument("--raw", action="store_true", help="show the stored cutouts, not the 64x64 model input")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("pool", help="build the leak-free pre-training pool and print its composition")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_pool_arguments(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the cached pool")
    p.set_defaults(handler=cmd_pool)

    p = sub.add_parser("las", help="validate the angular-size estimator against MiraBest's catalogue")
    p.add_argument(
        "-o", "--out", type=argtypes.output_of("png"), default="las_validation.png", help="scatter plot to write"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_las)

    from radiolatent.cli import cutouts  # `data cutouts` lives in its own module

    cutouts.register(sub)


def add_pool_arguments(p: argparse.ArgumentParser) -> None:
    """The pool options shared by `train` and `embed` (and `data pool`)."""
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="SOURCE",
        help="another pool source, e.g. rgz-dr1@/data/rgz108k (repeatable)",
    )
    p.add_argument(
        "--min-las",
        type=argtypes.non_negative_float,
        default=DEFAULT_POOL.min_las_arcsec,
        help="drop pool sources below this angular size in arcsec (default: keep all)",
    )
    add_folder_arguments(p)


def add_folder_arguments(p: argparse.ArgumentParser) -> None:
    """How folder@DIR sources are read (FolderConfig)."""
    g = p.add_argument_group("folders of cutouts (folder@DIR)")
    g.add_argument(
        "--catalogue",
        help="the folder's catalogue: CSV, FITS table or VOTable with filename or id "
        "columns, or ra/dec to match by position (default: catalogue.csv, .fits, "
        ".vot or .xml in the folder)",
    )
    g.add_argument(
        "--pixel-scale",
        type=argtypes.positive_float,
        metavar="ARCSEC",
        help="arcsec per pixel of files that carry none (PNG, JPEG, .npy, FITS without a WCS)",
    )
    g.add_argument("--survey", help="survey name for files that carry none, e.g. FIRST")
    g.add_argument(
        "--files",
        default=FolderConfig.files,
        metavar="GLOB",
        help="which files, relative to the folder, e.g. '**/*.fits' (default: every file)",
    )
    g.add_argument(
        "--strict",
        action="store_true",
        help="stop at a file that would be skipped: not a readable image, not sky brightness, "
        "partial (default: skip it and count it)",
    )
    g.add_argument(
        "--keep-partial",
        action="store_true",
        help="keep cutouts a tile or mosaic edge cut short (default: skip them and count them)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one line for each file skipped, kept partial or read at native pixels, with the reason",
    )


def folder_config(args: argparse.Namespace) -> FolderConfig:
    return FolderConfig(
        files=args.files,
        pixel_scale_arcsec=args.pixel_scale,
        survey=args.survey,
        catalogue=args.catalogue,
        strict=args.strict,
        keep_partial=args.keep_partial,
    )


def cmd_list(args: argparse.Namespace) -> int:
    from radiolatent.data.registry import list_datasets
    from radiolatent.studies.text_tables import markdown_table

    table = list_datasets()
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        print(markdown_table(table))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from radiolatent.data.grid import caption_for, image_grid
    from radiolatent.data.preprocess import preprocess
    from radiolatent.data.registry import Source, load_source

    source = Source.parse(args.spec)
    if args.path:
        source = dataclasses.replace(source, path=Path(args.path))
    ds = load_source(source, folder_config(args))
    rows = ds.take(pick(len(ds), args.n, args.seed))
    images = rows.images
    if not args.raw:
        images = preprocess(images, rows.meta["pixel_scale_arcsec"].to_numpy(float), PreprocessConfig())
    captions = [caption_for(r) for _, r in rows.meta.iterrows()]
    title = f"{args.spec}: {len(rows)} of {len(ds)} ({'stored cutouts' if args.raw else 'model input, 64x64'})"
    path = image_grid(images, captions, args.out, title=title)
    print(f"wrote {path}")
    return 0


def pool_config(args: argparse.Namespace):
    """The pool and folder settings of a command with `add_pool_arguments`, or (without
    --add and --min-las) of one with `add_folder_arguments` alone."""
    if not hasattr(args, "add"):
        return dataclasses.replace(DEFAULT_POOL, folder=folder_config(args))
    return dataclasses.replace(
        DEFAULT_POOL,
        sources=DEFAULT_POOL.sources + tuple(args.add),
        min_las_arcsec=args.min_las,
        folder=folder_config(args),
    )


def cmd_pool(args: argparse.Namespace) -> int:
    from radiolatent.data.pools import build_pool

    pool = build_pool(pool_config(args), cache=not args.rebuild, progress=not args.json)
    if args.json:
        print(json.dumps(pool.summary(), indent=2, default=str))
        return 0
    print(f"pool: {len(pool)} images of {pool.images.shape[1]}x{pool.images.shape[2]}, cached at {pool.path}")
    print("excluded evaluation sets: " + ", ".join(pool.config.exclude))
    print(pool.report.to_string(index=False))
    print(pool.meta.groupby(["dataset", "label_name"]).size().rename("images").to_string())
    return 0


def cmd_las(args: argparse.Namespace) -> int:
    from radiolatent.config import LASConfig
    from radiolatent.data.las import plot_las_validation, validate_las
    from radiolatent.data.registry import load_dataset

    result = validate_las(load_dataset("mirabest"), LASConfig())
    summary = {k: result[k] for k in ("spearman", "n", "median_abs_error_arcsec")}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"LAS estimator vs MiraBest catalogue: Spearman {result['spearman']:.3f} over {result['n']} sources, "
            f"median |error| {result['median_abs_error_arcsec']:.1f} arcsec"
        )
    if args.out:
        print(f"wrote {plot_las_validation(result['estimate'], result['catalogue'], Path(args.out))}")
    return 0
