"""Similarity search: exactness, approximate recall, index caching, duplicates, the grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from radiolatent.codes import make_codes_table
from radiolatent.config import SearchConfig
from radiolatent.downstream.search import CodeIndex, find_duplicates, search_grid, sidecar_path, similar
from radiolatent.errors import InputError


def random_codes(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered_codes(n: int, d: int = 32, centres: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, d)) * 5
    return (means[rng.integers(0, centres, n)] + rng.normal(size=(n, d))).astype(np.float32)


def brute_cosine_topk(codes: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    a = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    return np.argsort(-(q @ a.T), axis=1, kind="stable")[:, :k]


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


def test_search_returns_itself_first_with_similarity_one():
    codes = random_codes(500)
    index = CodeIndex.build(codes)
    scores, rows = index.search(codes[:20], k=5)
    assert (rows[:, 0] == np.arange(20)).all()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_exact_cosine_matches_brute_force():
    codes = random_codes(800, seed=1)
    queries = random_codes(30, seed=2)
    index = CodeIndex.build(codes, metric="cosine")
    assert index.exact
    _, rows = index.search(queries, k=10)
    np.testing.assert_array_equal(rows, brute_cosine_topk(codes, queries, 10))


@pytest.mark.parametrize("metric", ["cosine", "whitened-cosine"])
def test_approximate_index_recall_on_clustered_codes(metric):
    codes = clustered_codes(20_000)
    queries = codes[::200]
    approx = CodeIndex.build(codes, metric=metric, exact_threshold=1000, config=SearchConfig(nprobe=16))
    assert not approx.exact
    _, rows = approx.search(queries, k=10)
    truth = CodeIndex.build(codes, metric=metric).search(queries, k=10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)])
    assert recall >= 0.95


def test_euclidean_pca_finds_nearest_point():
    rng = np.random.default_rng(3)
    # two strong directions carry nearly all the variance, so PCA keeps 2 of 16 dims
    codes = np.zeros((400, 16), dtype=np.float32)
    codes[:, :2] = rng.normal(size=(400, 2)) * 10
    codes[:, 2:] = rng.normal(size=(400, 14)) * 0.01
    index = CodeIndex.build(codes, metric="euclidean-pca")
    assert index.info["search_dim"] == 2
    scores, rows = index.search(codes[7] + 0.001, k=3)
    assert rows[0, 0] == 7
    assert scores[0, 0] < 0.05
    assert (np.diff(scores[0]) >= 0).all()


def test_saved_index_reloads_and_stale_index_is_rebuilt(tmp_path):
    codes = random_codes(300)
    path = tmp_path / "codes.whitened-cosine.faiss"
    built = CodeIndex.cached(codes, path)
    assert path.is_file() and sidecar_path(path).is_file()
    loaded = CodeIndex.load(path)
    assert loaded.metric == "whitened-cosine" and loaded.is_current(codes, "whitened-cosine")
    assert not loaded.is_current(codes, "cosine")
    assert not loaded.is_current(codes, "whitened-cosine", SearchConfig(whiten_shrink=0.5))
    np.testing.assert_array_equal(loaded.search(codes[:5], 4)[1], built.search(codes[:5], 4)[1])
    changed = codes.copy()
    changed[0] += 1.0
    assert not loaded.is_current(changed, "whitened-cosine")
    rebuilt = CodeIndex.cached(changed, path)
    assert rebuilt.info["codes_hash"] == CodeIndex.load(path).info["codes_hash"] != built.info["codes_hash"]


def test_load_of_a_corrupt_index_names_the_file(tmp_path):
    path = tmp_path / "bad.faiss"
    path.write_bytes(b"not an index")
    sidecar_path(path).write_text("{}")
    with pytest.raises(InputError, match="bad.faiss"):
        CodeIndex.load(path)


def test_similar_queries_across_sets_and_can_exclude_itself(tmp_path):
    pool = random_codes(200, seed=4)
    test_codes = pool[:3] + 0.001  # a test-set query that has a near twin in the pool
    table = pd.concat([table_of(pool, "pool"), table_of(test_codes, "mirabest:confident", "test")], ignore_index=True)
    result = similar(table, "mirabest:confident-1", "pool", k=4, index_path=tmp_path / "pool.faiss")
    assert list(result.columns) == ["rank", "id", "score", "label_name", "las_arcsec", "ra", "dec", "dataset", "metric"]
    assert set(result["metric"]) == {"whitened-cosine"}
    assert result["id"].iloc[0] == "pool-1"
    assert result["rank"].tolist() == [1, 2, 3, 4]
    assert result["score"].iloc[0] > 0.999
    inside = similar(table, "pool-5", "pool", k=3, exclude_self=True)
    assert "pool-5" not in set(inside["id"]) and len(inside) == 3
    with_self = similar(table, "pool-5", "pool", k=3)
    assert with_self["id"].iloc[0] == "pool-5"
    by_vector = similar(table, pool[9], "pool", k=1)
    assert by_vector["id"].iloc[0] == "pool-9"


def test_similar_rejects_unknown_id_and_wrong_vector():
    table = table_of(random_codes(20), "pool")
    with pytest.raises(InputError, match="no row with id"):
        similar(table, "nope", "pool")
    with pytest.raises(InputError, match="dims"):
        similar(table, np.ones(5), "pool")


def test_find_duplicates_reports_planted_copy_and_its_sky_separation():
    codes = random_codes(100, seed=5)
    codes[42] = codes[17] * 1.01 + 0.001  # a near copy of row 17
    ra = np.linspace(150.0, 160.0, 100)
    dec = np.linspace(10.0, 20.0, 100)
    ra[42], dec[42] = ra[17] + 5 / 3600, dec[17]  # offset by 5" in RA
    table = table_of(codes, "first-galaxy", ra=ra, dec=dec)
    pairs = find_duplicates(table, "first-galaxy", threshold=0.99)
    assert len(pairs) == 1
    pair = pairs.iloc[0]
    assert {pair["id_a"], pair["id_b"]} == {"first-galaxy-17", "first-galaxy-42"}
    expected = SkyCoord(ra[17] * u.deg, dec[17] * u.deg).separation(SkyCoord(ra[42] * u.deg, dec[42] * u.deg))
    assert pair["separation_arcsec"] == pytest.approx(expected.arcsec, rel=1e-9)
    assert pair["separation_arcsec"] == pytest.approx(5 * np.cos(np.radians(dec[17])), rel=1e-3)
    assert pair["similarity"] > 0.999
    assert pair["kind"] == "same position"


def test_duplicates_tell_the_same_object_from_look_alikes():
    codes = random_codes(60, seed=6)
    ra, dec = np.linspace(150.0, 160.0, 60), np.linspace(10.0, 20.0, 60)
    codes[[11, 21, 31]] = codes[[10, 20, 30]]
    ra[11], dec[11] = ra[10] + 10 / 3600, dec[10]  # 10" away: the same object cut twice
    ra[30] = dec[30] = np.nan  # a source with no catalogued position
    table = table_of(codes, "first-galaxy", ra=ra, dec=dec)
    pairs = find_duplicates(table, "first-galaxy", threshold=0.999)
    found = {frozenset((a, b)): kind for a, b, kind in zip(pairs["id_a"], pairs["id_b"], pairs["kind"])}
    assert found == {frozenset({"first-galaxy-10", "first-galaxy-11"}): "same position",
                     frozenset({"first-galaxy-30", "first-galaxy-31"}): "position unknown",
                     frozenset({"first-galaxy-20", "first-galaxy-21"}): "look-alike"}
    assert list(pairs["kind"]) == ["same position", "position unknown", "look-alike"]


def test_find_duplicates_leaves_separation_unknown_without_positions():
    codes = random_codes(50, seed=6)
    codes[3] = codes[2]
    pairs = find_duplicates(table_of(codes, "frdeep-f"), "frdeep-f")
    assert len(pairs) == 1 and np.isnan(pairs["separation_arcsec"].iloc[0])


def test_search_grid_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    query = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    results = rng.integers(0, 255, (4, 64, 64), dtype=np.uint8)
    path = search_grid(query, results, [f"#{i} 0.9 FRI" for i in range(4)], tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError):
        search_grid(query, results, ["too few"], tmp_path / "bad.png")


def test_cli_search_and_duplicates_write_their_files(tmp_path, monkeypatch, capsys):
    from radiolatent.cli.downstream import cmd_duplicates, cmd_search, register
    from radiolatent.codes import write_codes
    from radiolatent import embedding
    import argparse

    codes = random_codes(60, seed=7)
    codes[11] = codes[10]
    write_codes(table_of(codes, "pool"), tmp_path / "codes.parquet")
    # thumbnails: a constant image per row, its value the row number, so the grid order is checkable
    seen = []
    monkeypatch.setattr(embedding, "load_images_for", lambda rows: seen.append(list(rows["id"])) or
                        np.stack([np.full((64, 64), int(i.split("-")[1]), np.uint8) for i in rows["id"]]), raising=False)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["search", "--codes", str(tmp_path / "codes.parquet"), "--query", "pool-10",
                              "--in", "pool", "-k", "3", "--exclude-self", "-o", str(tmp_path / "s.png")])
    assert cmd_search(args) == 0
    result = pd.read_csv(tmp_path / "s.csv")
    assert result["id"].iloc[0] == "pool-11" and "pool-10" not in set(result["id"])
    assert seen == [["pool-10"], list(result["id"])]
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result["metric"]) == {"whitened-cosine"}
    assert (tmp_path / "codes.pool.whitened-cosine.faiss").is_file()
    args = parser.parse_args(["duplicates", "--codes", str(tmp_path / "codes.parquet"), "--out", str(tmp_path / "d.csv")])
    assert cmd_duplicates(args) == 0
    pairs = pd.read_csv(tmp_path / "d.csv")
    assert pairs[["id_a", "id_b"]].values.tolist() == [["pool-10", "pool-11"]]
