"""Similarity search over codes tables with FAISS (whitened cosine, [A] cosine, [C]
Euclidean after PCA): the k codes most like a query (a row id or an image file), and the
picture of a search (`radiolatent search`, the study's search stage, the density figures).

Scores: for `whitened-cosine` and `cosine` the score is a cosine similarity (higher =
more alike, 1 for the same direction); for `euclidean-pca` it is the Euclidean distance
in the PCA space (lower = more alike, 0 for the same point).

`whitened-cosine` (the default) is the cosine after PCA-whitening fitted on the searched
set: codes are centred on its mean, rotated onto its principal axes and each axis scaled
to unit variance (plus `SearchConfig.whiten_shrink` of the mean variance). Raw codes
share one large direction and keep most variance in a few dimensions, so raw cosine
calls nearly every pair alike; whitening weighs each direction by how much it tells
sources apart. benchmarks/search_quality.py measures both (docs/results.md).

The index is `downstream.code_index.CodeIndex`; duplicate finding is `downstream.duplicates`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_SEARCH, SearchConfig
from radiolatent.core.errors import InputError
from radiolatent.data import inputs
from radiolatent.downstream.code_index import SIMILARITY_METRICS, CodeIndex

#: columns of a search result, after rank/id/score (`metric` says how scores were made).
RESULT_COLUMNS = ("label_name", "las_arcsec", "ra", "dec", "dataset", "metric")


# ---------------------------------------------------------------------------
# Searches over codes tables
# ---------------------------------------------------------------------------


def query_vector(table: pd.DataFrame, query, d: int) -> tuple[np.ndarray, str | None]:
    """The query's code and id: an id is looked up in `table` (any set), a vector is used as is."""
    from radiolatent.data.codes import code_matrix

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
    from radiolatent.data.codes import code_matrix, select

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


def result_captions(result: pd.DataFrame, metric: str = DEFAULT_SEARCH.metric) -> list[str]:
    """One caption per result row: rank, score and label."""
    name = "sim" if metric in SIMILARITY_METRICS else "dist"
    labels = (
        result["label_name"].fillna("").astype(str).replace("", "?") if "label_name" in result else ["?"] * len(result)
    )
    same = result["same_position"] if "same_position" in result else [False] * len(result)
    return [
        f"#{rank} {name} {score:.3f}\n{label}" + (" · same position" if here else "")
        for rank, score, label, here in zip(result["rank"], result["score"], labels, same)
    ]


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
        raise InputError(
            path, f"query {query_image.shape} and results {result_images.shape} are not matching 2-D images"
        )
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
        raise InputError(query, "is a folder; {query} takes an image file or an id", ("query",))
    looks_like_path = "/" in query or "\\" in query or query.lower().endswith(QUERY_FILE_SUFFIXES)
    if looks_like_path:
        raise InputError(query, f"no such image file (nor an id in {codes_path})")


