"""Repeat observations of one source: does `duplicates` find them, and only them?

Usage: python benchmarks/repeat_observations.py [--vlass ../shared/data/vlass_epochs]

The folder holds VLASS Quick Look cutouts of sources seen in 2-3 epochs, named
`J<ra><dec>_ep<epoch>.fits.gz`; files whose name positions agree within 5" are one source
(the truth, read from the names, not from what the tool computes). The folder is embedded
as a user would (`embed --data vlass=folder@DIR --survey VLASS`) and `duplicates` is run
with its defaults and with codes alone (`--no-by-position`, [B]'s way) for the shipped
VDVAE (8 orientations and single pass) and the no-learning pixels-pca floor. For each:

* pair recall: the fraction of true pairs (two epochs of one source) reported;
* source recall: the fraction of multi-epoch sources whose epochs are all linked;
* precision: the fraction of reported pairs that are two epochs of one source;
* `search` from each file: the fraction whose other epochs are all listed first.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from radiolatent.config import DEFAULT_POOL, EmbedConfig, FolderConfig
from radiolatent.data.codes import select
from radiolatent.downstream.duplicates import find_duplicates
from radiolatent.downstream.search import search_table
from radiolatent.embedding import embed

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "vlass_epochs"
NAME = re.compile(r"J(\d+\.\d+)([+-]\d+\.\d+)_ep")


def truth(rows: pd.DataFrame) -> np.ndarray:
    """Each row's source number, from the position in its file name (5" match)."""
    parsed = [NAME.search(name) for name in rows["filename"]]
    ra = np.array([float(m.group(1)) for m in parsed if m])
    dec = np.array([float(m.group(2)) for m in parsed if m])
    assert len(ra) == len(rows), "every file name carries a position"
    coords = SkyCoord(ra * u.deg, dec * u.deg)
    i, j, _, _ = coords.search_around_sky(coords, 5 * u.arcsec)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(rows), len(rows)))
    return connected_components(graph, directed=False)[1]


def score(pairs: pd.DataFrame, rows: pd.DataFrame, source: np.ndarray) -> dict:
    at = {name: k for k, name in enumerate(rows["id"])}
    a = np.array([at[x] for x in pairs["id_a"]], dtype=int)
    b = np.array([at[x] for x in pairs["id_b"]], dtype=int)
    right = source[a] == source[b]
    sizes = np.bincount(source)
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    linked = connected_components(
        coo_matrix((np.ones(int(right.sum())), (a[right], b[right])), shape=(len(rows), len(rows))), directed=False
    )[1]
    multi = np.flatnonzero(sizes > 1)
    whole = [len(set(linked[source == s])) == 1 for s in multi]
    return {
        "reported pairs": len(pairs),
        "pair recall": right.sum() / true_pairs,
        "source recall": float(np.mean(whole)),
        "precision": float(right.mean()) if len(pairs) else float("nan"),
    }


def search_first(table: pd.DataFrame, rows: pd.DataFrame, source: np.ndarray, folder: Path) -> float:
    """Fraction of files whose search (from the file) lists all their other epochs first."""
    hits = []
    for k, name in enumerate(rows["filename"]):
        others = set(rows["id"][(source == source[k]) & (np.arange(len(rows)) != k)])
        result, _ = search_table(table, str(folder / name), "vlass", k=3)
        shown = result[result["id"] != rows["id"].iloc[k]]
        hits.append(set(shown["id"].head(len(others))) == others)
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vlass", type=Path, default=SHARED)
    parser.add_argument("--search", action="store_true", help="also time search from every file (slow)")
    args = parser.parse_args()
    pool = replace(DEFAULT_POOL, folder=FolderConfig(survey="VLASS"))
    spec = f"vlass=folder@{args.vlass}"
    tables = {
        "vdvae-cpu +d8 (embed's default)": embed(None, [spec], EmbedConfig(), pool, progress=False),
        "vdvae-cpu single pass": embed(None, [spec], EmbedConfig(dihedral_average=False), pool, progress=False),
        "pixels-pca floor +d8": embed("pixels-pca", [spec], EmbedConfig(), pool, progress=False),
    }
    rows = select(next(iter(tables.values())), "vlass")
    source = truth(rows)
    print(
        f"{len(rows)} cutouts of {source.max() + 1} sources; {int((np.bincount(source) > 1).sum())} seen twice or more"
    )
    results = []
    for name, table in tables.items():
        for by_position in (True, False):
            start = time.perf_counter()
            pairs = find_duplicates(table, "vlass", by_position=by_position)
            how = "duplicates (defaults: codes or position)" if by_position else "codes alone (--no-by-position)"
            results.append({"codes": name, "rule": how, **score(pairs, rows, source)})
            results[-1]["seconds"] = time.perf_counter() - start
    print(pd.DataFrame(results).round(3).to_string(index=False))
    if args.search:
        table = next(iter(tables.values()))
        print(
            f"search from each file lists its other epochs first: {search_first(table, rows, source, args.vlass):.3f}"
        )


if __name__ == "__main__":
    main()
