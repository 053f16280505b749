"""Similarity search over codes with FAISS (whitened cosine, [A] cosine, [C] Euclidean
after PCA) and duplicate finding ([B]).

Scores: for `whitened-cosine` and `cosine` the score is a cosine similarity (higher =
more alike, 1 for the same direction); for `euclidean-pca` it is the Euclidean distance
in the PCA space (lower = more alike, 0 for the same point).

`whitened-cosine` (the default) is the cosine after PCA-whitening fitted on the searched
set: codes are centred on its mean, rotated onto its principal axes and each axis scaled
to unit variance (plus `SearchConfig.whiten_shrink` of the mean variance). Raw codes
share one large direction and keep most variance in a few dimensions, so raw cosine
calls nearly every pair alike; whitening weighs each direction by how much it tells
sources apart. benchmarks/search_quality.py measures both (docs/results.md).

Sets of up to `SearchConfig.exact_threshold` rows get an exact flat index. Larger sets
get IVF-Flat: k-means cells of the codes (nlist = sqrt(N)), of which `nprobe` are
scanned per query. IVF-Flat was chosen over HNSW because it builds in seconds rather
than minutes on two cores, uses no more memory than the flat index, and its recall is
tuned by one number at query time. benchmarks/search_faiss.py on 1M x 256 codes, 2
threads: nprobe 64 (the default) gives recall@10 1.00 on clustered codes at ~4-8 ms per
query, but only 0.27 on structureless Gaussian noise (0.60 at nprobe 256); the exact
index needs ~25 ms per query batched and 0.15-0.4 s for a lone query, memory-bound.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_SEARCH, DUPLICATE_METRICS, SEARCH_METRICS, SearchConfig
from radiolatent.errors import InputError
from radiolatent.fileio import atomic_path
from radiolatent.downstream.maps import n_components_for, pca_variance

#: columns of a search result, after rank/id/score (`metric` says how scores were made).
RESULT_COLUMNS = ("label_name", "las_arcsec", "ra", "dec", "dataset", "metric")
#: metrics whose score is a similarity (higher = more alike).
SIMILARITY_METRICS = ("whitened-cosine", "cosine")
#: rows of queries handed to FAISS range_search at once (bounds its result memory).
_RANGE_CHUNK = 4096


def codes_hash(codes: np.ndarray) -> str:
    """Short content hash of a code matrix: a cached index is reused only for the same codes."""
    codes = np.ascontiguousarray(codes, dtype=np.float32)
    digest = hashlib.blake2b(codes.tobytes(), digest_size=16)
    digest.update(str(codes.shape).encode())
    return digest.hexdigest()


def _check_codes(codes: np.ndarray, source: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) == 0 or codes.shape[1] == 0:
        raise InputError(source, f"expected a non-empty (rows, dims) code matrix, got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise InputError(source, "codes contain NaN or infinite values")
    return np.ascontiguousarray(codes, dtype=np.float32)


def _normalised(codes: np.ndarray) -> np.ndarray:
    out = np.array(codes, dtype=np.float32, copy=True, order="C")
    faiss.normalize_L2(out)
    return out


class CodeIndex:
    """A FAISS index over one code matrix, with the facts needed to tell if it is stale."""

    def __init__(self, index: faiss.Index, info: dict):
        self.index = index
        self.info = info
        self._apply_nprobe()

    @property
    def metric(self) -> str:
        return self.info["metric"]

    @property
    def exact(self) -> bool:
        return self.info["exact"]

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        codes: np.ndarray,
        metric: str = DEFAULT_SEARCH.metric,
        exact_threshold: int | None = None,
        config: SearchConfig = DEFAULT_SEARCH,
    ) -> "CodeIndex":
        """Index `codes` (N, d): exact up to `exact_threshold` rows, IVF-Flat above."""
        if metric not in SEARCH_METRICS:
            raise InputError(metric, f"unknown search metric; choose one of {SEARCH_METRICS}")
        codes = _check_codes(codes, "codes")
        threshold = config.exact_threshold if exact_threshold is None else exact_threshold
        exact = len(codes) <= threshold
        vectors, transforms, dim = _prepare(codes, metric, config)
        base = _flat(dim, metric) if exact else _ivf(dim, metric, len(codes), config)
        index = base
        if transforms:
            index = faiss.IndexPreTransform(base)
            for transform in reversed(transforms):
                index.prepend_transform(transform)
        if not index.is_trained:
            index.train(_training_sample(vectors, config))
        index.add(vectors)
        info = {
            "metric": metric,
            "n": int(codes.shape[0]),
            "d": int(codes.shape[1]),
            "codes_hash": codes_hash(codes),
            "exact": bool(exact),
            "nprobe": int(config.nprobe),
            "search_dim": int(dim),
            "faiss_version": faiss.__version__,
        }
        if metric == "whitened-cosine":
            info["whiten_shrink"] = float(config.whiten_shrink)
        return cls(index, info)

    def _apply_nprobe(self) -> None:
        if not self.info.get("exact", True):
            faiss.extract_index_ivf(self.index).nprobe = int(self.info["nprobe"])

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, row indices) for each query row; see the module doc for scores."""
        query = _check_codes(np.atleast_2d(query), "query")
        if query.shape[1] != self.info["d"]:
            raise InputError("query", f"has {query.shape[1]} dims, the index has {self.info['d']}")
        if k < 1:
            raise InputError("k", f"must be at least 1, got {k}")
        k = min(k, len(self))
        if self.metric == "cosine":
            query = _normalised(query)
        scores, indices = self.index.search(query, k)
        if self.metric == "euclidean-pca":
            scores = np.sqrt(np.clip(scores, 0.0, None))
        return scores, indices

    def is_current(self, codes: np.ndarray, metric: str, config: SearchConfig = DEFAULT_SEARCH) -> bool:
        """True when this index was built from exactly these codes with this metric (and whitening)."""
        return (
            self.info.get("metric") == metric
            and (metric != "whitened-cosine" or self.info.get("whiten_shrink") == float(config.whiten_shrink))
            and self.info.get("n") == len(codes)
            and self.info.get("d") == codes.shape[1]
            and self.info.get("codes_hash") == codes_hash(codes)
        )

    def save(self, path: str | Path) -> Path:
        """Write the index (faiss.write_index) and its JSON sidecar `<path>.json`."""
        path = Path(path)
        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))
        with atomic_path(sidecar_path(path)) as tmp:
            tmp.write_text(json.dumps(self.info, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CodeIndex":
        """Read an index saved by `save`; InputError when it or its sidecar is unreadable."""
        path = Path(path)
        side = sidecar_path(path)
        if not path.is_file() or not side.is_file():
            raise InputError(path, "no saved index (index file and .json sidecar are both needed)")
        try:
            info = json.loads(side.read_text())
            index = faiss.read_index(str(path))
        except (ValueError, RuntimeError) as exc:
            raise InputError(path, f"unreadable saved index ({exc.__class__.__name__})") from exc
        if not isinstance(info, dict) or "metric" not in info or index.ntotal != info.get("n"):
            raise InputError(side, "sidecar does not describe this index")
        return cls(index, info)

    @classmethod
    def cached(
        cls,
        codes: np.ndarray,
        path: str | Path,
        metric: str = DEFAULT_SEARCH.metric,
        config: SearchConfig = DEFAULT_SEARCH,
    ) -> "CodeIndex":
        """Load the index at `path` if it was built from these codes, else build and save it."""
        codes = _check_codes(codes, "codes")
        try:
            index = cls.load(path)
            if index.is_current(codes, metric, config):
                index.info["nprobe"] = int(config.nprobe)
                index._apply_nprobe()
                return index
        except InputError:
            pass  # missing or stale cache: rebuild below
        index = cls.build(codes, metric=metric, config=config)
        index.save(path)
        return index


def sidecar_path(path: str | Path) -> Path:
    """The JSON file describing a saved index."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _prepare(codes: np.ndarray, metric: str, config: SearchConfig):
    """Vectors to add, the transforms FAISS applies to them and to queries, and the dimension searched."""
    if metric == "cosine":
        return _normalised(codes), [], codes.shape[1]
    if metric == "whitened-cosine":
        transforms = whitening(_training_sample(codes, config), config)
        return codes, transforms, transforms[0].d_out
    n = n_components_for(pca_variance(codes)["explained"], config.pca_variance)
    pca = faiss.PCAMatrix(codes.shape[1], n)
    return codes, [pca], n


def whitening(codes: np.ndarray, config: SearchConfig = DEFAULT_SEARCH) -> list:
    """Trained FAISS transforms [PCA-whitening, L2 normalisation] fitted on `codes`.

    Every principal axis is kept (at most rows - 1 of them: a small set spans no more);
    axis i is divided by sqrt(variance_i + shrink * mean variance), so directions the
    set barely uses are not blown up into noise.
    """
    codes = np.ascontiguousarray(codes, dtype=np.float32)
    n = max(1, min(codes.shape[1], len(codes) - 1))
    pca = faiss.PCAMatrix(codes.shape[1], n, -0.5)
    pca.train(codes)
    eigen = faiss.vector_to_array(pca.eigenvalues)[:n]
    # FAISS scales its eigenvalues with the row count; the shrink is relative, so that cancels.
    # The tiny floor keeps a set of identical codes (all variances 0) finite.
    pca.epsilon = float(config.whiten_shrink * max(eigen.mean(), 0.0)) or 1e-12
    pca.prepare_Ab()
    return [pca, faiss.NormalizationTransform(n, 2.0)]


def _flat(dim: int, metric: str) -> faiss.Index:
    return faiss.IndexFlatIP(dim) if metric in SIMILARITY_METRICS else faiss.IndexFlatL2(dim)


def _ivf(dim: int, metric: str, n: int, config: SearchConfig) -> faiss.Index:
    nlist = max(1, int(config.nlist_per_sqrt_n * math.sqrt(n)))
    quantizer = _flat(dim, metric)
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric in SIMILARITY_METRICS else faiss.METRIC_L2
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
    index.cp.seed = config.seed
    # FAISS's Python wrapper keeps a reference to the quantizer, so it outlives this call
    return index


def _training_sample(vectors: np.ndarray, config: SearchConfig) -> np.ndarray:
    """Rows for training k-means / PCA: a seeded subsample keeps training fast at 1M rows."""
    nlist = max(1, int(config.nlist_per_sqrt_n * math.sqrt(len(vectors))))
    n_train = min(len(vectors), max(nlist * config.train_points_per_list, 10_000))
    if n_train == len(vectors):
        return vectors
    rows = np.sort(np.random.default_rng(config.seed).choice(len(vectors), n_train, replace=False))
    return np.ascontiguousarray(vectors[rows])


# ---------------------------------------------------------------------------
# Searches over codes tables
# ---------------------------------------------------------------------------


def query_vector(table: pd.DataFrame, query, d: int) -> tuple[np.ndarray, str | None]:
    """The query's code and id: an id is looked up in `table` (any set), a vector is used as is."""
    from radiolatent.codes import code_matrix

    if isinstance(query, str):
        rows = table[table["id"].astype(str) == query]
        if rows.empty:
            raise InputError(table.attrs.get("source", "codes table"), f"no row with id '{query}'")
        return code_matrix(rows.iloc[:1]), query
    vector = np.asarray(query, dtype=np.float32).reshape(1, -1)
    if vector.shape[1] != d:
        raise InputError("query", f"vector has {vector.shape[1]} dims, the codes have {d}")
    return vector, None


def similar(
    table: pd.DataFrame,
    query,
    in_spec: str,
    k: int = DEFAULT_SEARCH.k,
    metric: str = DEFAULT_SEARCH.metric,
    exclude_self: bool = False,
    index_path: str | Path | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
) -> pd.DataFrame:
    """The k rows of `in_spec` most like `query` (an id anywhere in `table`, or a code vector).

    Returns rank (1 = best), id, score, label_name, las_arcsec, ra, dec, dataset. With
    `exclude_self`, a query id that is itself in the searched set is left out of the
    results. `index_path`, when given, caches the index there (rebuilt if stale).
    """
    from radiolatent.codes import code_matrix, select

    searched = select(table, in_spec)
    codes = code_matrix(searched)
    vector, query_id = query_vector(table, query, codes.shape[1])
    if index_path is not None:
        index = CodeIndex.cached(codes, index_path, metric=metric, config=config)
    else:
        index = CodeIndex.build(codes, metric=metric, config=config)
    drop_self = exclude_self and query_id is not None and (searched["id"].astype(str) == query_id).any()
    scores, rows = index.search(vector, k + 1 if drop_self else k)
    keep = rows[0] >= 0  # FAISS pads with -1 when IVF cells hold too few rows
    result = searched.iloc[rows[0][keep]].reset_index(drop=True)
    result.insert(0, "score", scores[0][keep])
    if drop_self:
        result = result[result["id"].astype(str) != query_id]
    result = result.head(k).reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1))
    result["metric"] = metric
    columns = ["rank", "id", "score", *RESULT_COLUMNS]
    return result[[c for c in columns if c in result.columns]]


