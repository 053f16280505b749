"""Classification from codes tables: the table equals scikit-learn run directly."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from synthetic import two_classes

from radiolatent.cli import classify as cli_classify
from radiolatent.cli import knn as cli_knn
from radiolatent.config import DEFAULT_CLASSIFY
from radiolatent.core.errors import InputError
from radiolatent.data.codes import make_codes_table, write_codes
from radiolatent.downstream.classify import (
    classify,
    classify_codes,
    compare,
    make_classifier,
)
from radiolatent.downstream.published import published_row

#: small forests keep the suite fast; the paper's sizes are checked separately.
FAST = dataclasses.replace(DEFAULT_CLASSIFY, rf_estimators=15, grad_estimators=15, ext_estimators=15)
DIM = 16


def meta(dataset: str, split: str, y: np.ndarray) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame(
        {
            "id": [f"{dataset}-{split}-{i}" for i in range(n)],
            "dataset": dataset,
            "split": split,
            "label": y,
            "label_name": np.where(y == 1, "FRII", "FRI"),
            "ra": np.nan,
            "dec": np.nan,
            "las_arcsec": np.nan,
            "redshift": np.nan,
            "survey": "FIRST",
            "pixel_scale_arcsec": 1.8,
        }
    )


def codes_table(model: str = "vdvae-w64", scale: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """120 MBC train and 40 MBC test rows of `model`'s codes."""
    (Xtr, ytr), (Xte, yte) = two_classes(120, seed), two_classes(40, seed + 100)
    return pd.concat(
        [
            make_codes_table(meta("mirabest:confident", "train", ytr), Xtr * scale, "mirabest:confident", model),
            make_codes_table(meta("mirabest:confident", "test", yte), Xte * scale, "mirabest:confident", model),
        ],
        ignore_index=True,
    )


def direct(name: str, seed: int, Xtr, ytr, Xte, yte) -> dict[str, float]:
    """The paper's classifier built and scored with scikit-learn alone."""
    models = {
        "knn": KNeighborsClassifier(n_neighbors=20),
        "rf": RandomForestClassifier(n_estimators=FAST.rf_estimators, random_state=seed),
        "svc": SVC(kernel="rbf", gamma=0.2, C=100),
        "lr": LogisticRegression(max_iter=1000),
        "grad": GradientBoostingClassifier(n_estimators=FAST.grad_estimators, random_state=seed),
        "ext": ExtraTreesClassifier(n_estimators=FAST.ext_estimators, random_state=seed),
    }
    model = models[name].fit(Xtr, ytr)
    score = model.decision_function(Xte) if name == "svc" else model.predict_proba(Xte)[:, 1]
    pred = model.predict(Xte)
    return {
        "accuracy": accuracy_score(yte, pred),
        "roc_auc": roc_auc_score(yte, score),
        "specificity": recall_score(yte, pred, pos_label=0),
        "recall": recall_score(yte, pred, pos_label=1),
    }


def cell(table: pd.DataFrame, clf: str, metric: str, column: str = "mean") -> float:
    return float(table[(table["classifier"] == clf) & (table["metric"] == metric)][column].iloc[0])


@pytest.mark.parametrize("standardise", [False, True])
def test_table_equals_sklearn_run_directly(standardise):
    table = codes_table()
    seeds = (0, 1)
    result = classify_codes(table, "mbc:train", "mbc:test", seeds=seeds, standardise=standardise, config=FAST)
    Xtr, ytr = two_classes(120, 0)
    Xte, yte = two_classes(40, 100)
    Xtr, Xte = Xtr.astype(np.float32).astype(np.float64), Xte.astype(np.float32).astype(np.float64)
    if standardise:
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    assert result.standardise is standardise and result.table.attrs["standardise"] is standardise
    assert list(dict.fromkeys(result.table["classifier"])) == ["knn", "rf", "svc", "lr", "grad", "ext"]
    for name in ("knn", "rf", "svc", "lr", "grad", "ext"):
        runs = pd.DataFrame([direct(name, s, Xtr, ytr, Xte, yte) for s in seeds])
        for metric in ("accuracy", "roc_auc", "specificity", "recall"):
            assert cell(result.table, name, metric) == pytest.approx(runs[metric].mean(), abs=1e-12), (name, metric)
            assert cell(result.table, name, metric, "sd") == pytest.approx(runs[metric].std(ddof=1), abs=1e-12)
            assert cell(result.table, name, metric, "n_seeds") == 2


