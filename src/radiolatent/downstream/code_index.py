"""A FAISS index over one code matrix (`CodeIndex`): exact or IVF-Flat, for the three
search metrics (whitened cosine, [A]'s cosine, [C]'s Euclidean after PCA), saved with a
JSON sidecar that tells whether it is stale.

`whitened-cosine` is the cosine after PCA-whitening fitted on the indexed codes: centred
on their mean, rotated onto their principal axes and each axis scaled to unit variance
(plus `SearchConfig.whiten_shrink` of the mean variance).

Sets of up to `SearchConfig.exact_threshold` rows get an exact flat index. Larger sets
get IVF-Flat: k-means cells of the codes (nlist = sqrt(N)), of which `nprobe` are
scanned per query. IVF-Flat was chosen over HNSW because it builds in seconds rather
than minutes, uses no more memory than the flat index, and its recall is tuned by one
number at query time (`nprobe`); benchmarks/search_faiss.py measures recall and time
against the exact index (docs/results.md, "Scale").
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import faiss
import numpy as np

from radiolatent.config import DEFAULT_SEARCH, SEARCH_METRICS, SearchConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path
from radiolatent.downstream.maps import n_components_for, pca_variance

#: metrics whose score is a similarity (higher = more alike).
SIMILARITY_METRICS = ("whitened-cosine", "cosine")


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
    ) -> CodeIndex:
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
        info: dict[str, object] = {
            "metric": metric,
            "n": int(codes.shape[0]),
            "d": int(codes.shape[1]),
            "codes_hash": codes_hash(codes),
            "exact": bool(exact),
            "nprobe": int(config.nprobe),
            "search_dim": int(dim),
            "faiss_version": faiss.__version__,
            "built_with": built_with(config),
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
            and self.info.get("built_with") == built_with(config)
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
    def load(cls, path: str | Path) -> CodeIndex:
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
    ) -> CodeIndex:
        """Load the index at `path` if it was built from these codes, else build and save it.

        Where `path`'s folder cannot be written (read-only, full), the index is kept in the
        cache directory instead, or, if that fails too, used without saving (one warning)."""
        codes = _check_codes(codes, "codes")
        places = [Path(path), fallback_index_path(path)]
        for place in places:
            try:
                index = cls.load(place)
                if index.is_current(codes, metric, config):
                    index.info["nprobe"] = int(config.nprobe)
                    index._apply_nprobe()
                    return index
            except InputError:
                pass  # missing or stale cache: rebuild below
        index = cls.build(codes, metric=metric, config=config)
        problems = []
        for place in places:
            try:
                index.save(place)
                return index
            except OSError as exc:
                problems.append(f"{place.parent}: {exc.strerror or exc}")
        warnings.warn(f"{path}: search index not cached ({'; '.join(problems)}); it is rebuilt each time", stacklevel=2)
        return index


def fallback_index_path(path: str | Path) -> Path:
    """Where an index that cannot be saved beside its codes is kept: the cache directory,
    under a name unique to the original place."""
    from radiolatent.data.archives import cache_dir

    where = hashlib.blake2b(os.path.realpath(path).encode(), digest_size=8).hexdigest()
    return cache_dir() / "indexes" / f"{where}-{Path(path).name}"


def sidecar_path(path: str | Path) -> Path:
    """The JSON file describing a saved index."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def built_with(config: SearchConfig) -> dict[str, float]:
    """The settings an index is built with (`nprobe` is applied at search time): an index
    built with others is rebuilt, not reused."""
    names = ("exact_threshold", "nlist_per_sqrt_n", "train_points_per_list", "pca_variance", "seed")
    return {name: float(getattr(config, name)) for name in names}


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