#: duplicate kinds, in the order a person should look at them.
DUPLICATE_KINDS = ("same position", "position unknown", "look-alike")


def duplicate_rule(metric: str = DEFAULT_SEARCH.metric, threshold: float | None = None,
                   margin: float | None = None, config: SearchConfig = DEFAULT_SEARCH) -> dict:
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
    return text


def find_duplicates(
    table: pd.DataFrame,
    spec: str,
    threshold: float | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
    metric: str = DEFAULT_SEARCH.metric,
    margin: float | None = None,
) -> pd.DataFrame:
    """Pairs of rows in `spec` whose codes are near-identical under `duplicate_rule` ([B]).

    Columns: id_a, id_b, similarity, margin (over either code's next-nearest; NaN when
    the rule has no margin), separation_arcsec (NaN unless both positions are known),
    kind, dataset_a/_b, label_name_a/_b, metric. `kind` tells a true duplicate from a
    look-alike: "same position" (within `config.duplicate_separation_arcsec`: one object
    cut twice), "position unknown" (e.g. FR-DEEP, matched by code alone), "look-alike"
    (elsewhere on the sky). Sorted by kind in that order, then most similar first. Exact
    search. `out.attrs["rule"]` holds the rule used.
    """
    from radiolatent.codes import code_matrix, select

    rule = duplicate_rule(metric, threshold, margin, config)
    rows = select(table, spec)
    pairs = similar_pairs(code_matrix(rows), rule["threshold"], metric=metric, margin=rule["margin"], config=config)
    a = rows.iloc[pairs["a"]].reset_index(drop=True)
    b = rows.iloc[pairs["b"]].reset_index(drop=True)
    out = pd.DataFrame({"id_a": a["id"], "id_b": b["id"], "similarity": pairs["similarity"], "margin": pairs["margin"]})
    separation = sky_separation_arcsec(a["ra"], a["dec"], b["ra"], b["dec"])
    out["separation_arcsec"] = separation
    out["kind"] = np.select([separation <= config.duplicate_separation_arcsec, np.isnan(separation)],
                            DUPLICATE_KINDS[:2], DUPLICATE_KINDS[2])
    for col in ("dataset", "label_name"):
        out[f"{col}_a"], out[f"{col}_b"] = a[col].to_numpy(), b[col].to_numpy()
    out["metric"] = metric
    order = out["kind"].map(DUPLICATE_KINDS.index)
    out = out.assign(_order=order).sort_values(["_order", "similarity"], ascending=[True, False],
                                               kind="stable").drop(columns="_order").reset_index(drop=True)
    out.attrs["rule"] = rule
    return out


