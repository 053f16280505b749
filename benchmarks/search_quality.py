"""Does search discriminate? Each search metric on the shipped sets' known same-object pairs.

Usage:
    .venv/bin/radiolatent embed --data mbc,frdeep-n,pool,first-galaxy,mirabest --out codes.parquet
    .venv/bin/python benchmarks/search_quality.py --codes codes.parquet [--fits ../shared/data/first_fits]

Printed, for each metric (whitened-cosine, the default; cosine, [A]; euclidean-pca, [C]),
all through `downstream/search.py` as `search` and `duplicates` run it:

* same source, two renderings: every MiraBest source (any class) that the FIRST Radio
  Galaxy Dataset (Griese et al.) also holds, matched by sky position within 30", is a
  query into the Griese set; its top-1 rate and median rank (1 = its own Griese image is
  the nearest code). With --fits, the raw FIRST FITS cutouts (read by the folder reader,
  embedded like the table) are queries into MiraBest for their shipped image.
* duplicates at each metric's default rule: pairs in the pool (and how many have a
  position within 30", none, or a far one), and on MiraBest + Griese, where the 30" pairs
  are known: how many of the pairs listed are one object (precision) and how many of the
  known pairs are listed (recall). With --pixels, how many pool pairs are also each
  other's nearest image by pixel correlation (FR-DEEP has no positions: this says which
  of its pairs are copies).
* label agreement: the fraction of each MBC source's 8 nearest MBC codes (itself left
  out) with its FRI/FRII label.

--variants also scores the candidates that were weighed (numpy, exact): centred cosine,
per-dimension standardised cosine, PCA-whitened cosine keeping 95 / 99 / 100 % of the
variance, and whitening with several shrinkages.

--write-fixture PATH writes the small real subset tests/test_search.py uses (every 16th
MiraBest source in Griese, its Griese twin and every 4th Griese source; float16 codes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from radiolatent.config import DUPLICATE_METRICS, SEARCH_METRICS
from radiolatent.data.codes import code_matrix, read_codes, select
from radiolatent.downstream.code_index import CodeIndex
from radiolatent.downstream.duplicates import duplicate_rule, find_duplicates, rule_text

SHARED_FITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_fits"
MATCH_ARCSEC = 30.0


def rows_of(table: pd.DataFrame, set_name: str) -> pd.DataFrame:
    """The rows embedded as one set (not every row whose dataset matches: the pool holds MiraBest rows too)."""
    return table[table["set"].astype(str) == set_name].reset_index(drop=True)


def sky_pairs(a: pd.DataFrame, b: pd.DataFrame, radius: float = MATCH_ARCSEC) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i in a, j in b) within `radius` arcsec of each other."""
    first = SkyCoord(a["ra"].to_numpy(float) * u.deg, a["dec"].to_numpy(float) * u.deg)
    second = SkyCoord(b["ra"].to_numpy(float) * u.deg, b["dec"].to_numpy(float) * u.deg)
    i, j, _, _ = search_around_sky(first, second, radius * u.arcsec)
    return i, j


def ranks(queries: np.ndarray, searched: np.ndarray, targets: np.ndarray, metric: str) -> np.ndarray:
    """Rank (1 = nearest) of each query's target row among the searched codes."""
    index = CodeIndex.build(searched, metric=metric)
    _, order = index.search(queries, len(searched))
    return 1 + np.argmax(order == targets[:, None], axis=1)


def same_object(table: pd.DataFrame, metric: str) -> dict:
    mirabest, griese = rows_of(table, "mirabest:all"), rows_of(table, "first-galaxy:all")
    q, t = sky_pairs(mirabest, griese)
    r = ranks(code_matrix(mirabest)[q], code_matrix(griese), t, metric)
    return {
        "pairs": len(q),
        "top1": float(np.mean(r == 1)),
        "top8": float(np.mean(r <= 8)),
        "median_rank": float(np.median(r)),
    }


