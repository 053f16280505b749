"""Feature importance of code components (downstream/importance.py)."""

from __future__ import annotations

import numpy as np
import pytest

from radiolatent.config import ImportanceConfig
from radiolatent.core.errors import InputError
from radiolatent.downstream.importance import feature_importance, incremental_forest, plot_importance

PNG = b"\x89PNG\r\n\x1a\n"


def test_importance_ranks_informative_component_first(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2500, 8))
    las = 30 + 10 * X[:, 5] + rng.normal(size=2500) * 0.5
    las[:10] = np.nan  # unknown sizes are left out, not an error
    table = feature_importance(X, las, seed=0, config=ImportanceConfig(min_trees=10))
    assert table["component"].iloc[0] == 5
    assert table["importance"].iloc[0] > 0.5
    np.testing.assert_allclose(table["importance"].sum(), 1.0)
    assert table.attrs["n_rows"] == 2490
    assert plot_importance(table, tmp_path / "imp.png", las_source="estimator").read_bytes()[:8] == PNG


def test_incremental_forest_grows_one_tree_per_batch():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3500, 3)), rng.normal(size=3500)
    # 4 batches: the paper's rule gives 4 trees; min_trees tops a small set up to 10
    assert incremental_forest(X, y, config=ImportanceConfig(min_trees=1)).n_estimators == 4
    assert incremental_forest(X, y, config=ImportanceConfig(min_trees=10)).n_estimators == 10
    assert len(incremental_forest(X, y, config=ImportanceConfig(min_trees=2)).estimators_) == 4


def test_importance_rejects_mismatched_input():
    with pytest.raises(InputError):
        feature_importance(np.ones((5, 2)), np.ones(4))
    with pytest.raises(InputError, match="known angular size"):
        feature_importance(np.ones((5, 2)), np.full(5, np.nan))