def similar_pairs(codes: np.ndarray, threshold: float, metric: str = "cosine", margin: float | None = None,
                  config: SearchConfig = DEFAULT_SEARCH) -> dict[str, np.ndarray]:
    """Pairs i < j with similarity(codes[i], codes[j]) >= threshold under `metric`.

    margin None: every such pair, by exact range search. A margin: only mutual nearest
    neighbours whose similarity beats both codes' next-nearest by at least `margin`
    (then "margin" holds that gap; otherwise NaN).
    """
    vectors = _check_codes(codes, "codes")
    if metric == "whitened-cosine":
        for transform in whitening(vectors, config):
            vectors = transform.apply(vectors)
    elif metric == "cosine":
        vectors = _normalised(vectors)
    else:
        raise InputError("metric", f"duplicates need a similarity metric; choose one of {DUPLICATE_METRICS}")
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    if margin is not None:
        return _mutual_pairs(index, vectors, threshold, margin)
    found_a, found_b, found_s = [], [], []
    for start in range(0, len(vectors), _RANGE_CHUNK):
        # range_search keeps scores strictly above the radius; nudge it so >= holds
        lims, scores, ids = index.range_search(vectors[start : start + _RANGE_CHUNK], float(np.nextafter(threshold, -2)))
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


def result_captions(result: pd.DataFrame, metric: str = DEFAULT_SEARCH.metric) -> list[str]:
    """One caption per result row: rank, score and label."""
    name = "sim" if metric in SIMILARITY_METRICS else "dist"
    labels = result["label_name"].fillna("").astype(str).replace("", "?") if "label_name" in result else ["?"] * len(result)
    return [f"#{rank} {name} {score:.3f}\n{label}" for rank, score, label in zip(result["rank"], result["score"], labels)]


