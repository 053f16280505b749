"""What the explorer knows about one codes table: its rows, map, search indexes and images.

Everything here is plain Python over numpy/pandas, so it can be tested without a
server. Rows are de-duplicated by id (the first row of each id is kept, as
`codes.select` does): a codes table may hold one source under several sets
(`mirabest:confident` and `mirabest:all`), and a person labels sources, not rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_EXPLORE, SEARCH_METRICS, ExploreConfig, MapConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path
from radiolatent.data.codes import code_columns, code_matrix, read_codes
from radiolatent.explore.thumbs import PngCache, colour_table, render_png

#: metadata shown when hovering a point (the page keeps these for every row).
HOVER_COLUMNS = ("label_name", "dataset", "las_arcsec")
#: columns whose missing values are unlabelled sources (the legend says so).
LABEL_COLUMNS = ("label", "label_name")
#: maps of this many rows or more show UMAP's steps and a progress bar.
PROGRESS_ROWS = 5000
#: the search scope meaning "every row".
ALL_ROWS = "all"
#: columns never offered for colouring: unique per row, or the bookkeeping of the table.
NOT_COLOURS = ("id", "filename", "model")


def cache_folder(codes_path: Path) -> Path:
    """Where the map and search indexes of a codes table are cached: a folder beside it."""
    return codes_path.with_name(f"{codes_path.stem}.explore")


def load_table(codes_path: str | Path) -> pd.DataFrame:
    """The codes table with one row per id (the first), indexed 0..N-1."""
    table = one_row_per_id(read_codes(codes_path))
    table["id"] = table["id"].astype(str)
    table.attrs["source"] = str(codes_path)
    return table


def one_row_per_id(table: pd.DataFrame) -> pd.DataFrame:
    """The first row of each id, indexed 0..N-1: the rows the explorer shows."""
    return table[~table["id"].astype(str).duplicated(keep="first")].reset_index(drop=True)


#: columns of a predictions catalogue (`radiolatent predict`) that can colour the map.
PREDICTION_COLUMNS = ("prediction", "agreement", "in_domain", "out_of_domain")


def with_predictions(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """The table with a predictions catalogue's columns (prediction, p_<class>, agreement,
    in_domain, out_of_domain) joined by id; rows it does not cover get none."""
    from radiolatent.data.catalogue import read_catalogue

    predictions = read_catalogue(path)
    wanted = [c for c in predictions.columns if c in PREDICTION_COLUMNS or str(c).startswith("p_")]
    if "id" not in predictions.columns or "prediction" not in wanted:
        raise InputError(path, "is not a predictions catalogue (needs 'id' and 'prediction' columns)")
    predictions = predictions.drop_duplicates("id").set_index(
        predictions["id"].astype(str)[~predictions["id"].duplicated()]
    )
    joined = table.drop(columns=[c for c in wanted if c in table.columns]).join(predictions[wanted], on="id")
    if joined["prediction"].isna().all():
        raise InputError(path, f"shares no id with the codes table {table.attrs.get('source', '')}")
    joined.attrs = table.attrs
    return joined


def json_value(value):
    """A JSON-safe scalar: numpy types unwrapped, NaN/inf as None."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def float_list(values: np.ndarray, digits: int = 5) -> list:
    """Floats rounded for the wire (the map needs no more), NaN as None."""
    values = np.asarray(values, dtype=np.float64)
    rounded = np.round(values, digits)
    return [None if not math.isfinite(v) else float(v) for v in rounded]


