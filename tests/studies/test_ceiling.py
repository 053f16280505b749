"""The supervised ceiling in the study (radiolatent.studies.ceiling): the shipped table and the
summary rows the report shows beside the encoders."""

import pandas as pd
import pytest

from radiolatent.config import QUICK_REPRODUCE, ReproduceConfig
from radiolatent.studies.ceiling import shipped_rows, summary_rows
from radiolatent.studies.reproduce import study_stages
from radiolatent.studies.supervised import ceiling_run
from radiolatent.studies.table2 import summary_markdown


def test_the_shipped_ceiling_has_the_classifier_results_columns():
    rows = shipped_rows()
    assert list(rows.columns[:6]) == ["dataset", "accuracy", "roc_auc", "specificity", "recall", "seed"]
    assert set(rows["dataset"]) <= {"mbc", "nvss"} and "mbc" in set(rows["dataset"])
    assert rows[["accuracy", "roc_auc", "specificity", "recall"]].stack().between(0, 1).all()


def test_summary_rows_average_the_seeds_beside_the_published_number():
    rows = pd.DataFrame(
        {
            "dataset": ["mbc", "mbc", "nvss"],
            "accuracy": [0.9, 0.8, 0.7],
            "roc_auc": [0.95, 0.85, 0.75],
            "seed": [0, 1, 0],
        }
    )
    mbc, nvss = summary_rows(rows)
    assert (mbc["dataset"], mbc["accuracy"], mbc["paper_accuracy"]) == ("mbc", pytest.approx(0.85), 0.9242)
    assert mbc["accuracy_sd"] == pytest.approx(0.0707, abs=1e-4) and nvss["accuracy_sd"] is None
    text = summary_markdown(summary_rows(rows))
    assert "supervised-resnet18" in text and "0.92 / – ([B] supervised ResNet-18)" in text


def _supervised_params(cfg: ReproduceConfig, retrain: bool = False) -> dict:
    (stage,) = [s for s in study_stages(cfg, retrain=retrain)[0] if s.name == "supervised"]
    return stage.params


def test_the_study_shows_the_shipped_ceiling_and_trains_it_only_when_asked():
    """--retrain (the encoders) keeps the shipped ceiling, which would take it past its 90
    minutes; retrain_ceiling trains `seeds` seeds at the shipped table's settings."""
    assert _supervised_params(ReproduceConfig())["retrain"] is False
    assert _supervised_params(ReproduceConfig(), retrain=True)["retrain"] is False
    trained = _supervised_params(ReproduceConfig(retrain_ceiling=True, seeds=3))
    assert trained["retrain"] is True and trained["seeds"] == 3
    assert "supervised" not in {s.name for s in study_stages(QUICK_REPRODUCE)[0]}
    shipped = shipped_rows()
    epochs = ceiling_run().train.epochs
    assert set(shipped["epochs"]) <= set(range(1, epochs + 1))
