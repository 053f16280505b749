"""`radiolatent anomaly label | rank | benchmark` write their files and fail in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from downstream_fixtures import planted, table_for

from radiolatent.cli import main
from radiolatent.data.codes import write_codes
from radiolatent.data.labels import LabelStore
from radiolatent.downstream.active import initial_batch
from radiolatent.downstream.recall import recall_at


def parser():
    import argparse

    from radiolatent.cli.anomaly import register

    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p


def test_cli_label_shows_png_and_metadata_and_resumes(tmp_path, monkeypatch, capsys):
    import builtins

    from radiolatent.data import inputs

    x, interesting = planted(150)
    write_codes(table_for(x, interesting), tmp_path / "codes.parquet")
    monkeypatch.setattr(
        inputs,
        "load_images_for",
        lambda rows: np.stack([np.full((64, 64), i % 256, np.uint8) for i in range(len(rows))]),
    )
    answers = iter(["4", "oops", "9", "2", "q"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    argv = [
        "anomaly",
        "label",
        "--codes",
        str(tmp_path / "codes.parquet"),
        "--labels",
        str(tmp_path / "l.jsonl"),
        "--thumbs",
        str(tmp_path / "thumbs"),
        "--budget",
        "15",
    ]
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
        args = p.parse_args(
            [
                "anomaly",
                "rank",
                "--codes",
                codes,
                "--method",
                method,
                "--labels",
                str(tmp_path / "l.jsonl"),
                "--out",
                str(out),
            ]
        )
        assert args.handler(args) == 0
        ranked = pd.read_csv(out)
        assert len(ranked) == 200 and sorted(ranked["id"]) == sorted(f"pool-{i}" for i in range(200))
        assert (np.diff(ranked["score"]) <= 0).all()
    assert {"std", "given"} <= set(pd.read_csv(tmp_path / "active.csv").columns)
    args = p.parse_args(
        [
            "anomaly",
            "benchmark",
            "--codes",
            codes,
            "--in",
            "pool",
            "--interesting",
            "Bent",
            "--budget",
            "30",
            "--seeds",
            "0",
            "--density-config",
            "tiny",
            "-k",
            "25",
            "--out",
            str(tmp_path / "bench"),
        ]
    )
    assert args.handler(args) == 0
    table = pd.read_csv(tmp_path / "bench" / "recall_at_k.csv")
    assert set(table["method"]) == {"ideal", "active", "iforest", "density", "random"}
    recall = table.set_index("method")["mean"]
    assert recall["active"] > recall["random"]
    assert (tmp_path / "bench" / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(LabelStore(tmp_path / "bench" / "labels-seed0.jsonl").records()) == 30


def test_cli_benchmark_ranks_by_a_given_density_model_once(tmp_path):
    from radiolatent.config import preset
    from radiolatent.downstream.density import DensityModel

    x, interesting = planted(200)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    model = DensityModel(preset("density", "tiny")).fit(x, seed=3)
    model.save(tmp_path / "maf")
    args = parser().parse_args(
        [
            "anomaly",
            "benchmark",
            "--codes",
            codes,
            "--in",
            "pool",
            "--interesting",
            "Bent",
            "--budget",
            "20",
            "--seeds",
            "0,1",
            "--density-model",
            str(tmp_path / "maf"),
            "-k",
            "25",
            "--out",
            str(tmp_path / "bench"),
        ]
    )
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


def test_cli_benchmark_with_a_graded_rule_oracle_says_so(tmp_path, capsys):
    from radiolatent.cli import main

    x, interesting = planted(120)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    argv = [
        "anomaly",
        "benchmark",
        "--codes",
        codes,
        "--in",
        "pool",
        "--budget",
        "15",
        "--seeds",
        "0",
        "--density-config",
        "tiny",
        "-k",
        "20",
        "--oracle",
        "rule:Bent=5,FRI=1",
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 0
    assert "oracle: graded by rule on label_name: Bent=5, FRI=1, else 0" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "b" / "recall_at_k.csv")
    assert set(table["oracle"]) == {"graded by rule on label_name: Bent=5, FRI=1, else 0"}
    assert {r["score"] for r in LabelStore(tmp_path / "b" / "labels-seed0.jsonl").records()} <= {1.0, 5.0}
    assert main([*argv[:-4], "--oracle", "column:nope", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --oracle: ") and "no column 'nope'" in err


def test_cli_rank_takes_the_active_learners_settings(tmp_path):
    """`anomaly rank --set iforest_estimators=N` ranks with that forest; a bad name is one line."""
    x, interesting = planted(200)
    codes = str(tmp_path / "codes.parquet")
    write_codes(table_for(x, interesting), codes)
    rank = ["anomaly", "rank", "--codes", codes, "--method", "iforest"]
    assert main([*rank, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*rank, "--set", "iforest_estimators=5", "--out", str(tmp_path / "b.csv")]) == 0
    default, small = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert set(default["id"]) == set(small["id"]) and not np.allclose(default["score"], small["score"])
    assert main([*rank, "--set", "nosuch=1", "--out", str(tmp_path / "c.csv")]) == 2
    assert not (tmp_path / "c.csv").exists()
