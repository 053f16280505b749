"""Active-learning anomaly search: the label store survives crashes, the GP loop finds a
planted cluster without asking twice, sessions resume, the CLI writes its files."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from radiolatent.codes import make_codes_table, write_codes
from radiolatent.config import DEFAULT_ACTIVE
from radiolatent.downstream.anomaly import (
    ActiveLearner,
    ColumnOracle,
    LabelStore,
    initial_batch,
    isolation_forest_scores,
    random_scores,
    recall_at,
    recall_benchmark,
    recall_curve,
    run_session,
)
from radiolatent.errors import InputError

SMALL = dataclasses.replace(DEFAULT_ACTIVE, budget=40, n_restarts=0)


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


# ---------------------------------------------------------------------------
# Label store
# ---------------------------------------------------------------------------


def test_label_store_appends_one_json_line_per_label_and_last_wins(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add("a", 1)
    store.add("b", 4.5, by="oracle")
    store.add("a", 3)
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert set(first) == {"id", "score", "time", "by"} and first["by"] == "person"
    assert store.scores() == {"a": 3.0, "b": 4.5} and len(store) == 2
    store.export_csv(tmp_path / "labels.csv")
    csv = pd.read_csv(tmp_path / "labels.csv")
    assert list(csv.columns) == ["id", "score", "time", "by"] and list(csv["score"]) == [1.0, 4.5, 3.0]


def test_label_store_rejects_bad_scores(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    for bad in (5.5, -1, float("nan"), float("inf")):
        with pytest.raises(InputError, match="outside"):
            store.add("a", bad)
    with pytest.raises(InputError, match="id"):
        store.add("", 2)
    assert not (tmp_path / "labels.jsonl").exists(), "a refused label writes nothing"


def test_truncated_last_line_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.add("a", 1)
    store.add("b", 2)
    with open(path, "ab") as handle:  # a crash mid-write
        handle.write(b'{"id": "c", "score": 5, "ti')
    with pytest.warns(UserWarning, match="incomplete last label"):
        assert LabelStore(path).scores() == {"a": 1.0, "b": 2.0}
    with pytest.warns(UserWarning, match="removed an incomplete"):
        store.add("c", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is clean again
        assert LabelStore(path).scores() == {"a": 1.0, "b": 2.0, "c": 5.0}
    assert len(path.read_text().splitlines()) == 3


def test_garbage_before_the_last_line_or_bad_values_raise_input_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.add("a", 1)
    with open(path, "ab") as handle:
        handle.write(b"garbage\n")
    store_line = json.dumps({"id": "b", "score": 2.0, "time": "2024-01-01T00:00:00+00:00", "by": "person"})
    with open(path, "a") as handle:
        handle.write(store_line + "\n")
    with pytest.raises(InputError, match=r"labels.jsonl: line 2"):
        store.scores()
    path.write_text(json.dumps({"id": "a", "score": 7, "time": "2024-01-01T00:00:00", "by": "x"}) + "\n")
    with pytest.raises(InputError, match="line 1: score 7.0 is outside"):
        store.scores()
    path.write_text(json.dumps({"id": "a", "score": 2, "time": "yesterday", "by": "x"}) + "\n")
    with pytest.raises(InputError, match="ISO-8601"):
        store.scores()


# ---------------------------------------------------------------------------
# Learner and session
# ---------------------------------------------------------------------------


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


def test_recall_curve():
    interesting = np.array([0, 1, 0, 1], dtype=bool)
    np.testing.assert_allclose(recall_curve([4.0, 3.0, 2.0, 1.0], interesting), [0, 0.5, 0.5, 1.0])
    assert recall_at([0.0, 9.0, 0.0, 8.0], interesting, 2) == 1.0


def test_benchmark_curves_do_not_depend_on_worker_processes():
    """Rankings run in worker processes give exactly the curves of a sequential run."""
    from radiolatent.config import get_density_config

    x, interesting = planted(n=300, d=6)
    ids = [f"s{i}" for i in range(len(x))]
    curves = [recall_benchmark(x, ids, interesting, dataclasses.replace(SMALL, jobs=jobs), seeds=(0, 1),
                               density_config=get_density_config("tiny")).curves for jobs in (1, 2)]
    for method in curves[0]:
        np.testing.assert_array_equal(np.stack(curves[0][method]), np.stack(curves[1][method]), err_msg=method)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def table_for(x: np.ndarray, interesting: np.ndarray) -> pd.DataFrame:
    n = len(x)
    meta = pd.DataFrame({
        "id": [f"pool-{i}" for i in range(n)], "dataset": "first-galaxy", "split": "train",
        "label": np.where(interesting, 3, 0), "label_name": np.where(interesting, "Bent", "FRI"),
        "ra": 150.0, "dec": 2.0, "las_arcsec": 30.0, "redshift": np.nan, "survey": "FIRST",
        "pixel_scale_arcsec": 1.8,
    })
    return make_codes_table(meta, x.astype(np.float32), "pool", "test-model")


def parser():
    import argparse

    from radiolatent.cli.discover import register

    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p


def test_cli_label_shows_png_and_metadata_and_resumes(tmp_path, monkeypatch, capsys):
    from radiolatent import embedding
    import builtins

    x, interesting = planted(150)
    write_codes(table_for(x, interesting), tmp_path / "codes.parquet")
    monkeypatch.setattr(embedding, "load_images_for",
                        lambda rows: np.stack([np.full((64, 64), i % 256, np.uint8) for i in range(len(rows))]))
    answers = iter(["4", "oops", "9", "2", "q"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    argv = ["anomaly", "label", "--codes", str(tmp_path / "codes.parquet"), "--labels", str(tmp_path / "l.jsonl"),
            "--thumbs", str(tmp_path / "thumbs"), "--budget", "15"]
    args = parser().parse_args(argv)
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    store = LabelStore(tmp_path / "l.jsonl")
    assert list(store.scores().values()) == [4.0, 2.0], "bad answers are asked again, not stored"
    first_two = list(store.scores())
    assert f"image: {tmp_path / 'thumbs' / (first_two[0] + '.png')}" in out
    assert "dataset=first-galaxy" in out and "please type a number" in out and "stopped" in out
    assert (tmp_path / "thumbs" / f"{first_two[0]}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # rerun: resumes from the store, never re-asks the two labelled sources, stops at the budget
    monkeypatch.setattr(builtins, "input", lambda prompt="": "0")
    args = parser().parse_args(argv)
    assert args.handler(args) == 0
    records = store.records()
    assert len(records) == 15 and len({r["id"] for r in records}) == 15
    assert [r["id"] for r in records[:2]] == first_two


def test_cli_rank_and_benchmark_write_their_files(tmp_path, capsys):
    x, interesting = planted(200)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    store = LabelStore(tmp_path / "l.jsonl")
    for row in initial_batch(x, 10):
        store.add(f"pool-{row}", 5.0 if interesting[row] else 0.0)
    p = parser()
    for method in ("active", "iforest", "random"):
        out = tmp_path / f"{method}.csv"
        args = p.parse_args(["anomaly", "rank", "--codes", codes, "--method", method,
                             "--labels", str(tmp_path / "l.jsonl"), "--out", str(out)])
        assert args.handler(args) == 0
        ranked = pd.read_csv(out)
        assert len(ranked) == 200 and sorted(ranked["id"]) == sorted(f"pool-{i}" for i in range(200))
        assert (np.diff(ranked["score"]) <= 0).all()
    assert {"std", "given"} <= set(pd.read_csv(tmp_path / "active.csv").columns)
    args = p.parse_args(["anomaly", "benchmark", "--codes", codes, "--in", "pool", "--interesting", "Bent",
                         "--budget", "30", "--seeds", "0", "--density-config", "tiny", "-k", "25",
                         "--out", str(tmp_path / "bench")])
    assert args.handler(args) == 0
    table = pd.read_csv(tmp_path / "bench" / "recall_at_k.csv")
    assert set(table["method"]) == {"ideal", "active", "iforest", "density", "random"}
    recall = table.set_index("method")["mean"]
    assert recall["active"] > recall["random"]
    assert (tmp_path / "bench" / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(LabelStore(tmp_path / "bench" / "labels-seed0.jsonl").records()) == 30


def test_cli_benchmark_ranks_by_a_given_density_model_once(tmp_path):
    from radiolatent.config import get_density_config
    from radiolatent.downstream.density import DensityModel

    x, interesting = planted(200)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    model = DensityModel(get_density_config("tiny")).fit(x, seed=3)
    model.save(tmp_path / "maf")
    args = parser().parse_args(["anomaly", "benchmark", "--codes", codes, "--in", "pool", "--interesting", "Bent",
                                "--budget", "20", "--seeds", "0,1", "--density-model", str(tmp_path / "maf"),
                                "-k", "25", "--out", str(tmp_path / "bench")])
    assert args.handler(args) == 0
    row = pd.read_csv(tmp_path / "bench" / "recall_at_k.csv").set_index("method").loc["density"]
    assert row["runs"] == 1
    assert row["mean"] == pytest.approx(recall_at(-model.score_samples(x), interesting, 25))


def test_cli_rank_errors(tmp_path, capsys):
    from radiolatent.cli import main

    x, interesting = planted(60)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    assert main(["anomaly", "rank", "--codes", codes, "--labels", str(tmp_path / "none.jsonl")]) == 2
    assert "run `anomaly label` first" in capsys.readouterr().err
    assert main(["anomaly", "rank", "--codes", codes, "--in", "mbc", "--method", "random"]) == 2
    assert "no rows match 'mbc'" in capsys.readouterr().err
    assert main(["anomaly", "benchmark", "--codes", codes, "--in", "pool", "--interesting", "Hybrid"]) == 2
    assert "no 'Hybrid' rows" in capsys.readouterr().err