def search_grid(
    query_image: np.ndarray,
    result_images: np.ndarray,
    captions: list[str],
    path: str | Path,
    query_caption: str = "query",
    title: str | None = None,
) -> Path:
    """Image grid: the query first, then each match with its caption (score, label)."""
    query_image = np.asarray(query_image)
    result_images = np.asarray(result_images)
    if query_image.ndim != 2 or result_images.ndim != 3 or result_images.shape[1:] != query_image.shape:
        raise InputError(path, f"query {query_image.shape} and results {result_images.shape} are not matching 2-D images")
    if len(captions) != len(result_images):
        raise InputError(path, f"{len(result_images)} result images but {len(captions)} captions")
    images = np.concatenate([query_image[None], result_images]).astype(np.uint8)
    labels = [query_caption, *captions]
    from radiolatent.data.grid import image_grid

    return image_grid(images, labels, path, title=title)


# ---------------------------------------------------------------------------
# On a codes table: `radiolatent search` and the study's search stage
# ---------------------------------------------------------------------------

#: endings of the image files a search query may name (a query ending so is a file name).
QUERY_FILE_SUFFIXES = (".fits", ".fit", ".fts", ".fz", ".png", ".jpg", ".jpeg", ".npy", ".gz")


def index_path(codes_path: str | Path, spec: str, metric: str) -> Path:
    """Where the FAISS index of a codes table's set is cached: beside the table, one per
    searched set and metric."""
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec)
    path = Path(codes_path)
    return path.with_name(f"{path.stem}.{safe}.{metric}.faiss")


