"""FRI/FRII classification from latent codes: the six classifiers of [A] Table 2.

Train on the train-split codes, score on the test split (of the same codes table, or
of another made by the same model: `classify_tables`); accuracy, ROC-AUC,
specificity and recall with FRII (label 1) positive, mean and sd over seeds.
The result's formats are in `classify_result`, the kNN protocols of [B] (k=20, train ->
test) and [C] (k=5, 50 random splits) in `knn_protocols`; both are imported from here too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from joblib import delayed
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from radiolatent.config import CLASSIFIER_NAMES, DEFAULT_CLASSIFY, FRI_LABEL, FRII_LABEL, STUDY_ENCODERS, ClassifyConfig
from radiolatent.core.errors import InputError
from radiolatent.core.workers import parallel
from radiolatent.data import codes as codes_mod
from radiolatent.downstream.classify_result import ClassificationResult
from radiolatent.downstream.classify_result import compare as compare
from radiolatent.downstream.knn_protocols import knn_protocol_b as knn_protocol_b
from radiolatent.downstream.knn_protocols import knn_protocol_c as knn_protocol_c
from radiolatent.downstream.published import METRICS

#: classifiers whose fit does not depend on a seed: fitted once, their sd is 0.
DETERMINISTIC = ("knn", "svc", "lr")
#: model-id prefixes -> encoder names used by the reference lookup: the study's encoders.
ENCODER_PREFIXES = tuple(STUDY_ENCODERS)
#: canonical train-set names -> [A]'s dataset keys.
PAPER_DATASETS = {"mirabest:confident": "mbc", "frdeep-n": "nvss"}


def make_classifier(name: str, seed: int, config: ClassifyConfig = DEFAULT_CLASSIFY):
    """A fresh scikit-learn estimator for one of knn/rf/svc/lr/grad/ext."""
    c = config
    builders = {
        "knn": lambda: KNeighborsClassifier(n_neighbors=c.knn_neighbors),
        "rf": lambda: RandomForestClassifier(n_estimators=c.rf_estimators, random_state=seed),
        # ROC-AUC needs only a ranking score, so decision_function replaces the
        # deprecated probability=True
        "svc": lambda: SVC(kernel=c.svc_kernel, gamma=c.svc_gamma, C=c.svc_c),
        "lr": lambda: LogisticRegression(max_iter=c.lr_max_iter),
        "grad": lambda: GradientBoostingClassifier(n_estimators=c.grad_estimators, random_state=seed),
        "ext": lambda: ExtraTreesClassifier(n_estimators=c.ext_estimators, random_state=seed),
    }
    if name not in builders:
        raise InputError("classifiers", f"unknown classifier '{name}' (choose from {', '.join(CLASSIFIER_NAMES)})")
    return builders[name]()


def positive_score(model, X: np.ndarray) -> np.ndarray:
    """A score that grows with the FRII probability, for ROC-AUC."""
    if hasattr(model, "decision_function"):
        return model.decision_function(X)
    column = list(model.classes_).index(FRII_LABEL)
    return model.predict_proba(X)[:, column]


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Accuracy, ROC-AUC, specificity and recall with FRII positive."""
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[FRI_LABEL, FRII_LABEL]).ravel()
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true == FRII_LABEL, score)),
        "specificity": float(tn / (tn + fp)),
        "recall": float(tp / (tp + fn)),
    }