def test_seed_spread_and_deterministic_classifiers():
    result = classify_codes(codes_table(), "mbc:train", "mbc:test", seeds=(0, 1, 2, 3), config=FAST)
    sd = result.table.set_index(["classifier", "metric"])["sd"]
    assert (sd.loc[["knn", "svc", "lr"]] == 0).all()
    # the seeded ensembles do vary across seeds on overlapping classes
    assert sd.loc["rf"].max() > 0 and sd.loc["ext"].max() > 0
    one = classify_codes(codes_table(), "mbc:train", "mbc:test", seeds=(5,), classifiers=["rf"], config=FAST)
    assert one.table["sd"].isna().all() and (one.table["n_seeds"] == 1).all()


def test_standardise_matters_for_tiny_features():
    # tiny-magnitude codes (like an untrained conv net's): the rbf kernel is ~1 everywhere
    table = codes_table(scale=1e-4)
    raw = classify_codes(table, "mbc:train", "mbc:test", seeds=(0,), classifiers=["svc", "lr"], standardise=False)
    std = classify_codes(table, "mbc:train", "mbc:test", seeds=(0,), classifiers=["svc", "lr"], standardise=True)
    # unscaled, the regularised lr shrinks to one class; scaled, it separates them
    assert cell(raw.table, "lr", "recall") in (0.0, 1.0) and cell(raw.table, "lr", "roc_auc") < 0.6
    assert cell(std.table, "lr", "accuracy") > cell(raw.table, "lr", "accuracy") + 0.15
    assert "unscaled" in raw.to_markdown() and "standardised" in std.to_markdown()
    assert json.loads(std.to_json())["standardise"] is True and json.loads(raw.to_json())["standardise"] is False


def test_paper_settings_and_default_run():
    assert make_classifier("knn", 0).n_neighbors == 20
    assert make_classifier("rf", 3).get_params()["n_estimators"] == 260
    assert make_classifier("rf", 3).random_state == 3
    svc = make_classifier("svc", 0)
    assert (svc.kernel, svc.gamma, svc.C) == ("rbf", 0.2, 100.0)
    assert make_classifier("lr", 0).max_iter == 1000
    assert make_classifier("grad", 0).n_estimators == 250 and make_classifier("ext", 0).n_estimators == 400
    with pytest.raises(InputError, match="unknown classifier 'xgb'"):
        make_classifier("xgb", 0)
    Xtr, ytr = two_classes(40, 1, shift=3.0)
    Xte, yte = two_classes(20, 2, shift=3.0)
    table = classify(Xtr, ytr, Xte, yte, seeds=(0,))
    assert len(table) == 24 and (table.loc[table["metric"] == "accuracy", "mean"] >= 0.85).all()


def test_markdown_shows_published_values_and_encoder():
    result = classify_codes(codes_table("vdvae-w64-e100"), "mbc:train", "mbc:test", seeds=(0, 1), config=FAST)
    assert result.encoder == "vdvae" and result.dataset == "mbc" and result.model == "vdvae-w64-e100"
    md = result.to_markdown()
    ext = next(line for line in md.splitlines() if line.startswith("| ext |"))
    acc, sd = cell(result.table, "ext", "accuracy"), cell(result.table, "ext", "accuracy", "sd")
    assert f"{acc:.3f} ± {sd:.3f}" in ext and "| 0.82 |" in ext and "| 0.90 |" in ext
    assert published_row("vdvae", "mbc", "ext")["roc_auc"] == 0.90
    doc = json.loads(result.to_json())
    assert doc["encoder"] == "vdvae" and len(doc["results"]) == 24
    ref = next(r for r in doc["results"] if r["classifier"] == "knn" and r["metric"] == "recall")
    assert ref["reference"] == 0.78

    byol = classify_codes(codes_table("byol-r18"), "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"])
    assert byol.encoder == "byol" and "best row for byol on mbc: svc, acc 0.73" in byol.to_markdown()
    # every classifier of every encoder has [A]'s value beside it, not only the best
    knn = next(line for line in byol.to_markdown().splitlines() if line.startswith("| knn |"))
    assert "| 0.63 |" in knn and "| 0.72 |" in knn
    other = classify_codes(codes_table("my-model"), "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"])
    assert other.encoder == "my-model" and other.reference("knn") is None


def test_compare_puts_encoders_side_by_side():
    results = [
        classify_codes(codes_table(m, seed=s), "mbc:train", "mbc:test", seeds=(0,), config=FAST)
        for m, s in (("vdvae-a", 0), ("random-conv-256", 7))
    ]
    md = compare(results)
    lines = [line for line in md.splitlines() if line.startswith(("| vdvae", "| random-conv"))]
    assert len(lines) == 2
    best = results[1].best()
    acc = cell(results[1].table, best, "accuracy")
    assert f"| {best} | {acc:.3f}" in lines[1]
    assert "0.82 / 0.90 (ext)" in lines[0] and "measured in a probe" in lines[1]


