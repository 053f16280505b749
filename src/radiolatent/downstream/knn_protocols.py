"""The kNN protocols of [B] and [C] on codes: [B] fits kNN (k=20) on the train codes and
scores accuracy on the test codes; [C] runs kNN (k=5) on 50 stratified random 75/25
splits. Unlike `classify`, they take any class labels (not only FRI/FRII)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier

from radiolatent.config import DEFAULT_CLASSIFY
from radiolatent.core.errors import InputError


def knn_protocol_b(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    k: int = DEFAULT_CLASSIFY.knn_b_neighbors,
) -> float:
    """[B]'s evaluation: kNN (k=20) fitted on the train codes, accuracy on the test codes."""
    train_X, train_y = _check_any_labels(train_X, train_y, "train set")
    test_X, test_y = _check_any_labels(test_X, test_y, "test set", min_classes=1)
    _check_k(k, len(train_X), "the train set")
    model = KNeighborsClassifier(n_neighbors=k, metric=DEFAULT_CLASSIFY.knn_metric).fit(train_X, train_y)
    return float(accuracy_score(test_y, model.predict(test_X)))


def _check_k(k: int, n_fit: int, what: str) -> None:
    if k > n_fit:
        raise InputError("-k", f"k={k} neighbours asked for, but {what} holds only {n_fit} codes")


def knn_protocol_c(
    X: np.ndarray,
    y: np.ndarray,
    k: int = DEFAULT_CLASSIFY.knn_c_neighbors,
    n_splits: int = DEFAULT_CLASSIFY.knn_c_splits,
    test_size: float = DEFAULT_CLASSIFY.knn_c_test_size,
    seed: int = 0,
) -> dict:
    """[C]'s evaluation: kNN (k=5, Minkowski) on stratified random 75/25 splits.

    Returns {'mean', 'sd', 'n_splits', 'k', 'accuracies'}.
    """
    X, y = _check_any_labels(X, y, "codes")
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    try:
        folds = list(splitter.split(X, y))
    except ValueError as exc:  # e.g. a class too small to stratify
        raise InputError("codes", f"cannot make stratified splits: {exc}") from exc
    _check_k(k, min(len(train_idx) for train_idx, _ in folds), "the 75 % each split trains on")
    accuracies = []
    for train_idx, test_idx in folds:
        model = KNeighborsClassifier(n_neighbors=k, metric=DEFAULT_CLASSIFY.knn_metric)
        model.fit(X[train_idx], y[train_idx])
        accuracies.append(float(accuracy_score(y[test_idx], model.predict(X[test_idx]))))
    acc = np.array(accuracies)
    return {
        "mean": float(acc.mean()),
        "sd": float(acc.std(ddof=1)) if len(acc) > 1 else float("nan"),
        "n_splits": len(acc),
        "k": k,
        "accuracies": accuracies,
    }


def _check_any_labels(X, y, what: str, min_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """kNN protocols take any class labels, but not the 'unlabelled' -1."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise InputError(what, f"features shape {X.shape} does not match {len(y)} labels")
    if not np.isfinite(X).all():
        raise InputError(what, "features contain NaN/inf")
    if (y < 0).any():
        raise InputError(what, f"{int((y < 0).sum())} rows are unlabelled (label -1)")
    if len(np.unique(y)) < min_classes:
        raise InputError(what, f"needs at least {min_classes} classes, has {sorted(np.unique(y).tolist())}")
    return X, y