def check_query(query: str, table: pd.DataFrame, codes_path: str | Path) -> None:
    """A query that is neither a file nor an id of the table, but looks like a file name,
    is a missing file: say so, not "no row with id '/path/x.fits'"."""
    if Path(query).is_file() or (table["id"].astype(str) == query).any():
        return
    if Path(query).exists():
        raise InputError(query, "is a folder; --query takes an image file or an id")
    looks_like_path = "/" in query or "\\" in query or query.lower().endswith(QUERY_FILE_SUFFIXES)
    if looks_like_path:
        raise InputError(query, f"no such image file (nor an id in {codes_path})")


def search_table(table: pd.DataFrame, query: str, in_spec: str, *, k: int = DEFAULT_SEARCH.k,
                 metric: str = DEFAULT_SEARCH.metric, exclude_self: bool = False,
                 codes_path: str | Path | None = None, model: str | None = None,
                 pixel_scale: float = 1.8) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`similar` for a query that is a row id of `table` or an image file (FITS/PNG/JPEG/.npy,
    embedded by the table's own encoder or `model`, at `pixel_scale` arcsec/pixel when it
    carries none). The index is cached beside `codes_path` when given. Returns the results
    and the image-file query's model input (None for an id)."""
    from radiolatent.embedding import embed_file, encoder_for_table, table_embed_config

    check_query(query, table, codes_path or "the codes table")
    vector, query_image = query, None
    if Path(query).is_file():
        query_image, vector = embed_file(query, encoder_for_table(table, model), pixel_scale, table_embed_config(table))
    cache = index_path(codes_path, in_spec, metric) if codes_path is not None else None
    result = similar(table, vector, in_spec, k=k, metric=metric, exclude_self=exclude_self, index_path=cache)
    return result, query_image


def search_picture(table: pd.DataFrame, result: pd.DataFrame, query: str, out: str | Path, *,
                   query_image: np.ndarray | None = None, metric: str = DEFAULT_SEARCH.metric,
                   in_spec: str = "pool") -> Path:
    """The grid PNG of a search: the query (a row id of `table`, or an image file whose
    model input is `query_image`) and its results, read where the table keeps its images."""
    from radiolatent import embedding
    from radiolatent.data.grid import caption_for

    if query_image is None:
        query_row = table[table["id"].astype(str) == query].iloc[:1]
        query_image = embedding.load_images_for(query_row)[0]
        query_caption = f"query · {caption_for(query_row.iloc[0])}"
    else:
        query_caption = f"query · {Path(query).name}"
    result_rows = table.drop_duplicates("id").set_index("id").loc[result["id"]].reset_index()
    return search_grid(query_image, embedding.load_images_for(result_rows), result_captions(result, metric), out,
                       query_caption=query_caption, title=f"{metric} search in {in_spec} for {query}")