def test_bad_labels_and_selections():
    table = codes_table()
    hybrid = table.copy()
    hybrid.loc[[0, 2], "label"] = 2
    with pytest.raises(InputError, match=r"2 rows with labels \[2\].*`binary_only`"):
        classify_codes(hybrid, "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"])
    kept = classify_codes(hybrid, "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"], binary_only=True)
    assert kept.n_train == 118 and kept.dropped == {"train": 2, "test": 0}

    one_class = table.copy()
    one_class.loc[one_class["split"] == "train", "label"] = 1
    with pytest.raises(InputError, match="needs both FRI and FRII"):
        classify_codes(one_class, "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"])
    with pytest.raises(InputError, match="share 40 ids"):
        classify_codes(table, "mbc", "mbc:test", seeds=(0,), classifiers=["knn"])
    with pytest.raises(InputError, match="no rows match 'nvss:train'"):
        classify_codes(table, "nvss:train", "mbc:test")
    mixed = table.copy()
    mixed.loc[mixed["split"] == "test", "model"] = "byol"
    with pytest.raises(InputError, match="several models"):
        classify_codes(mixed, "mbc:train", "mbc:test")
    X, y = two_classes(10, 0)
    with pytest.raises(InputError, match="only FRI"):
        classify(X, np.full(10, 3), X, y)


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli_classify.register(subparsers)
    cli_knn.register(subparsers)
    return parser.parse_args(argv)