class Explorer:
    """One codes table opened for exploring; the server's single source of truth."""

    def __init__(
        self,
        codes_path: str | Path,
        config: ExploreConfig = DEFAULT_EXPLORE,
        cache_dir: str | Path | None = None,
        log=None,
        predictions: str | Path | None = None,
    ):
        self.codes_path = Path(codes_path)
        self.config = config
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.table = load_table(self.codes_path)
        if predictions is not None:
            self.table = with_predictions(self.table, predictions)
        self.codes = code_matrix(self.table)
        self.row_of = {source_id: i for i, source_id in enumerate(self.table["id"])}
        self.code_names = set(code_block_columns(self.table))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_folder(self.codes_path)
        self.key = codes_key(self.codes)
        self.xy = self._map()
        self._images: np.ndarray | None = None
        self._images_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._loader_lock = threading.Lock()
        self._indexes: dict[tuple[str, str], object] = {}
        self._index_lock = threading.Lock()
        self._lut = colour_table(config.thumb_cmap)
        self.thumbs = PngCache(config.thumb_cache)
        self._metadata_colours: dict[str, dict] | None = None

    # ------------------------------------------------------------------ rows

    def __len__(self) -> int:
        return len(self.table)

    def row(self, source_id: str) -> int:
        """Row number of an id; KeyError when the table has no such id."""
        return self.row_of[source_id]

    def metadata(self, row: int) -> dict:
        """The row's metadata (no code columns), JSON-safe."""
        record = self.table.iloc[row]
        return {name: json_value(record[name]) for name in self.table.columns if name not in self.code_names}

    def find(self, text: str, limit: int = 20) -> list[str]:
        """Ids containing `text` (case-insensitive), exact match first."""
        text = text.strip()
        if not text:
            return []
        if text in self.row_of:
            return [text]
        ids = self.table["id"]
        return ids[ids.str.contains(text, case=False, regex=False)].head(limit).tolist()

    # ------------------------------------------------------------------ map

    def _map(self) -> np.ndarray:
        """[C]'s UMAP of the codes (`cached_map`)."""
        return cached_map(self.codes, self.cache_dir, self.config, self.log)

    def metadata_colours(self) -> dict[str, dict]:
        """Metadata columns that can colour the map, worked out once (the table never changes)."""
        if self._metadata_colours is None:
            found = {}
            for name in self.table.columns:
                if name in self.code_names or name in NOT_COLOURS:
                    continue
                column = colour_column(self.table[name], self.config.max_categories)
                if column is not None:
                    found[name] = column
            self._metadata_colours = found
        return self._metadata_colours

    def colour(self, name: str, derived: dict[str, np.ndarray]) -> dict | None:
        """One colour column: {kind, values[, categories]}, or None when there is no such column.

        `derived` holds per-row scores that change while the page is open (labels, the
        learner's predictions), so they are converted on each request.
        """
        if name in derived:
            return colour_column(pd.Series(derived[name]), self.config.max_categories, force_continuous=True)
        return self.metadata_colours().get(name)

    def colour_kinds(self, derived: dict[str, np.ndarray]) -> dict[str, str]:
        """Name -> kind of every column that can colour the map now."""
        kinds = {name: column["kind"] for name, column in self.metadata_colours().items()}
        for name, values in derived.items():
            if np.isfinite(np.asarray(values, dtype=np.float64)).any():  # e.g. no labels yet
                kinds[name] = "continuous"
        return kinds

    # ------------------------------------------------------------------ search

    def scopes(self) -> list[str]:
        """Where a search can look: every row, or one dataset."""
        return [ALL_ROWS, *sorted(self.table["dataset"].astype(str).unique())]

    def neighbours(
        self, vector: np.ndarray, k: int, metric: str, scope: str = ALL_ROWS, exclude_row: int | None = None
    ) -> list[tuple[int, float]]:
        """(row, score) of the k codes most like `vector` in `scope`, best first."""
        if metric not in SEARCH_METRICS:
            raise InputError("metric", f"unknown search metric '{metric}'; choose one of {SEARCH_METRICS}")
        rows, index = self._index(scope, metric)
        extra = 1 if exclude_row is not None else 0
        scores, found = index.search(np.asarray(vector, np.float32).reshape(1, -1), k + extra)
        hits = [(int(rows[i]), float(s)) for i, s in zip(found[0], scores[0]) if i >= 0]
        return [(row, score) for row, score in hits if row != exclude_row][:k]

    def _index(self, scope: str, metric: str):
        """The FAISS index of one scope, built once (cached on disk beside the codes)."""
        from radiolatent.downstream.code_index import CodeIndex

        if scope not in self.scopes():
            raise InputError("in", f"unknown search scope '{scope}'; choose one of {self.scopes()}")
        with self._index_lock:
            if (scope, metric) not in self._indexes:
                rows = self._scope_rows(scope)
                path = self.cache_dir / f"{safe_name(scope)}.{metric}.faiss"
                try:
                    index = CodeIndex.cached(self.codes[rows], path, metric=metric)
                except OSError:
                    index = CodeIndex.build(self.codes[rows], metric=metric)
                self._indexes[(scope, metric)] = (rows, index)
            return self._indexes[(scope, metric)]

    def _scope_rows(self, scope: str) -> np.ndarray:
        if scope == ALL_ROWS:
            return np.arange(len(self.table))
        return np.flatnonzero((self.table["dataset"].astype(str) == scope).to_numpy())

    # ------------------------------------------------------------------ images

    def images(self) -> np.ndarray:
        """The 64x64 model inputs of every row, loaded once (the first call waits)."""
        with self._images_lock:
            if self._images is None:
                from radiolatent.data.inputs import load_images_for

                self._images = load_images_for(self.table)
            return self._images

    def image(self, row: int) -> np.ndarray:
        """One row's model input: from the loaded images, or, while they load (100,000 rows
        take seconds), read on its own so the first thumbnails need not wait for all."""
        images = self._images
        if images is not None:
            return images[row]
        self.load_images_in_background()
        from radiolatent.data.inputs import load_images_for

        return load_images_for(self.table.iloc[[row]])[0]

    def load_images_in_background(self) -> None:
        with self._loader_lock:  # not _images_lock: the loader holds that until all are read
            if self._images is None and self._loader is None:
                self._loader = threading.Thread(target=self.images, name="load-images", daemon=True)
                self._loader.start()

    def thumbnail(self, row: int) -> bytes:
        return self.thumbs.get(row, lambda r: render_png(self.image(r), self._lut, self.config.thumb_size))

    def picture(self, image: np.ndarray) -> bytes:
        """Any 2-D uint8 image (a dropped file's model input) rendered like the thumbnails."""
        return render_png(image, self._lut, self.config.thumb_size)


