"""`radiolatent search | duplicates | map | importance | cluster`: the discovery tools on codes tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from radiolatent.cli import argtypes
from radiolatent.config import DEFAULT_CLUSTER, DEFAULT_SEARCH, DUPLICATE_METRICS, SEARCH_METRICS
from radiolatent.errors import InputError
from radiolatent.fileio import check_output, write_csv, write_text

MAP_CHOICES = ("tsne", "umap", "both")


def add_rows_arguments(p: argparse.ArgumentParser, default: str, what: str) -> None:
    """--codes (a codes table) and --in (which of its rows), shared by the commands on codes."""
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--in", dest="in_spec", default=default, metavar="SPEC", help=f"{what} (default {default})")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="the codes most like a query's, with an image grid ([A], [C])")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--query", required=True, metavar="ID|IMAGE_FILE",
                   help="id of a row (any set in the table), or an image file (FITS/PNG/JPEG/.npy) to embed")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="model that embeds an image-file query (default: the table's own, if a floor or the shipped VDVAE)")
    p.add_argument("--pixel-scale", type=argtypes.positive_float, default=1.8,
                   help="arcsec/pixel of an image-file query without a FITS WCS (default 1.8, FIRST)")
    p.add_argument("--in", dest="in_spec", default="pool", metavar="SPEC", help="set to search (default pool)")
    p.add_argument("-k", type=argtypes.positive_int, default=DEFAULT_SEARCH.k, help=f"matches to show (default {DEFAULT_SEARCH.k})")
    p.add_argument("--metric", choices=SEARCH_METRICS, default=DEFAULT_SEARCH.metric,
                   help="whitened-cosine (cosine after whitening on the searched set), cosine (raw, [A]) "
                        f"or euclidean-pca ([C]); default {DEFAULT_SEARCH.metric}")
    p.add_argument("--exclude-self", action="store_true", help="leave the query out if it is in the searched set")
    p.add_argument("-o", "--out", type=argtypes.output_file, default="search.png", help="grid PNG; the CSV goes beside it (default search.png)")
    p.set_defaults(handler=cmd_search)

    p = subparsers.add_parser("duplicates", help="pairs of near-identical codes and their sky separation ([B])")
    add_rows_arguments(p, "pool", "set to check")
    p.add_argument("--metric", choices=DUPLICATE_METRICS, default=DEFAULT_SEARCH.metric,
                   help=f"whitened-cosine or cosine (raw: [B]'s every pair >= 0.99); default {DEFAULT_SEARCH.metric}")
    p.add_argument("--threshold", type=argtypes.finite_float, default=None,
                   help=f"similarity at or above which a pair is reported (default {DEFAULT_SEARCH.duplicate_threshold} "
                        f"whitened, {DEFAULT_SEARCH.cosine_duplicate_threshold} cosine)")
    p.add_argument("--margin", type=argtypes.non_negative_float, default=None,
                   help="report only mutual nearest codes that beat both next-nearest by this much "
                        f"(default {DEFAULT_SEARCH.duplicate_margin} whitened, none for cosine)")
    p.add_argument("--out", type=argtypes.output_file, default="duplicates.csv", help="CSV to write (default duplicates.csv)")
    p.set_defaults(handler=cmd_duplicates)

    p = subparsers.add_parser("map", help="t-SNE ([A]) / UMAP ([C]) map of the codes coloured by a column")
    add_rows_arguments(p, "pool", "rows to map")
    p.add_argument("--method", choices=MAP_CHOICES, default="tsne", help="tsne, umap or both (default tsne)")
    p.add_argument("--color", default="las_arcsec", metavar="COLUMN", help="column to colour by (default las_arcsec)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_file, default="map.png", help="PNG (with 'both': _tsne / _umap added to the name)")
    p.set_defaults(handler=cmd_map)

    p = subparsers.add_parser("importance", help="random-forest importance of each component for angular size ([A] Fig. 7)")
    add_rows_arguments(p, "pool", "rows to use")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_file, default="importance.png", help="PNG; a CSV and the PCA curve go beside it")
    p.set_defaults(handler=cmd_importance)

    p = subparsers.add_parser("cluster", help="PCA + Bayesian Gaussian mixture clusters scored against labels ([C])")
    add_rows_arguments(p, "mbc", "rows to cluster")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("--per-cluster", type=argtypes.positive_int, default=DEFAULT_CLUSTER.montage_per_cluster,
                   help="members shown per cluster in the montage")
    p.add_argument("-o", "--out", type=argtypes.output_dir, default="clusters", help="output folder (default clusters)")
    p.set_defaults(handler=cmd_cluster)


def _rows(args: argparse.Namespace):
    from radiolatent.codes import read_codes, select

    table = read_codes(args.codes)
    return table, select(table, args.in_spec)


def cmd_search(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes
    from radiolatent.downstream.search import search_picture, search_table

    check_output(Path(args.out).with_suffix(".csv"))  # the CSV beside the grid
    table = read_codes(args.codes)
    result, query_image = search_table(table, args.query, args.in_spec, k=args.k, metric=args.metric,
                                       exclude_self=args.exclude_self, codes_path=args.codes, model=args.model,
                                       pixel_scale=args.pixel_scale)
    out = Path(args.out)
    csv_path = write_csv(result, out.with_suffix(".csv"))
    print(result.to_string(index=False))
    print(f"wrote {csv_path}")
    search_picture(table, result, args.query, out, query_image=query_image, metric=args.metric,
                   in_spec=args.in_spec)
    print(f"wrote {out}")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes
    from radiolatent.downstream.search import DUPLICATE_KINDS, find_duplicates, rule_text

    pairs = find_duplicates(read_codes(args.codes), args.in_spec, threshold=args.threshold,
                            metric=args.metric, margin=args.margin)
    path = write_csv(pairs, Path(args.out))
    kinds = pairs["kind"].value_counts()
    counts = ", ".join(f"{int(kinds.get(kind, 0))} {kind}" for kind in DUPLICATE_KINDS)
    print(f"{len(pairs)} pairs {rule_text(pairs.attrs['rule'])} in {args.in_spec}: {counts}")
    print(f"wrote {path}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from radiolatent.codes import code_matrix
    from radiolatent.downstream.maps import embed_2d, plot_map

    out = Path(args.out)
    if args.method == "both":
        for method in ("tsne", "umap"):
            check_output(out.with_name(f"{out.stem}_{method}{out.suffix or '.png'}"))
    _, rows = _rows(args)
    if args.color not in rows.columns:
        raise InputError(args.codes, f"no column '{args.color}' to colour by")
    methods = ("tsne", "umap") if args.method == "both" else (args.method,)
    out = Path(args.out)
    for method in methods:
        path = out.with_name(f"{out.stem}_{method}{out.suffix or '.png'}") if len(methods) > 1 else out
        xy = embed_2d(code_matrix(rows), method, seed=args.seed)
        plot_map(xy, rows[args.color].to_numpy(), path, f"{method} of {args.in_spec} ({len(rows)} rows)", args.color)
        print(f"wrote {path}")
    return 0


def cmd_importance(args: argparse.Namespace) -> int:
    from radiolatent.codes import code_matrix
    from radiolatent.downstream.importance import feature_importance, las_source_of, plot_importance
    from radiolatent.downstream.maps import pca_variance, plot_pca_variance

    out = Path(args.out)
    check_output(out.with_suffix(".csv"))  # written beside the plot
    check_output(out.with_name(f"{out.stem}_pca.png"))
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
    print(f"{table.attrs['n_rows']} rows, {table.attrs['n_trees']} trees, LAS from {source}; "
          f"PCA: {pca['n95']} components hold 95 %, {pca['n98']} hold 98 %")
    for path in (out, csv_path, pca_path):
        print(f"wrote {path}")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from radiolatent.codes import code_matrix
    from radiolatent.downstream.cluster import cluster, cluster_scores

    _, rows = _rows(args)
    codes = code_matrix(rows)
    labels, probs = cluster(codes, seed=args.seed)
    out = Path(args.out)
    doc = {"set": args.in_spec, "rows": len(rows), "clusters": int(len(np.unique(labels))), "seed": args.seed}
    doc.update(cluster_scores(codes, labels, rows["label"].to_numpy(dtype=int), args.seed))
    clusters_csv = write_csv(rows[["id"]].assign(cluster=labels, probability=probs), out / "clusters.csv")
    json_path = write_text(out / "cluster_accuracy.json", json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    for path in (clusters_csv, json_path):
        print(f"wrote {path}")
    _montage(rows, labels, probs, out / "montage.png", args.per_cluster)
    return 0


def _montage(rows, labels, probs, path: Path, per_cluster: int) -> None:
    from radiolatent.downstream.cluster import cluster_montage

    from radiolatent.embedding import load_images_for

    cluster_montage(np.asarray(load_images_for(rows)), labels, probs, path, per_cluster=per_cluster)
    print(f"wrote {path}")
