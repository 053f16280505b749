"""The kNN protocols of [B] (k=20, train -> test) and [C] (k=5, stratified random splits)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from synthetic import two_classes

from radiolatent.core.errors import InputError
from radiolatent.downstream.knn_protocols import knn_protocol_b, knn_protocol_c


def test_knn_protocols():
    Xtr, ytr = two_classes(120, 0)
    Xte, yte = two_classes(40, 1)
    expected = accuracy_score(yte, KNeighborsClassifier(n_neighbors=20).fit(Xtr, ytr).predict(Xte))
    assert knn_protocol_b(Xtr, ytr, Xte, yte) == pytest.approx(expected)

    res = knn_protocol_c(Xtr, ytr)
    assert res["n_splits"] == 50 and len(res["accuracies"]) == 50 and res["k"] == 5
    assert 0.0 <= res["mean"] <= 1.0 and res["sd"] > 0
    assert res["mean"] == pytest.approx(np.mean(res["accuracies"]))
    separable = knn_protocol_c(*two_classes(80, 3, shift=20.0), n_splits=5)
    assert separable["mean"] == 1.0 and separable["n_splits"] == 5
    with pytest.raises(InputError, match="unlabelled"):
        knn_protocol_c(Xtr, np.where(np.arange(120) < 3, -1, ytr), n_splits=2)