def map_cache_file(cache_dir: Path, codes: np.ndarray, config: ExploreConfig) -> Path:
    """Where the map of these codes under these UMAP settings is kept: keyed on the codes'
    content, so an edited or re-embedded table is mapped afresh."""
    params = {"n_neighbors": config.umap_neighbors, "min_dist": config.umap_min_dist, "seed": config.seed}
    if len(codes) > config.umap_fit_rows:  # only a large table's map depends on it (small caches stay valid)
        params["fit_rows"] = config.umap_fit_rows
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"umap-{codes_key(codes)}-{digest}.npy"


def cached_map(codes: np.ndarray, cache_dir: Path, config: ExploreConfig = DEFAULT_EXPLORE, log=None) -> np.ndarray:
    """[C]'s UMAP of the codes, from the cache when these exact codes were mapped before,
    else computed (above `umap_fit_rows` rows, fitted on a sample of them) and cached."""
    log = log or (lambda message: print(message, file=sys.stderr))
    cached = map_cache_file(cache_dir, codes, config)
    if cached.is_file():
        xy = np.load(cached, allow_pickle=False)
        if xy.shape == (len(codes), 2):
            return xy
    sample = f", fitted on {config.umap_fit_rows} of them" if len(codes) > config.umap_fit_rows else ""
    log(f"computing the UMAP map of {len(codes)} codes{sample} (once; cached in {cache_dir})")
    xy = umap_map(codes, config)
    try:  # a read-only folder only costs recomputing next time
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.save(fh, xy, allow_pickle=False)
    except OSError as exc:
        log(f"note: could not cache {cached.name} ({exc.strerror}); it will be recomputed next time")
    return xy


def prepare_map(codes_path: str | Path, table: pd.DataFrame, min_rows: int, log=None) -> bool:
    """Compute and cache the explorer's map of `table`, just written to `codes_path`, now
    (as `embed` does for a table of at least `min_rows` rows; 0: never), so that the
    explorer's first start reads it. True if the table has a cached map afterwards."""
    if min_rows <= 0 or len(table) < min_rows:
        return False
    cached_map(code_matrix(one_row_per_id(table)), cache_folder(Path(codes_path)), DEFAULT_EXPLORE, log)
    return True


def umap_map(codes: np.ndarray, config: ExploreConfig) -> np.ndarray:
    """(N, 2) UMAP of the codes with the explorer's parameters, as `embed_2d(..., "umap")`
    computes it, with a progress bar over the layout epochs. Above `config.umap_fit_rows`
    rows UMAP is fitted on that many random rows and every other row is placed among its
    nearest fitted codes (`place_among`): the layout's cost grows with the rows fitted."""
    from radiolatent.downstream.maps import check_matrix

    codes = check_matrix(codes, "umap input", min_rows=3)
    if len(codes) <= config.umap_fit_rows:
        return fit_umap(codes, config)
    fitted = np.sort(np.random.default_rng(config.seed).choice(len(codes), config.umap_fit_rows, replace=False))
    rest = np.setdiff1d(np.arange(len(codes)), fitted)
    xy = np.empty((len(codes), 2), np.float32)
    # 200 epochs, as UMAP itself runs for more than 10,000 rows (it runs 500 below that)
    xy[fitted] = fit_umap(codes[fitted], config, n_epochs=LARGE_EPOCHS)
    xy[rest] = place_among(codes[rest], codes[fitted], xy[fitted], config.umap_neighbors)
    return xy


def fit_umap(codes: np.ndarray, config: ExploreConfig, n_epochs: int | None = None) -> np.ndarray:
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.filterwarnings("ignore", message=".*n_jobs.*")  # a fixed seed makes UMAP single-threaded
        import umap

        # verbose: UMAP names its steps and draws the tqdm bar of its epochs (to stderr, like every bar)
        reducer = umap.UMAP(
            n_neighbors=min(config.umap_neighbors, len(codes) - 1),
            min_dist=config.umap_min_dist,
            n_epochs=n_epochs,
            random_state=config.seed,
            n_jobs=1,
            verbose=len(codes) >= PROGRESS_ROWS,
            tqdm_kwds={"desc": "UMAP layout", "unit": "epoch", "file": sys.stderr},
        )
        return np.asarray(reducer.fit_transform(codes), dtype=np.float32)


