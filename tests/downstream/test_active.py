"""[C]'s active learner: the initial batch is spread along PC1, a batch never repeats a
labelled row, the GP loop finds a planted cluster without asking twice, sessions resume."""

from __future__ import annotations

import numpy as np
import pytest
from downstream_fixtures import SMALL, CountingOracle, planted

from radiolatent.core.errors import InputError
from radiolatent.data.labels import LabelStore
from radiolatent.downstream.active import ActiveLearner, initial_batch, run_session
from radiolatent.downstream.anomaly import isolation_forest_scores, random_scores
from radiolatent.downstream.recall import recall_at


def test_initial_batch_is_spread_along_the_first_principal_component():
    rng = np.random.default_rng(1)
    t = rng.uniform(-10, 10, 1000)
    x = np.stack([t, 0.1 * rng.normal(size=1000), 0.1 * rng.normal(size=1000)], axis=1)
    rows = initial_batch(x, 10)
    assert len(set(rows.tolist())) == 10
    # PC1 is (+-) the first axis; the picks sit at its 0th, 10th, ..., 90th percentiles
    picked = np.sort(np.abs(np.searchsorted(np.sort(t), t[rows]) / 1000 - 0.5))
    expected = np.sort(np.abs(np.arange(10) / 10 - 0.5))
    np.testing.assert_allclose(picked, expected, atol=0.01)
    assert len(initial_batch(x[:4], 10)) == 4


def test_next_batch_never_returns_an_excluded_row():
    x, interesting = planted(200)
    labelled = initial_batch(x, 10)
    learner = ActiveLearner(SMALL).fit(x, labelled, np.where(interesting[labelled], 5.0, 0.0))
    exclude = np.concatenate([labelled, np.arange(50)])
    batch = learner.next_batch(x, exclude, n=30)
    assert len(batch) == 30 and not set(batch.tolist()) & set(exclude.tolist())
    assert len(learner.next_batch(x, np.arange(195))) == 5
    ei = learner.expected_improvement(x)
    assert ei.shape == (200,) and (ei >= 0).all()


def test_learner_rejects_bad_labels():
    x, _ = planted(50)
    with pytest.raises(InputError, match="within"):
        ActiveLearner(SMALL).fit(x, [0, 1], [1.0, 6.0])
    with pytest.raises(InputError, match="twice"):
        ActiveLearner(SMALL).fit(x, [0, 0], [1.0, 1.0])
    with pytest.raises(InputError, match="NaN"):
        ActiveLearner(SMALL).fit(np.full((5, 3), np.nan), [0], [1.0])


def test_gp_loop_asks_nothing_twice_and_ranks_the_planted_cluster_first(tmp_path):
    x, interesting = planted()
    oracle = CountingOracle(interesting)
    store = LabelStore(tmp_path / "labels.jsonl")
    result = run_session(x, [f"s{i}" for i in range(len(x))], store, oracle, SMALL)
    assert result.finished and len(oracle.asked) == SMALL.budget
    assert len(set(oracle.asked)) == len(oracle.asked), "a source was asked twice"
    assert set(store.scores()) == {f"s{i}" for i in oracle.asked}
    n_cluster = int(interesting.sum())
    assert recall_at(result.mean, interesting, n_cluster) >= 0.9
    assert recall_at(random_scores(len(x), 0), interesting, n_cluster) < 0.3


def test_session_resumes_where_it_stopped(tmp_path):
    x, interesting = planted(300)
    ids = [f"s{i}" for i in range(len(x))]
    path = tmp_path / "labels.jsonl"
    first = CountingOracle(interesting, stop_after=13)
    stopped = run_session(x, ids, LabelStore(path), first, SMALL)
    assert not stopped.finished and len(first.asked) == 13
    second = CountingOracle(interesting)
    resumed = run_session(x, ids, LabelStore(path), second, SMALL)
    assert resumed.finished and len(second.asked) == SMALL.budget - 13
    assert not set(first.asked) & set(second.asked)
    # the first 10 asked are the PC1-spaced initial batch, split across the two sessions
    assert first.asked[:10] == initial_batch(x, 10).tolist()
    assert len(LabelStore(path).records()) == SMALL.budget


def test_isolation_forest_puts_a_far_outlier_first():
    x, _ = planted(300)
    x[17] = 25.0
    scores = isolation_forest_scores(x, seed=0)
    assert int(np.argmax(scores)) == 17
