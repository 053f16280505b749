"""Benchmark oracles: the binary one answers 5 or 0; the graded ones answer whole steps
0-5 from a metadata column or a rule, and a bad spec is a one-line error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiolatent.core.errors import InputError
from radiolatent.downstream.oracles import ColumnOracle, graded_scores, oracle_for, parse_rule


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(6)],
            "label_name": ["Bent", "FRI", "FRII", "Bent", "Compact", "FRI"],
            "las_arcsec": [10.0, 55.0, 100.0, np.nan, 300.0, 32.5],
        }
    )


def test_binary_oracle_answers_high_for_the_interesting_class_only():
    oracle = oracle_for(rows(), "binary", rows()["label_name"] == "Bent")
    assert isinstance(oracle, ColumnOracle)
    assert [oracle(i) for i in range(6)] == [5.0, 0.0, 0.0, 5.0, 0.0, 0.0]
    assert oracle.description.startswith("binary")


def test_column_oracle_grades_whole_steps_between_low_and_high():
    oracle = oracle_for(rows(), "column:las_arcsec:10:100", None)
    # 10 -> 0, 55 -> 2.5 -> 2 (round half to even), 100 -> 5, missing -> 0, 300 clipped -> 5, 32.5 -> 1.25 -> 1
    assert [oracle(i) for i in range(6)] == [0.0, 2.0, 5.0, 0.0, 5.0, 1.0]
    assert oracle.name == "graded-column" and "las_arcsec" in oracle.description
    reversed_scale = graded_scores([10.0, 100.0], low_value=100, high_value=10)
    assert reversed_scale.tolist() == [5.0, 0.0], "LOW > HIGH grades small values highest"
    assert graded_scores([0.0, 1.0, 2.0]).tolist() == [0.0, 2.0, 5.0], "default range: the column's own"


def test_rule_oracle_grades_by_label_with_a_default():
    oracle = oracle_for(rows(), "rule:Bent=5,FRI=2,*=1", None)
    assert [oracle(i) for i in range(6)] == [5.0, 2.0, 1.0, 5.0, 1.0, 2.0]
    assert parse_rule("morphology:head-tail=4") == ("morphology", {"head-tail": 4.0}, 0.0)


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("graded", "unknown oracle"),
        ("column:redshift", "no column 'redshift'"),
        ("column:las_arcsec:1", "column:NAME:LOW:HIGH"),
        ("column:las_arcsec:a:b", "must be numbers"),
        ("column:label_name", "no numbers to grade"),
        ("rule:Bent=9", "score 0..5"),
        ("rule:Bent", "VALUE=SCORE"),
    ],
)
def test_bad_oracle_specs_are_one_line_errors(spec, problem):
    with pytest.raises(InputError, match=problem):
        oracle_for(rows(), spec, rows()["label_name"] == "Bent")
