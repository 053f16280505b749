"""Classes for sources that have no label: a catalogue of predictions from codes.

A classifier from [A]'s six is fitted on the labelled rows of a codes table (a shipped
set such as `mbc:train`, or a user's folder whose catalogue has a label column) and
predicts every row of another selection. Each row gets:

* calibrated class probabilities (`p_<class>`, e.g. `p_frii`) and the predicted class;
* `agreement`: the fraction of the six classifiers that call the same class;
* `in_domain`: how typical the row's code is of the labelled codes: the share of labelled
  sources that are at least as far from their own nearest labelled neighbours (1: closer
  than any; 0: farther than every one), and `out_of_domain` where it falls below
  `PredictConfig.domain_threshold`;
* `nearest_train`: the ids of the nearest labelled sources (whitened cosine, as `search`).

The default classifier is chosen by stratified cross-validation within the labelled
rows, never on a test split; the same out-of-fold scores fit Platt's logistic map that
calibrates its probabilities, so no row scores itself.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from radiolatent.config import (
    CLASSIFIER_NAMES,
    DEFAULT_CLASSIFY,
    DEFAULT_PREDICT,
    DEFAULT_SEARCH,
    ClassifyConfig,
    PredictConfig,
    check_config,
)
from radiolatent.core.errors import InputError
from radiolatent.core.workers import parallel
from radiolatent.data import codes as codes_mod
from radiolatent.data.dataset import class_names
from radiolatent.downstream.classify import make_classifier, same_model
from radiolatent.downstream.code_index import CodeIndex

#: the columns every predictions table starts with, before the per-class probabilities.
ID_COLUMNS = ("id", "ra", "dec")
#: metadata carried over from the codes table when present, after the prediction columns.
CARRIED_COLUMNS = ("set", "filename", "label", "label_name")


@dataclass(frozen=True)
class Labelled:
    """The labelled training rows: codes, class indices 0..K-1 and the class names."""

    X: np.ndarray
    y: np.ndarray
    names: list[str]
    ids: np.ndarray


def predict_codes(
    train_table: pd.DataFrame,
    train_spec: str,
    table: pd.DataFrame,
    in_spec: str,
    classifier: str | None = None,
    block: str = "z",
    standardise: bool = DEFAULT_CLASSIFY.standardise,
    config: PredictConfig = DEFAULT_PREDICT,
    classify_config: ClassifyConfig = DEFAULT_CLASSIFY,
) -> pd.DataFrame:
    """One row of predictions per `in_spec` row of `table`, from a `CodePredictor` fitted
    on the labelled `train_spec` rows of `train_table` (the same table, or one made by the
    same model). `classifier` None: the best of [A]'s six by cross-validation (module doc).
    """
    train_source, source = codes_mod.table_source(train_table), codes_mod.table_source(table)
    train_rows = codes_mod.select(train_table, train_spec)
    rows = codes_mod.select(table, in_spec)
    same_model(train_rows, train_spec, train_source, rows, in_spec, source)
    warn_other_scale(train_rows, train_spec, rows, in_spec, source)
    predictor = CodePredictor(classifier, block, standardise, config, classify_config)
    return predictor.fit(train_rows, train_spec).predict(rows)


#: pixel scales that differ by more than this factor are different kinds of image.
OTHER_SCALE = 2.0


def warn_other_scale(train_rows: pd.DataFrame, train_spec: str, rows: pd.DataFrame, in_spec: str, source: str) -> None:
    """One warning when the predicted rows were imaged at another pixel scale than the
    labelled ones (NVSS's 15"/px against MiraBest's 1.8"/px): the same source then gives
    another code, and the classifier answers for the wrong survey."""
    trained = np.nanmedian(train_rows["pixel_scale_arcsec"].to_numpy(dtype=np.float64))
    scales = rows["pixel_scale_arcsec"].to_numpy(dtype=np.float64)
    known = np.isfinite(scales)
    if not np.isfinite(trained) or not known.any():
        return
    other = known & ((scales > trained * OTHER_SCALE) | (scales < trained / OTHER_SCALE))
    if other.any():
        warnings.warn(
            f"{source}: {int(other.sum())} of {len(rows)} '{in_spec}' rows are at a pixel scale unlike "
            f"'{train_spec}' ({np.nanmedian(scales[other]):g}\"/px against {trained:g}\"/px); their "
            "predictions answer for another survey: train on labelled rows of the same survey (e.g. nvss:train)",
            stacklevel=2,
        )


class CodePredictor:
    """fit / predict, as scikit-learn's estimators, on codes-table rows.

    `fit(rows, spec)` learns from the rows that carry a label (label >= 0): it
    cross-validates the candidate classifiers, keeps the best (or `classifier`), fits the
    calibration on its out-of-fold scores and every candidate on all rows (for
    `agreement`). `predict(rows)` gives the predictions table (module doc), whose
    `attrs` hold `classifier`, `classes`, `validation` (each candidate's cross-validated
    accuracy, ROC-AUC for two classes, log-loss), `n_train` and `train`.
    """

    def __init__(
        self,
        classifier: str | None = None,
        block: str = "z",
        standardise: bool = DEFAULT_CLASSIFY.standardise,
        config: PredictConfig = DEFAULT_PREDICT,
        classify_config: ClassifyConfig = DEFAULT_CLASSIFY,
    ):
        check_config(config)
        if classifier is not None and classifier not in CLASSIFIER_NAMES:
            raise InputError("classifier", f"unknown '{classifier}' (choose from {', '.join(CLASSIFIER_NAMES)})")
        self.classifier, self.block, self.standardise = classifier, block, standardise
        self.config, self.classify_config = config, classify_config

    def fit(self, rows: pd.DataFrame, spec: str = "training rows") -> CodePredictor:
        config, classify_config = self.config, self.classify_config
        self.labelled = labelled_rows(rows, spec, codes_mod.table_source(rows), self.block, config)
        y = self.labelled.y
        self.scaling = _scaling(self.labelled.X, self.standardise)
        X = self._scaled(self.labelled.X)
        names = usable_classifiers(list(classify_config.classifiers), y, config, classify_config)
        if self.classifier is not None and self.classifier not in names:
            raise InputError("classifier", f"'{self.classifier}' cannot be fitted here (usable: {', '.join(names)})")
        # a classifier named by the user is the only one that needs validation scores
        candidates: list[str] = [self.classifier] if self.classifier else list(names)
        self.validation, oof = cross_validate(X, y, candidates, config, classify_config)
        self.chosen = self.classifier or best_classifier(self.validation)
        self.fitted = _fit_all(X, y, names, config.seed, classify_config)
        self.calibration = _platt(oof[self.chosen], y)
        self.domain = Domain(X, self.labelled.ids, config)
        self.spec = spec
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        mean, sd = self.scaling
        return (np.asarray(X, dtype=np.float64) - mean) / sd

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        names = self.labelled.names
        Z = self._scaled(codes_mod.code_matrix(rows, self.block))
        probabilities = self.calibration.predict_proba(scores(self.fitted[self.chosen], Z))
        prediction = probabilities.argmax(axis=1)
        votes = np.stack([model.predict(Z) for model in self.fitted.values()])
        out = rows[list(ID_COLUMNS)].reset_index(drop=True).copy()
        for k, name in enumerate(names):
            out[probability_column(name)] = probabilities[:, k]
        out["prediction"] = np.asarray(names, dtype=object)[prediction]
        out["classifier"] = self.chosen
        out["agreement"] = (votes == prediction).mean(axis=0)
        out = out.join(self.domain.scores(Z))
        out["in_training"] = rows["id"].astype(str).isin(set(self.labelled.ids)).to_numpy()
        for column in CARRIED_COLUMNS:
            if column in rows.columns:
                out[column] = rows[column].to_numpy()
        out.attrs.update(
            classifier=self.chosen,
            classes=names,
            validation=self.validation,
            n_train=len(self.labelled.y),
            train=self.spec,
            voters=list(self.fitted),
        )
        return out


def labelled_rows(rows: pd.DataFrame, spec: str, source: str, block: str, config: PredictConfig) -> Labelled:
    """The rows of `spec` that carry a label (label >= 0), checked for enough of each class."""
    labels = rows["label"].to_numpy()
    keep = labels >= 0
    if not keep.any():
        raise InputError(source, f"'{spec}' has no labelled rows (label >= 0) to train on")
    rows = rows[keep]
    values, y = np.unique(labels[keep].astype(int), return_inverse=True)
    if len(values) < 2:
        raise InputError(source, f"'{spec}' has labels of one class only ({class_names(rows, values)[0]}); need two")
    counts = np.bincount(y)
    if counts.min() < config.folds:
        name = class_names(rows, values)[int(counts.argmin())]
        raise InputError(
            source,
            f"'{spec}' has {counts.min()} rows of class {name}; "
            f"{config.folds}-fold validation needs at least {config.folds} of each class",
        )
    X = codes_mod.code_matrix(rows, block).astype(np.float64)
    return Labelled(X, y, class_names(rows, values), rows["id"].astype(str).to_numpy())


def usable_classifiers(
    names: list[str], y: np.ndarray, config: PredictConfig, classify_config: ClassifyConfig
) -> list[str]:
    """The classifiers that can be fitted on every validation fold: kNN needs at least
    `knn_neighbors` rows to vote."""
    smallest_fold = len(y) - int(np.ceil(len(y) / config.folds))
    return [name for name in names if name != "knn" or smallest_fold >= classify_config.knn_neighbors]


def probability_column(name: str) -> str:
    """'FRII' -> 'p_frii'; anything not a letter or digit becomes '_'."""
    return "p_" + re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _scaling(X: np.ndarray, standardise: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) that standardise the labelled codes; (0, 1) when not standardising."""
    if not standardise:
        return np.zeros(X.shape[1]), np.ones(X.shape[1])
    sd = X.std(axis=0)
    return X.mean(axis=0), np.where(sd == 0, 1.0, sd)


def scores(model, X: np.ndarray) -> np.ndarray:
    """(rows, columns) scores that grow with each class: the decision function where the
    classifier has one, else its probabilities; one column for two classes."""
    values = model.decision_function(X) if hasattr(model, "decision_function") else model.predict_proba(X)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return values[:, None]
    return values[:, 1:] if values.shape[1] == 2 else values


def _quiet_fit(model, X: np.ndarray, y: np.ndarray):
    with warnings.catch_warnings():
        # [A]'s lr (max_iter 1000) may stop short on raw codes; classify ignores it the same way
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _fold_scores(name: str, seed: int, config: ClassifyConfig, X, y, train, test) -> np.ndarray:
    model = _quiet_fit(make_classifier(name, seed, config), X[train], y[train])
    return scores(model, X[test])


def cross_validate(
    X: np.ndarray, y: np.ndarray, names: list[str], config: PredictConfig, classify_config: ClassifyConfig
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Each classifier's out-of-fold scores on the labelled rows and its validation metrics
    (accuracy, ROC-AUC for two classes, log-loss after calibration on the other folds)."""
    folds = list(StratifiedKFold(config.folds, shuffle=True, random_state=config.seed).split(X, y))
    jobs = [(name, train, test) for name in names for train, test in folds]
    results = parallel(min(classify_config.jobs, len(jobs)))(
        delayed(_fold_scores)(name, config.seed, classify_config, X, y, train, test) for name, train, test in jobs
    )
    oof: dict[str, np.ndarray] = {}
    for (name, _, test), values in zip(jobs, results):
        oof.setdefault(name, np.zeros((len(y), values.shape[1])))[test] = values
    rows = [_validation_row(name, oof[name], y, folds) for name in names]
    return pd.DataFrame(rows), oof


def _validation_row(name: str, oof: np.ndarray, y: np.ndarray, folds) -> dict:
    # one column: a decision function switches class at 0, a probability at 0.5
    threshold = 0.0 if hasattr(make_classifier(name, 0), "decision_function") else 0.5
    predicted = (oof[:, 0] > threshold).astype(int) if oof.shape[1] == 1 else oof.argmax(axis=1)
    probabilities = np.zeros((len(y), max(2, oof.shape[1])))
    for train, test in folds:  # each fold calibrated on the others: an honest log-loss
        probabilities[test] = _platt(oof[train], y[train]).predict_proba(oof[test])
    row = {"classifier": name, "accuracy": float(accuracy_score(y, predicted))}
    row["roc_auc"] = float(roc_auc_score(y, oof[:, 0])) if oof.shape[1] == 1 else float("nan")
    row["log_loss"] = float(log_loss(y, probabilities, labels=np.arange(probabilities.shape[1])))
    return row


def best_classifier(validation: pd.DataFrame) -> str:
    """The most accurate classifier in cross-validation; ties go to the lower log-loss."""
    ranked = validation.sort_values(["accuracy", "log_loss"], ascending=[False, True], kind="stable")
    return str(ranked["classifier"].iloc[0])


def _platt(values: np.ndarray, y: np.ndarray) -> LogisticRegression:
    # Platt scaling (one score) or its multinomial form (one score per class)
    return LogisticRegression(max_iter=1000).fit(values, y)


def _fit_all(X: np.ndarray, y: np.ndarray, names: list[str], seed: int, config: ClassifyConfig) -> dict:
    models = parallel(min(config.jobs, len(names)))(
        delayed(_quiet_fit)(make_classifier(name, seed, config), X, y) for name in names
    )
    return dict(zip(names, models))


class Domain:
    """`in_domain`, `out_of_domain` and `nearest_train` against the labelled codes `X`
    (module doc); the indexes of the labelled codes are built once, here.

    Typicality is the mean Euclidean distance to the `neighbours` nearest labelled codes
    after a PCA keeping 95 % of their variance ([C]'s space, `euclidean-pca`): on whitened
    cosine, compact sources and VLASS cutouts looked more typical of MBC than MBC's own
    test sources (docs/results.md, "Predictions for your own sources"). The nearest
    labelled ids are those `search` would list (its default metric)."""

    def __init__(self, X: np.ndarray, ids: np.ndarray, config: PredictConfig):
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.ids, self.config = ids, config
        self.k = min(config.neighbours, len(X) - 1)
        self.space = CodeIndex.build(X, metric="euclidean-pca")
        own, _ = self.space.search(X, self.k + 1)
        self.own_distance = np.sort(own[:, 1:].mean(axis=1))  # each labelled row without itself
        self.nearest = CodeIndex.build(X, metric=DEFAULT_SEARCH.metric)

    def scores(self, Z: np.ndarray) -> pd.DataFrame:
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        distance = self.space.search(Z, self.k)[0].mean(axis=1)
        # the share of labelled rows at least as far from their own neighbours
        in_domain = 1.0 - np.searchsorted(self.own_distance, distance, side="left") / len(self.own_distance)
        _, nearest = self.nearest.search(Z, self.config.nearest_ids)
        return pd.DataFrame(
            {
                "in_domain": in_domain,
                "out_of_domain": in_domain < self.config.domain_threshold,
                "nearest_train": [";".join(row) for row in self.ids[nearest]],
            }
        )


def summary_lines(predictions: pd.DataFrame) -> list[str]:
    """What a predictions table says, in a few lines for the terminal."""
    attrs = predictions.attrs
    validation = attrs["validation"].set_index("classifier")
    chosen = attrs["classifier"]
    head = [
        f"trained on {attrs['n_train']} labelled rows of {attrs['train']} "
        f"({', '.join(attrs['classes'])}); cross-validated accuracy: "
        + ", ".join(f"{name} {row.accuracy:.3f}" for name, row in validation.iterrows()),
        f"classifier: {chosen} (validation accuracy {validation.loc[chosen, 'accuracy']:.3f}, "
        f"log-loss {validation.loc[chosen, 'log_loss']:.3f}), probabilities calibrated on its out-of-fold scores",
    ]
    return head + outcome_lines(predictions, f"the {len(attrs['voters'])} classifiers")


def outcome_lines(predictions: pd.DataFrame, voters: str) -> list[str]:
    """The counts of a predictions table (by class, out of domain, where `voters` disagree)
    and its accuracy on rows with a known label."""
    counts = predictions["prediction"].value_counts()
    lines = [
        f"predicted {len(predictions)} rows: "
        + ", ".join(f"{int(counts.get(name, 0))} {name}" for name in predictions.attrs["classes"])
        + f"; {int(predictions['out_of_domain'].sum())} flagged out of domain, "
        f"{int((predictions['agreement'] < 1).sum())} where {voters} disagree",
    ]
    known = known_label_accuracy(predictions)
    if known is not None:
        lines.append(f"rows with a known label of these classes: {known[1]}, accuracy {known[0]:.3f}")
    return lines


def known_label_accuracy(predictions: pd.DataFrame) -> tuple[float, int] | None:
    """(accuracy, rows) on the predicted rows whose own label is one of the classes, or None."""
    if "label_name" not in predictions.columns:
        return None
    named = predictions["label_name"].astype(str).isin(predictions.attrs["classes"]).to_numpy()
    known = named & ~predictions["in_training"].to_numpy(dtype=bool)
    if not known.any():
        return None
    right = predictions["prediction"].to_numpy()[known] == predictions["label_name"].astype(str).to_numpy()[known]
    return float(right.mean()), int(known.sum())
