"""The recall benchmark: recall against rank, the same curves in worker processes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from downstream_fixtures import SMALL, planted, table_for

from radiolatent.config import preset
from radiolatent.data.labels import LabelStore
from radiolatent.downstream.oracles import ScoreOracle
from radiolatent.downstream.recall import benchmark_rows, recall_at, recall_benchmark, recall_curve


def test_recall_curve():
    interesting = np.array([0, 1, 0, 1], dtype=bool)
    np.testing.assert_allclose(recall_curve([4.0, 3.0, 2.0, 1.0], interesting), [0, 0.5, 0.5, 1.0])
    assert recall_at([0.0, 9.0, 0.0, 8.0], interesting, 2) == 1.0


def test_benchmark_curves_do_not_depend_on_worker_processes():
    """Rankings run in worker processes give exactly the curves of a sequential run."""
    x, interesting = planted(n=300, d=6)
    ids = [f"s{i}" for i in range(len(x))]
    curves = [
        recall_benchmark(
            x,
            ids,
            interesting,
            dataclasses.replace(SMALL, jobs=jobs),
            seeds=(0, 1),
            density_config=preset("density", "tiny"),
        ).curves
        for jobs in (1, 2)
    ]
    for method in curves[0]:
        np.testing.assert_array_equal(np.stack(curves[0][method]), np.stack(curves[1][method]), err_msg=method)


def test_graded_oracle_labels_the_session_and_is_named_in_the_table():
    """A graded oracle's 0-5 scores are what the learner is given, and the curves, the
    table and the stored labels say which oracle it was."""
    x, interesting = planted(n=200, d=6)
    ids = [f"s{i}" for i in range(len(x))]
    grades = np.where(interesting, 4.0, np.arange(len(x)) % 3)  # the cluster 4, the rest 0..2
    oracle = ScoreOracle(grades, "graded-test", "graded by test")
    curves = recall_benchmark(
        x,
        ids,
        interesting,
        dataclasses.replace(SMALL, budget=20, jobs=1),
        seeds=(0,),
        methods=("active", "random"),
        oracle=oracle,
    )
    table = curves.recall_table(25)
    assert curves.oracle == "graded by test" and set(table["oracle"]) == {"graded by test"}
    binary = recall_benchmark(
        x, ids, interesting, dataclasses.replace(SMALL, budget=20, jobs=1), seeds=(0,), methods=("random",)
    )
    assert binary.oracle.startswith("binary")


def test_benchmark_rows_with_a_graded_column_oracle_writes_it_in_the_csv(tmp_path):
    x, interesting = planted(n=200, d=6)
    rows = table_for(x, interesting)
    rows["las_arcsec"] = np.where(interesting, 200.0, 20.0) + np.arange(len(x)) % 7
    _curves, _table, _written = benchmark_rows(
        rows,
        "Bent",
        tmp_path,
        k=25,
        seeds=(0,),
        progress=False,
        config=dataclasses.replace(SMALL, budget=20, jobs=1),
        density_config=preset("density", "tiny"),
        oracle="column:las_arcsec:20:200",
    )
    csv = pd.read_csv(tmp_path / "recall_at_k.csv")
    assert set(csv["oracle"]) == {"graded 0-5 from column las_arcsec (20 -> 0 .. 200 -> 5)"}
    records = LabelStore(tmp_path / "labels-seed0.jsonl").records()
    assert len(records) == 20 and {r["by"] for r in records} == {"graded-column"}
    # the grades are whole steps of the column: 20..26 arcsec -> 0, 200..206 -> 5
    assert {r["score"] for r in records} <= {0.0, 5.0}
    assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