#: UMAP's layout epochs for a fitted sample of a large table (UMAP's own choice above 10,000 rows).
LARGE_EPOCHS = 200
#: dimensions the codes are reduced to (PCA on the fitted rows) before finding neighbours.
PLACE_DIMS = 32
#: rows placed per FAISS query (and per step of the progress bar).
PLACE_BATCH = 10_000


def place_among(points: np.ndarray, fitted: np.ndarray, fitted_xy: np.ndarray, k: int) -> np.ndarray:
    """Map positions for `points`: each at the weighted mean position of its k nearest
    `fitted` codes (Euclidean, as UMAP measures, after PCA to PLACE_DIMS), as UMAP's own
    `transform` starts before its epochs (which cost minutes at 100,000 rows). A neighbour
    counts by how little farther it is than the nearest, relative to the nearest's
    distance (exp(-(d - d_nearest) / d_nearest)): a copy of a fitted code lands on it, a
    point among equally near neighbours at their centre, and a neighbour in another
    cluster, much farther, hardly at all."""
    import faiss
    from sklearn.decomposition import PCA
    from tqdm import tqdm

    pca = PCA(n_components=min(PLACE_DIMS, *fitted.shape), random_state=0).fit(fitted)
    index = faiss.IndexFlatL2(pca.n_components_)
    index.add(np.ascontiguousarray(pca.transform(fitted), dtype=np.float32))
    k = min(k, len(fitted))
    out = np.empty((len(points), 2), np.float32)
    starts = range(0, len(points), PLACE_BATCH)
    for start in tqdm(
        starts, desc="UMAP placing the other rows", unit="batch", file=sys.stderr, disable=len(points) < PROGRESS_ROWS
    ):
        chunk = np.ascontiguousarray(pca.transform(points[start : start + PLACE_BATCH]), dtype=np.float32)
        squared, nearest = index.search(chunk, k)
        distance = np.sqrt(np.maximum(squared, 0.0))
        scale = np.maximum(distance[:, :1], 1e-6 * distance.mean() + 1e-12)
        weights = np.exp(-(distance - distance[:, :1]) / scale)
        weights /= weights.sum(axis=1, keepdims=True)
        out[start : start + len(chunk)] = np.einsum("nk,nkd->nd", weights, fitted_xy[nearest])
    return out


def code_block_columns(table: pd.DataFrame) -> list[str]:
    """Every code column: the z block and any `<block>_NNN` block."""
    blocks = {str(c).rsplit("_", 1)[0] for c in table.columns if "_" in str(c) and str(c).rsplit("_", 1)[1].isdigit()}
    names = code_columns(table, "z")
    for block in sorted(blocks):
        names += code_columns(table, block)
    return names


def codes_key(codes: np.ndarray) -> str:
    from radiolatent.downstream.code_index import codes_hash

    return codes_hash(codes)[:16]


def safe_name(text: str) -> str:
    """A file-name-safe form of a scope name (never a path: no separators, no dots first)."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
    return f"scope-{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def colour_column(series: pd.Series, max_categories: int, force_continuous: bool = False) -> dict | None:
    """A column as map colours: categories (index per row, -1 unknown) or floats (None unknown).

    Integer columns with few values (class labels) and strings are categorical; a
    column with nothing known, or a string column with too many values, is left out.
    """
    from radiolatent.downstream.maps import is_categorical

    # a table written through text can hold "nan" / "None" strings where nothing is known
    known = series.notna() & ~series.astype(str).isin(("", "nan", "None", "<NA>"))
    label_column = series.name in LABEL_COLUMNS
    if label_column and pd.api.types.is_numeric_dtype(series):
        known &= series != -1  # label -1 means unlabelled (the metadata contract)
    if not known.any():
        return None
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if force_continuous or (numeric and not is_categorical(series, MapConfig(max_categories=max_categories))):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return None
        return {
            "kind": "continuous",
            "values": float_list(values),
            "min": float(finite.min()),
            "max": float(finite.max()),
        }
    # not series.where(known, None): pandas fills with NaN there, which str() makes "nan"
    text = pd.Series([str(v) if k else None for v, k in zip(series, known)], index=series.index, dtype=object)
    categories = sorted(text.dropna().unique(), key=str)
    if len(categories) > max_categories:
        return None
    lookup = {name: i for i, name in enumerate(categories)}
    codes = [-1 if v is None else lookup[v] for v in text]
    counts = np.bincount([c for c in codes if c >= 0], minlength=len(categories)).tolist()
    return {
        "kind": "categorical",
        "values": codes,
        "categories": categories,
        "counts": counts,
        "unknown_name": "unlabelled" if label_column else "unknown",
    }