def _check_xy(X: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or len(X) != len(y):
        raise InputError(what, f"features shape {X.shape} does not match {len(y)} labels")
    if not np.isfinite(X).all():
        raise InputError(what, "features contain NaN/inf")
    other = sorted(set(np.unique(y)) - {FRI_LABEL, FRII_LABEL})
    if other:
        n = int(np.isin(y, other).sum())
        raise InputError(what, f"{n} rows have labels {other}; only FRI ({FRI_LABEL}) / FRII ({FRII_LABEL}) allowed")
    present = set(np.unique(y))
    if present != {FRI_LABEL, FRII_LABEL}:
        raise InputError(what, f"needs both FRI and FRII rows, has only labels {sorted(present)}")
    return X, y


def _scaled(train_X: np.ndarray, test_X: np.ndarray, standardise: bool) -> tuple[np.ndarray, np.ndarray]:
    if not standardise:
        return train_X, test_X
    scaler = StandardScaler().fit(train_X)
    return scaler.transform(train_X), scaler.transform(test_X)


#: the slow fits go to the worker processes first, so none is left running alone at the end.
_SLOWEST_FIRST = ("grad", "rf", "ext")


def _fit_score(name, seed, config, train_X, train_y, test_X, test_y) -> dict[str, float]:
    with warnings.catch_warnings():
        # the paper's lr (max_iter 1000) may stop short on raw codes; its score is still
        # the paper's protocol, so the warning is noise in a results table
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_classifier(name, seed, config).fit(train_X, train_y)
    return binary_metrics(test_y, model.predict(test_X), positive_score(model, test_X))


def _summarise(name: str, runs: list[dict[str, float]]) -> list[dict]:
    rows = []
    for metric in METRICS:
        values = np.array([r[metric] for r in runs])
        sd = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        rows.append(
            {"classifier": name, "metric": metric, "mean": float(values.mean()), "sd": sd, "n_seeds": len(values)}
        )
    return rows


def classify(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    seeds=DEFAULT_CLASSIFY.seeds,
    classifiers=None,
    standardise: bool = DEFAULT_CLASSIFY.standardise,
    config: ClassifyConfig = DEFAULT_CLASSIFY,
) -> pd.DataFrame:
    """Fit each classifier on train, score on test, over seeds.

    Returns a tidy table: classifier, metric, mean, sd (sample sd; NaN for one seed),
    n_seeds. knn/svc/lr do not use a seed: they are fitted once and that score
    counts for every seed (sd 0). Labels must be 0 (FRI) / 1 (FRII) only.
    `table.attrs['standardise']` records whether a StandardScaler (fitted on train) was used.
    """
    train_X, train_y = _check_xy(train_X, train_y, "train set")
    test_X, test_y = _check_xy(test_X, test_y, "test set")
    if train_X.shape[1] != test_X.shape[1]:
        raise InputError("test set", f"{test_X.shape[1]} features but train has {train_X.shape[1]}")
    seeds = list(seeds)
    if not seeds:
        raise InputError("seeds", "need at least one seed")
    names = list(classifiers or config.classifiers)
    train_X, test_X = _scaled(train_X, test_X, standardise)
    # knn/svc/lr ignore the seed: fit once, count it for every seed
    fits = [(name, seed) for name in names for seed in (seeds[:1] if name in DETERMINISTIC else seeds)]
    fits.sort(key=lambda fit: _SLOWEST_FIRST.index(fit[0]) if fit[0] in _SLOWEST_FIRST else len(_SLOWEST_FIRST))
    scores = parallel(min(config.jobs, len(fits)))(
        delayed(_fit_score)(name, seed, config, train_X, train_y, test_X, test_y) for name, seed in fits
    )
    rows = []
    for name in names:
        runs = [score for (fitted, _), score in zip(fits, scores) if fitted == name]
        rows.extend(_summarise(name, runs * len(seeds) if name in DETERMINISTIC else runs))
    table = pd.DataFrame(rows, columns=["classifier", "metric", "mean", "sd", "n_seeds"])
    table.attrs["standardise"] = bool(standardise)
    return table


def encoder_name(model_id: str) -> str:
    """The encoder a model id belongs to ('vdvae-w64' -> 'vdvae'); unknown ids pass through."""
    for prefix in ENCODER_PREFIXES:
        if str(model_id).startswith(prefix):
            return prefix
    return str(model_id)


def paper_dataset(spec: str) -> str | None:
    """[A]'s dataset key ('mbc' / 'nvss') for a train spec, or None."""
    name, _ = codes_mod.resolve_spec(spec)
    return PAPER_DATASETS.get(name)


def _single_model(rows: pd.DataFrame, spec: str, source: str) -> str:
    models = sorted(rows["model"].astype(str).unique())
    if len(models) != 1:
        raise InputError(source, f"rows for '{spec}' come from several models {models}")
    return models[0]


def _binary_rows(rows: pd.DataFrame, spec: str, source: str, binary_only: bool) -> tuple[pd.DataFrame, int]:
    keep = rows["label"].isin([FRI_LABEL, FRII_LABEL]).to_numpy()
    n_other = int((~keep).sum())
    if n_other and not binary_only:
        other = sorted(rows.loc[~keep, "label"].unique().tolist())
        raise InputError(
            source,
            f"'{spec}' has {n_other} rows with labels {other} (not FRI/FRII); filter them with {{binary_only}}",
            ("binary_only",),
        )
    return rows[keep], n_other


def classify_codes(table: pd.DataFrame, train_spec: str, test_spec: str, **options) -> ClassificationResult:
    """Classify from a codes table: rows selected by spec, labels from the `label` column.

    Rows labelled other than FRI/FRII are an error unless `binary_only`, which drops
    them (the counts are kept in `result.dropped`). Train and test must share no id.
    `options` are classify_tables' (seeds, classifiers, standardise, block, binary_only, config).
    """
    return classify_tables(table, train_spec, table, test_spec, **options)


def classify_tables(
    train_table: pd.DataFrame,
    train_spec: str,
    test_table: pd.DataFrame,
    test_spec: str,
    seeds=DEFAULT_CLASSIFY.seeds,
    classifiers=None,
    standardise: bool = DEFAULT_CLASSIFY.standardise,
    block: str = "z",
    binary_only: bool = False,
    config: ClassifyConfig = DEFAULT_CLASSIFY,
) -> ClassificationResult:
    """Train on the `train_spec` rows of one codes table, test on the `test_spec` rows of
    another (or the same): e.g. shipped `mbc:train` codes against a survey folder's codes.

    Both tables must come from the same model, embedded the same way (orientation
    averaging or not): codes of different models are not comparable. Otherwise as
    `classify_codes`.
    """
    source, test_source = codes_mod.table_source(train_table), codes_mod.table_source(test_table)
    train = codes_mod.select(train_table, train_spec)
    test = codes_mod.select(test_table, test_spec)
    shared = set(train["id"]) & set(test["id"])
    if shared:
        raise InputError(test_source, f"train '{train_spec}' and test '{test_spec}' share {len(shared)} ids")
    if train_table is test_table:
        model = _single_model(pd.concat([train, test]), f"{train_spec} + {test_spec}", source)
    else:
        model = same_model(train, train_spec, source, test, test_spec, test_source)
    train, n_train_other = _binary_rows(train, train_spec, source, binary_only)
    test, n_test_other = _binary_rows(test, test_spec, test_source, binary_only)
    result = classify(
        codes_mod.code_matrix(train, block),
        _labels(train, train_spec, source),
        codes_mod.code_matrix(test, block),
        _labels(test, test_spec, test_source),
        seeds=seeds,
        classifiers=classifiers,
        standardise=standardise,
        config=config,
    )
    return ClassificationResult(
        table=result,
        encoder=encoder_name(model),
        model=model,
        train_spec=train_spec,
        test_spec=test_spec,
        # [A]'s numbers sit beside ours only when both sides are [A]'s sets (like with like)
        dataset=paper_dataset(train_spec) if paper_dataset(test_spec) == paper_dataset(train_spec) else None,
        standardise=standardise,
        seeds=list(seeds),
        n_train=len(train),
        n_test=len(test),
        source=source,
        dropped={"train": n_train_other, "test": n_test_other},
        test_source=test_source if test_source != source else "",
    )


def same_model(
    train: pd.DataFrame, train_spec: str, source: str, test: pd.DataFrame, test_spec: str, test_source: str
) -> str:
    """The one model behind both tables' rows, or a one-line error saying why not."""
    from radiolatent.embedding import DIHEDRAL_SUFFIX, table_model  # torch, so only when needed

    model = _single_model(train, train_spec, source)
    test_model = _single_model(test, test_spec, test_source)
    if table_model(train) != table_model(test):
        raise InputError(
            test_source,
            f"codes made by model '{table_model(test)}' but the train table "
            f"{source} was made by '{table_model(train)}'; codes of different "
            "models are not comparable (embed both with the same model)",
        )
    if model != test_model:
        averaged = {
            m: "averaged over orientations" if m.endswith(DIHEDRAL_SUFFIX) else "single orientation"
            for m in (model, test_model)
        }
        raise InputError(
            test_source,
            f"codes are {averaged[test_model]} ('{test_model}') but the train table "
            f"{source} is {averaged[model]} ('{model}'); embed both the same way",
        )
    return model


def _labels(rows: pd.DataFrame, spec: str, source: str) -> np.ndarray:
    labels = rows["label"].to_numpy()
    if len(rows) == 0 or len(set(labels.tolist())) < 2:
        raise InputError(source, f"'{spec}' needs both FRI and FRII rows, has labels {sorted(set(labels.tolist()))}")
    return labels.astype(int)