def test_cli_classify_writes_csv_matching_api(tmp_path, capsys):
    path = write_codes(codes_table(), tmp_path / "vdvae.parquet")
    out = tmp_path / "res" / "table.csv"
    args = _cli(
        [
            "classify",
            "--codes",
            str(path),
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
            "--seeds",
            "2",
            "--classifiers",
            "knn,rf,svc",
            "--out",
            str(out),
        ]
    )
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "| knn |" in printed and f"wrote {out}" in printed and "unscaled" in printed
    csv = pd.read_csv(out)
    api = classify_codes(codes_table(), "mbc:train", "mbc:test", seeds=(0, 1), classifiers=["knn", "rf", "svc"])
    np.testing.assert_allclose(csv["mean"], api.table["mean"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(csv["sd"], api.table["sd"], rtol=0, atol=1e-12)
    assert list(csv["classifier"]) == list(api.table["classifier"]) and (csv["standardise"] == False).all()  # noqa: E712


def test_cli_several_codes_and_json(tmp_path, capsys):
    model = write_codes(codes_table("vdvae-a"), tmp_path / "vdvae.parquet")
    floor = write_codes(codes_table("pixels-pca-256", seed=5), tmp_path / "pca.parquet")
    args = _cli(
        [
            "classify",
            "--codes",
            str(model),
            "--codes",
            str(floor),
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
            "--seeds",
            "1",
            "--classifiers",
            "knn,lr",
            "--standardise",
        ]
    )
    args.handler(args)
    printed = capsys.readouterr().out
    assert "| best clf |" in printed and "| pixels-pca |" in printed and "| vdvae |" in printed

    args = _cli(
        [
            "classify",
            "--codes",
            str(model),
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
            "--seeds",
            "1",
            "--classifiers",
            "lr",
            "--json",
        ]
    )
    args.handler(args)
    doc = json.loads(capsys.readouterr().out)
    assert doc["encoder"] == "vdvae" and {r["metric"] for r in doc["results"]} == {
        "accuracy",
        "roc_auc",
        "specificity",
        "recall",
    }

    args = _cli(
        ["classify", "--codes", str(model), "--train", "mbc:train", "--test", "mbc:test", "--classifiers", "knn,xgb"]
    )
    with pytest.raises(InputError, match="xgb"):
        args.handler(args)

    args = _cli(["knn", "--codes", str(model), "--protocol", "c", "--in", "mbc:train", "--splits", "3", "--json"])
    args.handler(args)
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_splits"] == 3 and 0 <= doc["mean"] <= 1
    args = _cli(["knn", "--codes", str(model), "--protocol", "b"])
    args.handler(args)
    assert "kNN [B] k=20" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Train on one codes table, test on another (real codes of shipped images)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_tables(tmp_path_factory):
    """pixels-pca codes (a small pool, 16 components, one orientation) of MBC train and of
    MBC test as two files, both in one file, and two tables no classifier may mix with them:
    MBC test by random-conv, and by pixels-pca averaged over orientations."""
    from radiolatent.config import DEFAULT_POOL, EmbedConfig
    from radiolatent.data.inputs import model_input
    from radiolatent.embedding import encode_images, get_encoder, model_id

    folder = tmp_path_factory.mktemp("codes")
    pool = dataclasses.replace(DEFAULT_POOL, sources=("mirabest:hybrid",), exclude=())  # 34 images: fast
    one_view = EmbedConfig(pca_components=16, dihedral_average=False)
    averaged = dataclasses.replace(one_view, dihedral_average=True)
    mbc = model_input("mbc", pool)
    test = mbc.meta["split"].to_numpy() == "test"

    def table(encoder, config, rows):
        codes = encode_images(encoder, mbc.images[rows], config)
        return make_codes_table(mbc.meta[rows], codes, "mirabest:confident", model_id(encoder, config))

    pca = get_encoder("pixels-pca", one_view, pool)  # fitted once: the PCA is the slow part
    tables = {
        "train": table(pca, one_view, ~test),
        "test": table(pca, one_view, test),
        "both": table(pca, one_view, slice(None)),
        "other_model": table(get_encoder("random-conv", one_view, pool), one_view, test),
        "averaged": table(pca, averaged, test),
    }
    return {name: write_codes(t, folder / f"{name}.parquet") for name, t in tables.items()}


def test_train_on_one_table_test_on_another(real_tables):
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.classify import classify_tables

    train, test = read_codes(real_tables["train"]), read_codes(real_tables["test"])
    # one deterministic classifier runs in this process: no worker start-up in a fast test
    across = classify_tables(train, "mbc:train", test, "mbc:test", seeds=(0,), classifiers=["knn"])
    within = classify_codes(read_codes(real_tables["both"]), "mbc:train", "mbc:test", seeds=(0,), classifiers=["knn"])
    assert (across.n_train, across.n_test) == (729, 104)
    pd.testing.assert_frame_equal(across.table, within.table)
    assert cell(across.table, "knn", "accuracy") > 0.6, "the split across files still classifies"
    assert across.test_source == str(real_tables["test"]) and f"of {real_tables['test']}" in across.header()
    assert json.loads(across.to_json())["test_codes"] == str(real_tables["test"])


def test_tables_of_different_models_are_refused(real_tables):
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.classify import classify_tables

    train = read_codes(real_tables["train"])
    with pytest.raises(
        InputError,
        match=r"other_model.parquet: codes made by model 'random-conv'.*"
        r"'pixels-pca'; codes of different models are not comparable",
    ):
        classify_tables(train, "mbc:train", read_codes(real_tables["other_model"]), "mbc:test", seeds=(0,))
    with pytest.raises(
        InputError,
        match=r"averaged.parquet: codes are averaged over orientations.*"
        r"single orientation",
    ):
        classify_tables(train, "mbc:train", read_codes(real_tables["averaged"]), "mbc:test", seeds=(0,))
    with pytest.raises(InputError, match="share 104 ids"):
        classify_tables(read_codes(real_tables["both"]), "mbc", read_codes(real_tables["test"]), "mbc:test")


def test_cli_test_codes(real_tables, capsys):
    train, test = str(real_tables["train"]), str(real_tables["test"])
    args = _cli(
        [
            "classify",
            "--codes",
            train,
            "--test-codes",
            test,
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
            "--seeds",
            "1",
            "--classifiers",
            "knn",
            "--json",
        ]
    )
    assert args.handler(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["codes"] == train and doc["test_codes"] == test and doc["n_test"] == 104
    args = _cli(
        [
            "classify",
            "--codes",
            train,
            "--test-codes",
            str(real_tables["other_model"]),
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
        ]
    )
    with pytest.raises(InputError, match="not comparable"):
        args.handler(args)
    args = _cli(
        [
            "classify",
            "--codes",
            train,
            "--codes",
            test,
            "--test-codes",
            test,
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
        ]
    )
    with pytest.raises(InputError, match=r"--test-codes: give one per --codes \(2\), got 1"):
        args.handler(args)


def test_reference_holds_every_cell_of_table_2():
    """[A] Table 2: 4 encoders x 6 classifiers x 2 datasets x 4 metrics, as published."""
    from radiolatent.config import CLASSIFIER_NAMES
    from radiolatent.downstream.published import ENCODERS, PUBLISHED_TABLE2

    assert len(PUBLISHED_TABLE2) == 48
    for encoder in ENCODERS:
        for dataset in ("mbc", "nvss"):
            for clf in CLASSIFIER_NAMES:
                row = published_row(encoder, dataset, clf)
                assert all(0 < row[m] <= 1 for m in ("accuracy", "roc_auc", "specificity", "recall"))
    assert published_row("simsiam", "nvss", "grad")["recall"] == 0.93
    assert published_row("simclr", "nvss", "best")["classifier"] == "lr"  # 0.86, its best
