"""Small synthetic codes for the downstream tests (tests/downstream/, tests/cli/): a planted
interesting cluster with its oracle and codes table (anomaly search), and curved data a
Gaussian cannot capture (density)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord

from radiolatent.config import DEFAULT_ACTIVE, preset
from radiolatent.data.codes import make_codes_table
from radiolatent.downstream.oracles import ColumnOracle

SMALL = dataclasses.replace(DEFAULT_ACTIVE, budget=40, n_restarts=0)
TINY = preset("density", "tiny")


def planted(n: int = 600, d: int = 12, cluster: int = 25, seed: int = 0):
    """Background codes plus a small tight cluster of interesting ones off to one side."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    centre = np.zeros(d)
    centre[:3] = 3.0
    x[:cluster] = centre + 0.3 * rng.normal(size=(cluster, d))
    interesting = np.zeros(n, dtype=bool)
    interesting[:cluster] = True
    order = rng.permutation(n)  # the cluster is not at the start of the table
    return x[order], interesting[order]


class CountingOracle(ColumnOracle):
    """Column oracle that records what it was asked and can stop after `stop_after` answers."""

    def __init__(self, interesting, stop_after: int | None = None):
        super().__init__(interesting)
        self.asked: list[int] = []
        self.stop_after = stop_after

    def __call__(self, row: int):
        if self.stop_after is not None and len(self.asked) >= self.stop_after:
            return None
        self.asked.append(row)
        return super().__call__(row)


def table_for(x: np.ndarray, interesting: np.ndarray) -> pd.DataFrame:
    n = len(x)
    meta = pd.DataFrame(
        {
            "id": [f"pool-{i}" for i in range(n)],
            "dataset": "first-galaxy",
            "split": "train",
            "label": np.where(interesting, 3, 0),
            "label_name": np.where(interesting, "Bent", "FRI"),
            "ra": 150.0,
            "dec": 2.0,
            "las_arcsec": 30.0,
            "redshift": np.nan,
            "survey": "FIRST",
            "pixel_scale_arcsec": 1.8,
        }
    )
    return make_codes_table(meta, x.astype(np.float32), "pool", "test-model")


def banana(n: int, seed: int = 0) -> np.ndarray:
    """Standardised 4-d data with a curved dependency a Gaussian cannot capture."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a**2 + 0.2 * rng.normal(size=n)
    c = np.sin(2 * a) + 0.1 * rng.normal(size=n)
    x = np.stack([a, b, c, rng.normal(size=n)], axis=1)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def random_codes(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered_codes(n: int, d: int = 32, centres: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, d)) * 5
    return (means[rng.integers(0, centres, n)] + rng.normal(size=(n, d))).astype(np.float32)


def table_of(codes: np.ndarray, dataset: str, split: str = "all", ra=None, dec=None) -> pd.DataFrame:
    n = len(codes)
    meta = pd.DataFrame(
        {
            "id": [f"{dataset}-{i}" for i in range(n)],
            "dataset": dataset,
            "split": split,
            "label": np.arange(n) % 2,
            "label_name": np.where(np.arange(n) % 2, "FRII", "FRI"),
            "ra": np.full(n, np.nan) if ra is None else ra,
            "dec": np.full(n, np.nan) if dec is None else dec,
            "las_arcsec": np.linspace(10, 100, n),
            "redshift": np.nan,
            "survey": "FIRST",
            "pixel_scale_arcsec": 1.8,
        }
    )
    return make_codes_table(meta, codes, dataset, "test-model")


# Real codes: the shipped VDVAE's (8 orientations) on MiraBest sources that the FIRST
# Radio Galaxy Dataset (Griese) also holds, matched within 30". Written by
# `benchmarks/search_quality.py --write-fixture` (every 16th such source, its Griese
# twin, and every 4th Griese source; float16 codes).
REAL = Path(__file__).parent / "data" / "search_codes_mirabest_griese.npz"


def real_mirabest_griese():
    """The codes table of REAL, the MiraBest query ids and each one's Griese twin id."""
    data = np.load(REAL)
    meta = pd.DataFrame(
        {c: data[c] for c in ("id", "dataset", "split", "label", "label_name", "ra", "dec", "las_arcsec")}
    )
    meta = meta.assign(redshift=np.nan, survey="FIRST", pixel_scale_arcsec=1.8)
    n = int(data["n_queries"])
    codes = data["codes"].astype(np.float32)
    table = pd.concat(
        [
            make_codes_table(meta.iloc[:n].reset_index(drop=True), codes[:n], "mirabest:all", "vdvae-cpu+d8"),
            make_codes_table(meta.iloc[n:].reset_index(drop=True), codes[n:], "first-galaxy:all", "vdvae-cpu+d8"),
        ],
        ignore_index=True,
    )
    queries, griese = table.iloc[:n], table.iloc[n:].reset_index(drop=True)
    twin = SkyCoord(queries["ra"].to_numpy() * u.deg, queries["dec"].to_numpy() * u.deg).match_to_catalog_sky(
        SkyCoord(griese["ra"].to_numpy() * u.deg, griese["dec"].to_numpy() * u.deg)
    )
    assert (twin[1].arcsec <= 30).all(), "every query's twin is in the Griese rows"
    return table, queries["id"].tolist(), griese["id"].iloc[twin[0]].tolist()
