"""Search: the FAISS index finds what brute force finds, is cached and rebuilt when stale;
`similar` searches any set; on real codes the default search puts the same source first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from downstream_fixtures import clustered_codes, random_codes, real_mirabest_griese, table_of

from radiolatent.config import SearchConfig
from radiolatent.core.errors import InputError
from radiolatent.downstream.code_index import CodeIndex, sidecar_path
from radiolatent.downstream.search import search_grid, similar


@pytest.fixture(scope="module")
def real():
    return real_mirabest_griese()


def brute_cosine_topk(codes: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    a = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    return np.argsort(-(q @ a.T), axis=1, kind="stable")[:, :k]


def top1(table, queries, twins, metric):
    """Per query: is its Griese twin the first result? (one index, as `similar` builds it)"""
    from radiolatent.data.codes import code_matrix, select

    griese = select(table, "first-galaxy")
    _, rows = CodeIndex.build(code_matrix(griese), metric=metric).search(code_matrix(select(table, "mirabest")), 1)
    return griese["id"].to_numpy()[rows[:, 0]] == np.asarray(twins)


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
    # an index built with other build settings is rebuilt; nprobe is a search-time setting
    assert not loaded.is_current(codes, "whitened-cosine", SearchConfig(exact_threshold=100))
    assert loaded.is_current(codes, "whitened-cosine", SearchConfig(nprobe=8))
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
    with pytest.raises(InputError, match=r"bad\.faiss"):
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


def test_search_grid_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    query = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    results = rng.integers(0, 255, (4, 64, 64), dtype=np.uint8)
    path = search_grid(query, results, [f"#{i} 0.9 FRI" for i in range(4)], tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError):
        search_grid(query, results, ["too few"], tmp_path / "bad.png")


def test_default_search_puts_the_same_source_first_where_raw_cosine_does_not(real):
    table, queries, twins = real
    whitened, raw = top1(table, queries, twins, "whitened-cosine"), top1(table, queries, twins, "cosine")
    assert whitened.mean() >= 0.85, "the same source, cut by two pipelines, is nearly always the nearest code"
    assert whitened.mean() >= raw.mean() + 0.1
    rescued = np.flatnonzero(whitened & ~raw)
    assert len(rescued) >= 5, "sources raw cosine puts elsewhere come first"
    default = similar(table, queries[rescued[0]], "first-galaxy", k=3)
    assert default["id"].iat[0] == twins[rescued[0]] and set(default["metric"]) == {"whitened-cosine"}
    # raw cosine scores are all near 1; whitened ones spread out
    cosine = similar(table, queries[rescued[0]], "first-galaxy", k=8, metric="cosine")["score"]
    spread = similar(table, queries[rescued[0]], "first-galaxy", k=8)["score"]
    assert cosine.min() > 0.99 and spread.iat[0] - spread.iat[-1] > 5 * (cosine.iat[0] - cosine.iat[-1])


def test_whitened_search_of_tiny_and_constant_sets_stays_finite():
    codes = random_codes(3, seed=8)
    scores, rows = CodeIndex.build(codes).search(codes, 3)
    assert np.isfinite(scores).all() and (rows[:, 0] == np.arange(3)).all()
    same = np.ones((4, 8), dtype=np.float32)
    scores, _ = CodeIndex.build(same).search(same[:1], 2)
    assert np.isfinite(scores).all()
