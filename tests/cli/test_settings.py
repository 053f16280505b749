"""`--config default --set NAME=VALUE` on the commands whose settings have one preset
(docs/cli.md): a --set changes what the command does, the command's own flag for a setting
wins over --set, and a bad --set is refused in one line before any file is written."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from downstream_fixtures import random_codes, table_of

from radiolatent.cli import build_parser, main
from radiolatent.cli.argtypes import settings
from radiolatent.data.codes import write_codes
from radiolatent.data.labels import LabelStore

FITS = Path(__file__).parents[1] / "data" / "first_fits"


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """60 random 32-d codes of `pool` rows (no sky positions); rows 10 and 11 identical."""
    codes = random_codes(60, seed=7)
    codes[11] = codes[10]
    path = tmp_path_factory.mktemp("settings") / "pool.parquet"
    write_codes(table_of(codes, "pool"), path)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """A labelled `toy` set where the neighbour count decides: 10 FRI codes near 0 and two
    FRII codes far off to train on; 3 FRI near 0 and 1 FRII by the far ones to test. One
    neighbour gets every test row right, twelve call everything FRI."""
    rng = np.random.default_rng(0)
    far = np.array([10.0, 0, 0, 0])
    train = np.vstack([0.1 * rng.normal(size=(10, 4)), far, far + 0.1]).astype(np.float32)
    test = np.vstack([0.1 * rng.normal(size=(3, 4)), far + 0.05]).astype(np.float32)
    parts = []
    for codes, split, labels in ((train, "train", [0] * 10 + [1, 1]), (test, "test", [0, 0, 0, 1])):
        part = table_of(codes, "toy", split)
        part["id"] = [f"toy-{split}-{i}" for i in range(len(codes))]
        part["label"] = labels
        part["label_name"] = np.where(np.array(labels) == 1, "FRII", "FRI")
        parts.append(part)
    path = tmp_path_factory.mktemp("settings") / "toy.parquet"
    write_codes(pd.concat(parts, ignore_index=True), path)
    return path


def classify(toy: Path, *options: str, capsys) -> pd.DataFrame:
    argv = ["classify", "--codes", str(toy), "--train", "toy:train", "--test", "toy:test", "--classifiers", "knn"]
    assert main([*argv, "--json", *options]) == 0
    return pd.DataFrame(json.loads(capsys.readouterr().out)["results"])


def accuracy(table: pd.DataFrame) -> float:
    return float(table.query("metric == 'accuracy'")["mean"].iloc[0])


def refused(capsys, setting: str) -> str:
    """The one line a refused --set gave on stderr."""
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: --config/--set: ") and setting in err, err
    return err


def test_classify_set_changes_the_classifiers_and_seeds(toy, capsys):
    assert accuracy(classify(toy, "--set", "knn_neighbors=1", capsys=capsys)) == 1.0
    assert accuracy(classify(toy, "--set", "knn_neighbors=12", capsys=capsys)) == 0.75
    table = classify(toy, "--set", "seeds=0,1", "--set", "knn_neighbors=1", capsys=capsys)
    assert set(table["n_seeds"]) == {2}


def test_classify_flags_win_over_set(toy, capsys):
    table = classify(toy, "--seeds", "1", "--set", "seeds=0,1,2,3", "--set", "knn_neighbors=1", capsys=capsys)
    assert set(table["n_seeds"]) == {1}
    argv = ["--classifiers", "knn", "--set", "classifiers=svc", "--set", "knn_neighbors=1"]
    assert set(classify(toy, *argv, capsys=capsys)["classifier"]) == {"knn"}


def test_classify_refuses_an_unknown_setting_and_writes_nothing(toy, tmp_path, capsys):
    out = tmp_path / "table.csv"
    argv = ["classify", "--codes", str(toy), "--train", "toy:train", "--test", "toy:test", "--out", str(out)]
    assert main([*argv, "--set", "nosuch=1"]) == 2
    refused(capsys, "nosuch")
    assert not out.exists()


def search(pool: Path, out: Path, *options: str) -> int:
    return main(["search", "--codes", str(pool), "--query", "pool-10", "-o", str(out), *options])


@pytest.fixture
def blank_images(monkeypatch):
    """The rows' images, as the search grid and `anomaly label` show them: blank (the
    codes are made up)."""
    from radiolatent.data import inputs

    monkeypatch.setattr(inputs, "load_images_for", lambda rows: np.zeros((len(rows), 64, 64), np.uint8))


@pytest.mark.usefixtures("blank_images")
def test_search_set_k_gives_that_many_matches_and_k_wins(pool, tmp_path):
    out = tmp_path / "s.png"
    assert search(pool, out, "--set", "k=3") == 0
    assert len(pd.read_csv(out.with_suffix(".csv"))) == 3
    assert search(pool, out, "--set", "k=3", "-k", "2", "--overwrite") == 0
    assert len(pd.read_csv(out.with_suffix(".csv"))) == 2
    assert search(pool, out, "--set", "metric=cosine", "--overwrite") == 0
    assert set(pd.read_csv(out.with_suffix(".csv"))["metric"]) == {"cosine"}


def test_search_refuses_an_unknown_setting_and_writes_nothing(pool, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert search(pool, out, "--set", "nosuch=1") == 2
    refused(capsys, "nosuch")
    assert not out.exists() and not out.with_suffix(".csv").exists()


def test_duplicates_set_metric_and_the_metric_flag_wins(pool, tmp_path, capsys):
    argv = ["duplicates", "--codes", str(pool), "--out", str(tmp_path / "d.csv"), "--overwrite"]
    assert main([*argv, "--set", "metric=cosine", "--no-by-position"]) == 0
    assert "1 pairs with cosine >= 0.99 in pool" in capsys.readouterr().out
    assert main([*argv, "--set", "metric=cosine", "--metric", "whitened-cosine", "--no-by-position"]) == 0
    assert "with whitened-cosine >= 0.8, mutual nearest" in capsys.readouterr().out


def test_importance_set_changes_the_forest_and_a_bad_set_writes_nothing(pool, tmp_path, capsys):
    out = tmp_path / "imp.png"
    assert main(["importance", "--codes", str(pool), "-o", str(out), "--set", "min_trees=3"]) == 0
    assert "60 rows, 3 trees" in capsys.readouterr().out
    other = tmp_path / "other.png"
    assert main(["importance", "--codes", str(pool), "-o", str(other), "--set", "min_trees=many"]) == 2
    refused(capsys, "min_trees")
    assert not other.exists() and not other.with_suffix(".csv").exists()


def test_map_refuses_an_unknown_setting_and_writes_nothing(pool, tmp_path, capsys):
    out = tmp_path / "map.png"
    assert main(["map", "--codes", str(pool), "-o", str(out), "--set", "nosuch=1"]) == 2
    refused(capsys, "nosuch")
    assert not out.exists()


def test_predict_set_changes_the_catalogue(toy, tmp_path, capsys):
    out = tmp_path / "p.csv"
    argv = ["predict", "--codes", str(toy), "--train", "toy:train", "--in", "toy:test", "--classifiers", "lr"]
    assert main([*argv, "--set", "folds=2", "--set", "nearest_ids=1", "--out", str(out)]) == 0
    assert (pd.read_csv(out)["nearest_train"].str.count("toy-") == 1).all()
    assert main([*argv, "--set", "folds=1", "--out", str(tmp_path / "q.csv")]) == 2
    assert "folds must be at least 2" in refused(capsys, "folds")
    assert not (tmp_path / "q.csv").exists()


def label(pool: Path, tmp_path: Path, monkeypatch, *options: str) -> LabelStore:
    """`anomaly label` answering 1 to every source until the budget is reached."""
    monkeypatch.setattr(builtins, "input", lambda prompt="": "1")
    labels = tmp_path / f"labels{len(options)}.jsonl"
    argv = ["anomaly", "label", "--codes", str(pool), "--labels", str(labels), "--thumbs", str(tmp_path / "t")]
    assert main([*argv, "--overwrite", *options]) == 0
    return LabelStore(labels)


@pytest.mark.usefixtures("blank_images")
def test_anomaly_label_set_budget_and_the_budget_flag_wins(pool, tmp_path, monkeypatch, capsys):
    assert len(label(pool, tmp_path, monkeypatch, "--set", "budget=2").scores()) == 2
    assert "budget 2" in capsys.readouterr().out
    assert len(label(pool, tmp_path, monkeypatch, "--set", "budget=2", "--budget", "1").scores()) == 1


@pytest.mark.parametrize(
    "argv, kind, expected",
    [
        # with neither --config nor --set, the settings are the command's old defaults
        (["explore", "--codes", "c.parquet"], "explore", {"host": "127.0.0.1", "port": 8765, "k": 8}),
        (["explore", "--codes", "c", "--set", "port=9000", "--set", "k=4"], "explore", {"port": 9000, "k": 4}),
        (["explore", "--codes", "c", "--port", "8000", "--set", "port=9000"], "explore", {"port": 8000}),
        (["embed", "--out", "c.parquet"], "embed", {"device": "auto", "batch_size": 64, "precision": "fp32"}),
        (["embed", "--out", "c.parquet", "--set", "device=cpu", "--set", "threads=1"], "embed", {"device": "cpu"}),
        (["embed", "--out", "c.parquet", "--device", "cuda", "--set", "device=cpu"], "embed", {"device": "cuda"}),
        (["anomaly", "benchmark", "--codes", "c"], "active", {"budget": 200, "batch_size": 10}),
        (["anomaly", "benchmark", "--codes", "c", "--set", "batch_size=5"], "active", {"batch_size": 5}),
        (["classify", "--codes", "c", "--train", "a", "--test", "b"], "classify", {"seeds": (0, 1, 2)}),
    ],
)
def test_each_command_builds_its_settings_from_config_set_and_its_flags(argv, kind, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(argv)
    given = {
        "explore": lambda: {"host": args.host, "port": args.port},
        "embed": lambda: {"batch_size": args.batch_size, "device": args.device, "precision": args.precision},
        "active": lambda: {"budget": args.budget},
        "classify": dict,
    }[kind]()
    config = settings(args, kind, given=given)
    assert {name: getattr(config, name) for name in expected} == expected


def test_embed_set_dihedral_average_false_encodes_once(tmp_path):
    out = tmp_path / "c.parquet"
    argv = ["embed", "--data", f"fits=folder@{FITS}", "--survey", "FIRST", "--out", str(out)]
    assert main([*argv, "--set", "dihedral_average=false", "--set", "threads=1"]) == 0
    assert set(pd.read_parquet(out)["model"]) == {"vdvae-cpu"}, "one pass: no '+d8'"