def search_table(
    table: pd.DataFrame,
    query: str,
    in_spec: str,
    *,
    k: int = DEFAULT_SEARCH.k,
    metric: str = DEFAULT_SEARCH.metric,
    exclude_self: bool = False,
    codes_path: str | Path | None = None,
    model: str | None = None,
    pixel_scale: float = 1.8,
    config: SearchConfig = DEFAULT_SEARCH,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`similar` for a query that is a row id of `table` or an image file (FITS/PNG/JPEG/.npy,
    embedded by the table's own encoder or `model`, at `pixel_scale` arcsec/pixel when it
    carries none). The index is cached beside `codes_path` when given. `config`: the index
    and observation settings (`k`, `metric` and `pixel_scale` are given apart). Returns the
    results and the image-file query's model input (None for an id)."""
    from radiolatent.data.image_file import read_cutout
    from radiolatent.embedding import embed_cutout, encoder_for_table, table_embed_config

    check_query(query, table, codes_path or "the codes table")
    vector: str | np.ndarray = query
    query_image = None
    if Path(query).is_file():
        cutout = read_cutout(Path(query))  # read once: its model input, code and position
        encoder = encoder_for_table(table, model)
        query_image, vector = embed_cutout(cutout, encoder, pixel_scale, table_embed_config(table))
        position = sky_position(cutout.ra, cutout.dec)
    else:
        position = row_position(query, table)
    cache = index_path(codes_path, in_spec, metric) if codes_path is not None else None
    deeper = k + (config.observation_depth if position is not None else 0)
    result = similar(
        table, vector, in_spec, k=deeper, metric=metric, exclude_self=exclude_self, index_path=cache, config=config
    )
    if position is None:
        return result, query_image
    exclude_id = query if exclude_self and query_image is None else None
    others = with_other_observations(result, table, in_spec, position, k, metric, exclude_id, config)
    return others, query_image


def row_position(query: str, table: pd.DataFrame) -> tuple[float, float] | None:
    """(ra, dec) of the row a query id names; None when unknown or not an id of the table
    (`similar` then says so in one line)."""
    rows = table[table["id"].astype(str) == query]
    if rows.empty:
        return None
    return sky_position(float(rows["ra"].iloc[0]), float(rows["dec"].iloc[0]))


def sky_position(ra: float, dec: float) -> tuple[float, float] | None:
    return (ra, dec) if np.isfinite(ra) and np.isfinite(dec) else None


def with_other_observations(
    result: pd.DataFrame,
    table: pd.DataFrame,
    in_spec: str,
    position: tuple[float, float],
    k: int,
    metric: str = DEFAULT_SEARCH.metric,
    exclude_id: str | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
) -> pd.DataFrame:
    """A search result with the other observations of the query's source first: every row
    of `in_spec` within `config.duplicate_separation_arcsec` of the query's position
    (`same_position` True, whatever its score; NaN score when it is not among the deeper
    search's matches), then the `k` best matches elsewhere on the sky."""
    from radiolatent.data.codes import select

    searched = select(table, in_spec)
    separation = _separation_from(position, searched)
    near = searched[separation <= config.duplicate_separation_arcsec]
    if exclude_id is not None:
        near = near[near["id"].astype(str) != exclude_id]
    missing = near[~near["id"].isin(result["id"])]
    missing = missing[[c for c in result.columns if c in missing.columns]].assign(metric=metric)
    result = pd.concat([result, missing], ignore_index=True)
    result["separation_arcsec"] = _separation_from(position, result)
    result["same_position"] = result["id"].isin(near["id"]).to_numpy()
    best_first = result["score"].rank(ascending=metric == "euclidean-pca", na_option="bottom")
    result = result.assign(_order=best_first).sort_values(["same_position", "_order"], ascending=[False, True])
    result = pd.concat([result[result["same_position"]], result[~result["same_position"]].head(k)])
    result = result.drop(columns="_order").reset_index(drop=True)
    result["rank"] = np.arange(1, len(result) + 1)
    return result


def _separation_from(position: tuple[float, float], rows: pd.DataFrame) -> np.ndarray:
    from radiolatent.downstream.duplicates import sky_separation_arcsec

    ra, dec = (np.full(len(rows), value) for value in position)
    return sky_separation_arcsec(ra, dec, rows["ra"], rows["dec"])


def search_picture(
    table: pd.DataFrame,
    result: pd.DataFrame,
    query: str,
    out: str | Path,
    *,
    query_image: np.ndarray | None = None,
    metric: str = DEFAULT_SEARCH.metric,
    in_spec: str = "pool",
) -> Path:
    """The grid PNG of a search: the query (a row id of `table`, or an image file whose
    model input is `query_image`) and its results, read where the table keeps its images."""
    from radiolatent.data.grid import caption_for

    if query_image is None:
        query_row = table[table["id"].astype(str) == query].iloc[:1]
        query_image = inputs.load_images_for(query_row)[0]
        query_caption = f"query · {caption_for(query_row.iloc[0])}"
    else:
        query_caption = f"query · {Path(query).name}"
    result_rows = table.drop_duplicates("id").set_index("id").loc[result["id"]].reset_index()
    return search_grid(
        query_image,
        inputs.load_images_for(result_rows),
        result_captions(result, metric),
        out,
        query_caption=query_caption,
        title=f"{metric} search in {in_spec} for {query}",
    )
