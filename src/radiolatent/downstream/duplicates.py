"""Duplicate finding ([B]): pairs of near-identical codes, and whether each pair is one
object cut twice (same sky position), of unknown position, or a look-alike."""

from __future__ import annotations

import faiss
import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_SEARCH, DUPLICATE_METRICS, SearchConfig
from radiolatent.core.errors import InputError
from radiolatent.downstream.code_index import _check_codes, _normalised, whitening

#: rows of queries handed to FAISS range_search at once (bounds its result memory).
_RANGE_CHUNK = 4096

#: duplicate kinds, in the order a person should look at them.
DUPLICATE_KINDS = ("same position", "position unknown", "look-alike")


def duplicate_rule(
    metric: str = DEFAULT_SEARCH.metric,
    threshold: float | None = None,
    margin: float | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
) -> dict:
    """The duplicate rule for `metric`, defaults filled in: {metric, threshold, margin}.

    whitened-cosine: mutual nearest neighbours, similarity >= threshold (0.8) and a
    margin of 0.1 over either code's next-nearest. cosine ([B]): every pair at or above
    0.99, no margin (margin None), as the paper did.
    """
    if metric not in DUPLICATE_METRICS:
        raise InputError("metric", f"duplicates need a similarity metric; choose one of {DUPLICATE_METRICS}")
    whitened = metric == "whitened-cosine"
    if threshold is None:
        threshold = config.duplicate_threshold if whitened else config.cosine_duplicate_threshold
    if margin is None and whitened:
        margin = config.duplicate_margin
    if not -1.0 <= threshold <= 1.0:
        raise InputError("threshold", f"a {metric} threshold must be in [-1, 1], got {threshold}")
    if margin is not None and not 0.0 <= margin <= 2.0:
        raise InputError("margin", f"must be in [0, 2], got {margin}")
    return {"metric": metric, "threshold": float(threshold), "margin": None if margin is None else float(margin)}


def rule_text(rule: dict) -> str:
    """A duplicate rule in words: 'with whitened-cosine >= 0.8, mutual nearest, margin >= 0.1'."""
    text = f"with {rule['metric']} >= {rule['threshold']:g}"
    if rule.get("margin") is not None:
        text += f", mutual nearest, margin >= {rule['margin']:g}"
    if rule.get("by_position"):
        text += f', or within {rule["radius_arcsec"]:g}" on the sky'
    return text


