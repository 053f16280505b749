"""Predictions for rows without labels: classes and calibrated probabilities from real
codes, a classifier chosen within the labelled rows, an in-domain flag for codes unlike
the labelled ones, the nearest labelled sources, and one-line refusals."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from downstream_fixtures import real_mirabest_griese

from radiolatent.config import DEFAULT_CLASSIFY, DEFAULT_PREDICT
from radiolatent.core.errors import InputError
from radiolatent.data.codes import make_codes_table
from radiolatent.downstream.predict import predict_codes, probability_column, summary_lines

#: [A]'s six classifiers with fewer trees, so the tests stay quick; the rules are the same.
QUICK = replace(DEFAULT_CLASSIFY, rf_estimators=40, grad_estimators=10, ext_estimators=60, lr_max_iter=50)
GRIESE_CLASSES = ["FRI", "FRII", "Compact", "Bent"]


@pytest.fixture(scope="module")
def real():
    table, queries, twins = real_mirabest_griese()
    return table, queries, twins


def unlabelled(table, set_name):
    """The rows of one set with their labels hidden, as a survey's would be."""
    rows = table[table["set"] == set_name]
    hidden = table.copy()
    hidden.loc[rows.index, "label"] = -1
    hidden.loc[rows.index, "label_name"] = ""
    return hidden


@pytest.fixture(scope="module")
def griese_predictions(real):
    table, _, _ = real
    truth = table.loc[table["split"] == "test", ["id", "label_name"]]
    hidden = table.copy()
    hidden.loc[truth.index, ["label", "label_name"]] = (-1, "")
    predicted = predict_codes(hidden, "first-galaxy:train", hidden, "first-galaxy:test", classify_config=QUICK)
    return predicted, truth.set_index("id")["label_name"]


def test_rows_without_labels_get_a_class_and_calibrated_probabilities(griese_predictions):
    predicted, truth = griese_predictions
    probabilities = predicted[[probability_column(name) for name in GRIESE_CLASSES]].to_numpy()
    assert predicted.attrs["classes"] == GRIESE_CLASSES
    assert np.allclose(probabilities.sum(axis=1), 1) and ((probabilities > 0) & (probabilities < 1)).all()
    assert (predicted["prediction"] == np.asarray(GRIESE_CLASSES)[probabilities.argmax(axis=1)]).all()
    accuracy = (predicted["prediction"] == truth.loc[predicted["id"]].to_numpy()).mean()
    assert accuracy >= 0.6, "four classes: chance is 0.25"
    # the probabilities mean what they say: the most confident calls are right more often
    confident = probabilities.max(axis=1) >= np.median(probabilities.max(axis=1))
    right = predicted["prediction"].to_numpy() == truth.loc[predicted["id"]].to_numpy()
    assert right[confident].mean() > right[~confident].mean()
    assert set(np.round(predicted["agreement"] * 6, 6)) <= set(range(7))
    assert not predicted["in_training"].any()


def test_the_default_classifier_is_the_best_in_validation_within_the_training_rows(griese_predictions):
    predicted, _ = griese_predictions
    validation = predicted.attrs["validation"]
    assert set(validation["classifier"]) == {"rf", "svc", "lr", "grad", "ext", "knn"}
    best = validation.sort_values(["accuracy", "log_loss"], ascending=[False, True]).iloc[0]
    assert (predicted["classifier"] == best["classifier"]).all()
    assert predicted.attrs["n_train"] == 479, "only the labelled train rows; the test split never"
    assert any(line.startswith("classifier: ") for line in summary_lines(predicted))


def test_a_source_held_in_the_training_rows_is_its_own_nearest_labelled_source(real):
    table, queries, twins = real
    predicted = predict_codes(
        table, "first-galaxy", unlabelled(table, "mirabest:all"), "mirabest:all", classifier="lr", classify_config=QUICK
    )
    nearest = predicted.set_index("id").loc[queries, "nearest_train"].str.split(";").str[0]
    assert (nearest.to_numpy() == np.asarray(twins)).mean() >= 0.7
    assert predicted["in_domain"].median() >= 0.3


def test_codes_unlike_every_labelled_code_are_flagged_out_of_domain(real):
    table, _, _ = real
    train = table[table["set"] == "first-galaxy:all"]
    codes = train.filter(regex=r"^z\d+$").to_numpy(np.float32)
    # codes four times farther from the mean than real sources: nothing labelled is like them
    strange = codes.mean(axis=0) + 4 * (codes[:20] - codes.mean(axis=0))
    meta = train.iloc[:20][list(train.columns[: list(train.columns).index("set")])].reset_index(drop=True)
    meta = meta.assign(id=[f"strange-{i}" for i in range(20)], label=-1, label_name="")
    odd = make_codes_table(meta, strange.astype(np.float32), "mirabest:all", str(train["model"].iloc[0]))
    both = pd.concat([unlabelled(table, "mirabest:all"), odd], ignore_index=True)
    predicted = predict_codes(both, "first-galaxy", both, "mirabest:all", classifier="lr", classify_config=QUICK)
    flagged = predicted.set_index("id")["out_of_domain"]
    is_strange = flagged.index.str.startswith("strange-")
    assert is_strange.sum() == 20 and flagged[is_strange].all()
    assert flagged[~is_strange].mean() <= 0.1


def test_refusals_are_one_line_and_name_the_problem(real):
    table, _, _ = real
    one_class = table.copy()
    one_class.loc[one_class["set"] == "mirabest:all", "label"] = 1
    one_class.loc[one_class["set"] == "mirabest:all", "label_name"] = "FRII"
    with pytest.raises(InputError, match="one class only"):
        predict_codes(one_class, "mirabest:all", table, "first-galaxy:test")
    few = table[table["set"] == "mirabest:all"].copy()
    few = few.drop(few.index[few["label"] == 0][3:])
    with pytest.raises(InputError, match="3 rows of class FRI; 5-fold validation needs at least 5"):
        predict_codes(few, "mirabest:all", table, "first-galaxy:test")
    with pytest.raises(InputError, match="no labelled rows"):
        predict_codes(unlabelled(table, "mirabest:all"), "mirabest:all", table, "first-galaxy:test")
    with pytest.raises(InputError, match="unknown 'boost'"):
        predict_codes(table, "mirabest:all", table, "first-galaxy:test", classifier="boost")
    with pytest.raises(InputError, match="folds must be at least 2"):
        predict_codes(table, "mirabest:all", table, "first-galaxy:test", config=replace(DEFAULT_PREDICT, folds=1))


def test_rows_of_another_pixel_scale_are_warned_about_in_one_line(real):
    table, _, _ = real
    nvss_like = unlabelled(table, "mirabest:all")
    nvss_like.loc[nvss_like["set"] == "mirabest:all", "pixel_scale_arcsec"] = 15.0
    with pytest.warns(
        UserWarning, match=r"rows are at a pixel scale unlike 'first-galaxy' \(15\"/px against 1.8\"/px\)"
    ):
        predict_codes(nvss_like, "first-galaxy", nvss_like, "mirabest:all", classifier="svc", classify_config=QUICK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same survey: not a word
        predict_codes(table, "first-galaxy", table, "mirabest:all", classifier="svc", classify_config=QUICK)