def fits_queries(table: pd.DataFrame, folder: Path, metric: str, cache: dict) -> dict:
    """Raw FIRST FITS cutouts as queries into MiraBest: is the shipped image of the same source first?"""
    if "codes" not in cache:
        from radiolatent.data.inputs import model_input
        from radiolatent.embedding import encode_images, get_encoder, table_embed_config, table_model

        config = table_embed_config(table)
        ds = model_input(f"folder@{folder}")
        cache["codes"] = encode_images(get_encoder(None, config), np.asarray(ds.images), config)
        cache["meta"] = ds.meta
        if "vdvae" not in table_model(table):
            print(f"(note: the FITS are embedded with the shipped VDVAE, the table was made by {table_model(table)})")
    mirabest = rows_of(table, "mirabest:all")
    stems = pd.Index(mirabest["filename"].astype(str).str.removesuffix(".png"))
    targets = stems.get_indexer(cache["meta"]["id"].astype(str).str.removeprefix("folder:"))
    found = targets >= 0
    r = ranks(cache["codes"][found], code_matrix(mirabest), targets[found], metric)
    return {"files": int(found.sum()), "top1": float(np.mean(r == 1)), "median_rank": float(np.median(r))}


def duplicates(table: pd.DataFrame, metric: str, pixels: np.ndarray | None) -> dict:
    pool = find_duplicates(table, "pool", metric=metric)
    kinds = pool["kind"].value_counts()
    out = {"rule": rule_text(pool.attrs["rule"]), "pool": len(pool), **{k: int(v) for k, v in kinds.items()}}
    if pixels is not None and len(pool):
        ids = pd.Index(select(table, "pool")["id"].astype(str))
        a, b = ids.get_indexer(pool["id_a"].astype(str)), ids.get_indexer(pool["id_b"].astype(str))
        # high correlation alone proves little (2 % of all pool pairs exceed 0.9: compact
        # sources all look like the beam); being each other's pixel-nearest image does
        twins = (pixels[a] == b) | (pixels[b] == a)
        unknown = (pool["kind"] == "position unknown").to_numpy()
        out["pixel_nearest"] = int(twins.sum())
        out["unknown_pixel_nearest"] = f"{int(twins[unknown].sum())}/{int(unknown.sum())}"
    # MiraBest + Griese: the 30" pairs between them are the known answers
    both = pd.concat([rows_of(table, "mirabest:all"), rows_of(table, "first-galaxy:all")], ignore_index=True)
    both["set"] = "overlap"
    listed = find_duplicates(both, "overlap", metric=metric)
    known = len(sky_pairs(both, both)[0]) - len(both)  # every row matches itself once
    same = int((listed["kind"] == "same position").sum())
    out.update(
        {
            "overlap_listed": len(listed),
            "overlap_precision": same / max(len(listed), 1),
            "overlap_recall": same / max(known // 2, 1),
        }
    )
    return out


def label_agreement(table: pd.DataFrame, metric: str, k: int = 8) -> float:
    """Mean fraction of each MBC code's k nearest MBC codes (itself left out) that share its label."""
    mbc = rows_of(table, "mirabest:confident")
    codes, labels = code_matrix(mbc), mbc["label"].to_numpy()
    _, order = CodeIndex.build(codes, metric=metric).search(codes, k + 1)
    neighbours = np.array([[j for j in row if j != i][:k] for i, row in enumerate(order)])
    return float(np.mean(labels[neighbours] == labels[:, None]))


def pool_pixels(table: pd.DataFrame) -> np.ndarray:
    """Per pool row, the row whose model input has the highest pixel correlation with its own."""
    from radiolatent.data.inputs import load_images_for

    rows = select(table, "pool")
    images = load_images_for(rows).reshape(len(rows), -1).astype(np.float32)
    images -= images.mean(axis=1, keepdims=True)
    images /= np.maximum(np.linalg.norm(images, axis=1, keepdims=True), 1e-12)
    correlation = images @ images.T
    np.fill_diagonal(correlation, -np.inf)
    return correlation.argmax(axis=1)


def variant(kind: str, fit: np.ndarray):
    """A numpy transform of codes, fitted on `fit`, after which cosine is taken."""
    mean = fit.mean(axis=0)
    if kind == "centred":
        return lambda x: x - mean
    if kind == "standardised":
        return lambda x: (x - mean) / fit.std(axis=0)
    _, s, vt = np.linalg.svd(fit - mean, full_matrices=False)
    var = s**2 / (len(fit) - 1)
    if kind.startswith("pca-white-"):  # keep a fraction of the variance, no shrinkage
        n = int(np.searchsorted(np.cumsum(var) / var.sum(), float(kind.rsplit("-", 1)[1]) - 1e-9) + 1)
        return lambda x: (x - mean) @ vt[:n].T / np.sqrt(var[:n])
    shrink = float(kind.rsplit("-", 1)[1])  # "shrink-0.01"
    return lambda x: (x - mean) @ vt.T / np.sqrt(var + shrink * var.mean())


def variants(table: pd.DataFrame) -> None:
    mirabest, griese, mbc = (
        rows_of(table, "mirabest:all"),
        rows_of(table, "first-galaxy:all"),
        rows_of(table, "mirabest:confident"),
    )
    q, t = sky_pairs(mirabest, griese)
    labels = mbc["label"].to_numpy()

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    print("variant                 top1   median rank   MBC top-8 label agreement")
    for kind in (
        "centred",
        "standardised",
        "pca-white-0.95",
        "pca-white-0.99",
        "pca-white-1.0",
        "shrink-0.0",
        "shrink-0.001",
        "shrink-0.01",
        "shrink-0.1",
        "shrink-1.0",
    ):
        f = variant(kind, code_matrix(griese))
        sim = unit(f(code_matrix(mirabest)[q])) @ unit(f(code_matrix(griese))).T
        r = 1 + (sim > sim[np.arange(len(q)), t][:, None]).sum(axis=1)
        g = variant(kind, code_matrix(mbc))
        own = unit(g(code_matrix(mbc)))
        near = own @ own.T
        np.fill_diagonal(near, -np.inf)
        agree = np.mean(labels[np.argsort(-near, axis=1)[:, :8]] == labels[:, None])
        print(f"{kind:20s} {np.mean(r == 1):7.3f} {np.median(r):9.0f} {agree:14.3f}")


def write_fixture(table: pd.DataFrame, path: Path, every_query: int = 16, every_griese: int = 4) -> None:
    mirabest, griese = rows_of(table, "mirabest:all"), rows_of(table, "first-galaxy:all")
    q, t = sky_pairs(mirabest, griese)
    order = np.argsort(q, kind="stable")
    q, t = q[order][::every_query], t[order][::every_query]
    kept = np.union1d(t, np.arange(0, len(griese), every_griese))
    meta = pd.concat([mirabest.iloc[q], griese.iloc[kept]], ignore_index=True)
    columns = {
        c: meta[c].to_numpy() if pd.api.types.is_numeric_dtype(meta[c]) else meta[c].astype(str).to_numpy().astype(str)
        for c in ("id", "dataset", "split", "label", "label_name", "ra", "dec", "las_arcsec")
    }
    codes = np.concatenate([code_matrix(mirabest)[q], code_matrix(griese)[kept]]).astype(np.float16)
    np.savez_compressed(path, codes=codes, n_queries=len(q), **columns)
    print(f"wrote {path}: {len(q)} MiraBest queries, {len(kept)} Griese rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--codes", required=True, type=Path, help="codes table holding mbc, pool, first-galaxy and mirabest"
    )
    parser.add_argument("--fits", type=Path, default=None, help=f"folder of raw FIRST FITS (e.g. {SHARED_FITS})")
    parser.add_argument("--pixels", action="store_true", help="pixel correlation of the pool's duplicate pairs")
    parser.add_argument("--variants", action="store_true", help="also score the candidate transforms weighed")
    parser.add_argument(
        "--write-fixture", type=Path, default=None, metavar="NPZ", help="write the tests' real subset and stop"
    )
    args = parser.parse_args()
    table = read_codes(args.codes)
    if args.write_fixture is not None:
        return write_fixture(table, args.write_fixture)
    pixels = pool_pixels(table) if args.pixels else None
    cache: dict = {}
    rows = []
    for metric in SEARCH_METRICS:
        row = {
            "metric": metric,
            **{f"same_{k}": v for k, v in same_object(table, metric).items()},
            "mbc_top8_label_agreement": label_agreement(table, metric),
        }
        if args.fits is not None:
            row.update({f"fits_{k}": v for k, v in fits_queries(table, args.fits, metric, cache).items()})
        if metric in DUPLICATE_METRICS:
            row.update({f"dup_{k}": v for k, v in duplicates(table, metric, pixels).items()})
        rows.append(row)
        print(f"{metric} done", flush=True)
    result = pd.DataFrame(rows).set_index("metric").T
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(result.to_string())
    print("defaults:", "; ".join(f"{m}: {rule_text(duplicate_rule(m))}" for m in DUPLICATE_METRICS))
    if args.variants:
        variants(table)


if __name__ == "__main__":
    main()