def find_duplicates(
    table: pd.DataFrame,
    spec: str,
    threshold: float | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
    metric: str = DEFAULT_SEARCH.metric,
    margin: float | None = None,
    by_position: bool = DEFAULT_SEARCH.duplicates_by_position,
) -> pd.DataFrame:
    """Pairs of rows in `spec` that show one object twice: near-identical codes under
    `duplicate_rule` ([B]) and, with `by_position`, every pair of rows whose positions lie
    within `config.duplicate_separation_arcsec` (another epoch, another cutout service, a
    mosaic overlap), whatever their codes.

    Why both: a source observed twice is at one position by definition, but its codes can
    differ (noise, variability, artefacts), while unrelated compact sources all look like
    the beam, so codes alone cannot tell a repeat from a look-alike (docs/discovery.md).
    Codes find what positions cannot: rows without positions, or one object catalogued
    twice at positions farther apart.

    Columns: id_a, id_b, similarity (under `metric`, for every pair), margin (over either
    code's next-nearest; NaN unless found by a margin rule), separation_arcsec (NaN unless
    both positions are known), found_by ("codes", "position" or "codes+position"), kind,
    dataset_a/_b, label_name_a/_b, metric. `kind`: "same position" (one object twice),
    "position unknown" (matched by code alone), "look-alike" (codes alike, elsewhere on the
    sky). Sorted by kind in that order, then most similar first. `out.attrs["rule"]` holds
    the rule used.
    """
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.data.pools import position_pairs

    rule = duplicate_rule(metric, threshold, margin, config)
    if by_position:
        rule.update(by_position=True, radius_arcsec=float(config.duplicate_separation_arcsec))
    rows = select(table, spec)
    vectors = similarity_vectors(code_matrix(rows), metric, config)
    found = _pairs_found(similar_pairs(vectors, rule["threshold"], margin=rule["margin"]), "codes")
    if by_position:
        near_a, near_b = position_pairs(rows, config.duplicate_separation_arcsec)
        near = {"a": near_a, "b": near_b, "margin": np.full(len(near_a), np.nan)}
        found = _merge(found, _pairs_found(near, "position"))
    a = rows.iloc[found["a"]].reset_index(drop=True)
    b = rows.iloc[found["b"]].reset_index(drop=True)
    similarity = np.einsum("ij,ij->i", vectors[found["a"]], vectors[found["b"]])
    out = pd.DataFrame({"id_a": a["id"], "id_b": b["id"], "similarity": similarity, "margin": found["margin"]})
    separation = sky_separation_arcsec(a["ra"], a["dec"], b["ra"], b["dec"])
    out["separation_arcsec"] = separation
    out["found_by"] = found["found_by"]
    out["kind"] = np.select(
        [separation <= config.duplicate_separation_arcsec, np.isnan(separation)],
        DUPLICATE_KINDS[:2],
        DUPLICATE_KINDS[2],
    )
    for col in ("dataset", "label_name"):
        out[f"{col}_a"], out[f"{col}_b"] = a[col].to_numpy(), b[col].to_numpy()
    out["metric"] = metric
    order = out["kind"].map(DUPLICATE_KINDS.index)
    out = (
        out.assign(_order=order)
        .sort_values(["_order", "similarity"], ascending=[True, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    out.attrs["rule"] = rule
    return out


def _pairs_found(pairs: dict[str, np.ndarray], how: str) -> pd.DataFrame:
    return pd.DataFrame({"a": pairs["a"], "b": pairs["b"], "margin": pairs["margin"], "found_by": how})


def _merge(codes: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """Both lists of pairs as one, each pair once; a pair in both is found by 'codes+position'."""
    both = codes.merge(positions[["a", "b"]], on=["a", "b"], how="left", indicator=True)
    codes = codes.assign(found_by=np.where(both["_merge"] == "both", "codes+position", "codes"))
    only_positions = positions.merge(codes[["a", "b"]], on=["a", "b"], how="left", indicator=True)
    positions = positions[(only_positions["_merge"] == "left_only").to_numpy()]
    return pd.concat([codes, positions], ignore_index=True)


def similarity_vectors(codes: np.ndarray, metric: str, config: SearchConfig = DEFAULT_SEARCH) -> np.ndarray:
    """Codes as unit vectors whose dot products are their similarity under `metric`:
    whitened on these codes first for whitened-cosine, raw for cosine ([B])."""
    vectors = _check_codes(codes, "codes")
    if metric == "whitened-cosine":
        for transform in whitening(vectors, config):
            vectors = transform.apply(vectors)
        return vectors
    if metric == "cosine":
        return _normalised(vectors)
    raise InputError("metric", f"duplicates need a similarity metric; choose one of {DUPLICATE_METRICS}")


def similar_pairs(vectors: np.ndarray, threshold: float, margin: float | None = None) -> dict[str, np.ndarray]:
    """Pairs i < j of unit vectors (`similarity_vectors`) whose dot product is >= threshold.

    margin None: every such pair, by exact range search. A margin: only mutual nearest
    neighbours whose similarity beats both codes' next-nearest by at least `margin`
    (then "margin" holds that gap; otherwise NaN).
    """
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    if margin is not None:
        return _mutual_pairs(index, vectors, threshold, margin)
    found_a, found_b, found_s = [], [], []
    for start in range(0, len(vectors), _RANGE_CHUNK):
        # range_search keeps scores strictly above the radius; nudge it so >= holds
        lims, scores, ids = index.range_search(
            vectors[start : start + _RANGE_CHUNK], float(np.nextafter(threshold, -2))
        )
        a = start + np.repeat(np.arange(len(lims) - 1), np.diff(lims).astype(np.int64))
        upper = ids > a  # each pair once, never a row with itself
        found_a.append(a[upper])
        found_b.append(ids[upper])
        found_s.append(scores[upper])
    similarity = np.concatenate(found_s).astype(np.float32)
    return {
        "a": np.concatenate(found_a).astype(np.int64),
        "b": np.concatenate(found_b).astype(np.int64),
        "similarity": similarity,
        "margin": np.full(len(similarity), np.nan, dtype=np.float32),
    }


def _mutual_pairs(index: faiss.Index, vectors: np.ndarray, threshold: float, margin: float) -> dict[str, np.ndarray]:
    """Mutual nearest neighbours at or above `threshold` that beat both next-nearest by `margin`."""
    n = len(vectors)
    nearest = np.full(n, -1, dtype=np.int64)
    best = np.full(n, -np.inf, dtype=np.float32)
    second = np.full(n, -np.inf, dtype=np.float32)
    for start in range(0, n, _RANGE_CHUNK):
        scores, ids = index.search(vectors[start : start + _RANGE_CHUNK], min(3, n))
        rows = start + np.arange(len(ids))
        # the row itself is normally first, but an exact twin can tie with it: drop it wherever it is
        other = (ids != rows[:, None]) & (ids >= 0)
        first_two = np.argsort(~other, axis=1, kind="stable")[:, :2]
        picked = np.take_along_axis(other, first_two, 1)
        got_ids = np.take_along_axis(ids, first_two, 1)
        got = np.take_along_axis(scores, first_two, 1)
        nearest[rows] = np.where(picked[:, 0], got_ids[:, 0], -1)
        best[rows] = np.where(picked[:, 0], got[:, 0], -np.inf)
        if first_two.shape[1] > 1:
            second[rows] = np.where(picked[:, 1], got[:, 1], -np.inf)
    a = np.flatnonzero((nearest >= 0) & (nearest > np.arange(n)))
    b = nearest[a]
    mutual = nearest[b] == a
    a, b = a[mutual], b[mutual]
    similarity = best[a]
    gap = similarity - np.maximum(second[a], second[b])
    keep = (similarity >= threshold) & (gap >= margin)
    return {"a": a[keep], "b": b[keep], "similarity": similarity[keep], "margin": gap[keep].astype(np.float32)}


def sky_separation_arcsec(ra_a, dec_a, ra_b, dec_b) -> np.ndarray:
    """Great-circle separations in arcsec (astropy); NaN where either position is unknown."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ra_a, dec_a, ra_b, dec_b = (np.asarray(v, dtype=np.float64) for v in (ra_a, dec_a, ra_b, dec_b))
    out = np.full(ra_a.shape, np.nan)
    known = np.isfinite(ra_a) & np.isfinite(dec_a) & np.isfinite(ra_b) & np.isfinite(dec_b)
    if known.any():
        first = SkyCoord(ra=ra_a[known] * u.deg, dec=dec_a[known] * u.deg)
        second = SkyCoord(ra=ra_b[known] * u.deg, dec=dec_b[known] * u.deg)
        out[known] = first.separation(second).to_value(u.arcsec)
    return out
