"""The tasks on codes tables: [A]'s classifiers, predictions for rows without labels,
similarity search, duplicates, the flow's likelihood; and the whole study."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from radiolatent.api.tables import Codes, codes_table
from radiolatent.config import (
    DEFAULT_CLASSIFY,
    DEFAULT_PREDICT,
    DEFAULT_SEARCH,
    ClassifierName,
    ClassifyConfig,
    PredictConfig,
    SearchConfig,
    with_given,
)

if TYPE_CHECKING:
    from radiolatent.downstream.classify_result import ClassificationResult


def classify(
    codes: Codes,
    train: str,
    test: str,
    *,
    test_codes: Codes | None = None,
    seeds: int | None = None,
    classifiers: tuple[ClassifierName, ...] | None = None,
    standardise: bool | None = None,
    binary_only: bool = False,
    block: str = "z",
    config: ClassifyConfig = DEFAULT_CLASSIFY,
) -> ClassificationResult:
    """[A]'s Table 2 on a codes table: the six classifiers trained on the `train` rows and
    scored on the `test` rows (of `test_codes` when given), mean and sd over the seeds.
    `.table` is the tidy result, `.best()` the best classifier's row, `.to_markdown()`
    the table with the paper's numbers beside it. `config` holds every classifier setting
    (`preset("classify", "default")`, as `classify --config/--set` builds it); `seeds`
    (a count: seeds 0..seeds-1), `classifiers` and `standardise`, when given, replace its
    (by default seeds 0, 1, 2, all six, unscaled).

    >>> import radiolatent as rl
    >>> codes = rl.embed("mbc", single_view=True, progress=False)
    >>> result = rl.classify(codes, "mbc:train", "mbc:test", seeds=1, classifiers=("svc", "knn"))
    >>> sorted(result.table["metric"].unique())
    ['accuracy', 'recall', 'roc_auc', 'specificity']
    >>> bool(result.table.query("metric == 'accuracy'")["mean"].max() > 0.75)
    True
    """
    from radiolatent.downstream.classify import classify_tables

    given = {
        "seeds": None if seeds is None else tuple(range(seeds)),
        "classifiers": None if classifiers is None else tuple(classifiers),
        "standardise": standardise,
    }
    config = with_given(config, given)
    table = codes_table(codes)
    test_table = table if test_codes is None else codes_table(test_codes)
    return classify_tables(
        table,
        train,
        test_table,
        test,
        seeds=list(config.seeds),
        classifiers=list(config.classifiers),
        standardise=config.standardise,
        block=block,
        binary_only=binary_only,
        config=config,
    )


def predict(
    codes: Codes,
    train: str,
    rows: str,
    *,
    train_codes: Codes | None = None,
    classifier: ClassifierName | None = None,
    classifiers: tuple[ClassifierName, ...] = DEFAULT_CLASSIFY.classifiers,
    standardise: bool = DEFAULT_CLASSIFY.standardise,
    seed: int | None = None,
    labels: str | Path | None = None,
    block: str = "z",
    config: PredictConfig = DEFAULT_PREDICT,
) -> pd.DataFrame:
    """Classes for rows without labels (`radiolatent predict`): one row per `rows` row with
    `p_<class>` (calibrated), `prediction`, `agreement`, `in_domain`, `out_of_domain` and
    `nearest_train`, learned from the labelled `train` rows (of `train_codes` when given).
    The classifier is the best of `classifiers` by cross-validation within those rows,
    unless `classifier` names one. `labels`: a label store (the explorer's JSON lines)
    whose scores become the classes of the training rows it names. `config`: the folds,
    neighbours and in-domain threshold (`preset("predict", "default")`, as `predict
    --config/--set` builds it); `seed`, when given, replaces its (default 0).
    `write_catalogue` saves the result as CSV, FITS or VOTable.

    >>> import radiolatent as rl
    >>> data = "mbc:train,fits=folder@tests/data/first_fits"
    >>> codes = rl.embed(data, survey="FIRST", single_view=True, progress=False)
    >>> found = rl.predict(codes, "mbc:train", "fits", classifiers=("svc", "knn"))
    >>> list(found.columns[:6])
    ['id', 'ra', 'dec', 'p_fri', 'p_frii', 'prediction']
    >>> sorted(set(found["prediction"]) | {"FRI", "FRII"})
    ['FRI', 'FRII']
    """
    from radiolatent.downstream.predict import predict_codes

    table = codes_table(codes)
    train_table = table if train_codes is None else codes_table(train_codes)
    if labels is not None:
        from radiolatent.data.labels import labelled_by_store

        train_table = labelled_by_store(train_table, labels)
    return predict_codes(
        train_table,
        train,
        table,
        rows,
        classifier=classifier,
        block=block,
        standardise=standardise,
        config=with_given(config, {"seed": seed}),
        classify_config=dataclasses.replace(DEFAULT_CLASSIFY, classifiers=tuple(classifiers)),
    )


def search(
    codes: Codes,
    query: str | Path,
    rows: str = "pool",
    *,
    k: int | None = None,
    metric: str | None = None,
    exclude_self: bool = False,
    model: str | Path | None = None,
    pixel_scale: float | None = None,
    codes_path: str | Path | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
) -> pd.DataFrame:
    """The `k` codes of `rows` most like a query: the id of a row of `codes`, or an image
    file (FITS, PNG, JPEG, .npy), embedded by the model that made the codes. A query with a
    sky position gets its source's other observations first (`same_position`). The index
    is cached beside `codes_path`, by default `codes` itself when it is a path.
    `.attrs["query_image"]` holds an image-file query's 64x64 model input. `config`: the
    search settings (`preset("search", "default")`, as `search --config/--set` builds
    it); `k`, `metric` and `pixel_scale` (its `query_pixel_scale`), when given, replace its
    (by default 8, whitened-cosine and 1.8"/px).

    >>> import radiolatent as rl
    >>> codes = rl.embed("vlass=folder@tests/data/vlass_epochs", survey="VLASS", progress=False)
    >>> found = rl.search(codes, "tests/data/vlass_epochs/J028.8067+11.3219_ep1.1.fits.gz", "vlass", k=2)
    >>> found["id"].head(2).tolist()
    ['folder:J028.8067+11.3219_ep1.1', 'folder:J028.8067+11.3219_ep2.1']
    """
    from radiolatent.downstream.search import search_table

    config = with_given(config, {"k": k, "metric": metric, "query_pixel_scale": pixel_scale})
    source = codes_path if codes_path is not None else codes if isinstance(codes, (str, Path)) else None
    result, query_image = search_table(
        codes_table(codes),
        str(query),
        rows,
        k=config.k,
        metric=config.metric,
        exclude_self=exclude_self,
        codes_path=source,
        model=None if model is None else str(model),
        pixel_scale=config.query_pixel_scale,
        config=config,
    )
    result.attrs["query_image"] = query_image  # an image-file query's model input, for pictures
    return result


def duplicates(
    codes: Codes,
    rows: str = "pool",
    *,
    metric: str | None = None,
    threshold: float | None = None,
    margin: float | None = None,
    by_position: bool | None = None,
    config: SearchConfig = DEFAULT_SEARCH,
) -> pd.DataFrame:
    """Pairs of `rows` that show one object twice (`radiolatent duplicates`): near-identical
    codes ([B]), and rows within 30" on the sky unless `by_position` is False. `config`:
    the thresholds, margin and radius (`preset("search", "default")`, as `duplicates
    --config/--set` builds it); `metric`, `threshold`, `margin` and `by_position`, when
    given, replace its (by default whitened-cosine, 0.8 with a margin of 0.1, by position).

    >>> import radiolatent as rl
    >>> codes = rl.embed("vlass=folder@tests/data/vlass_epochs", survey="VLASS", progress=False)
    >>> pairs = rl.duplicates(codes, "vlass")
    >>> len(pairs), sorted(set(pairs["kind"]))
    (7, ['same position'])
    """
    from radiolatent.downstream.duplicates import find_duplicates

    config = with_given(config, {"metric": metric, "duplicates_by_position": by_position})
    return find_duplicates(
        codes_table(codes),
        rows,
        threshold=threshold,
        config=config,
        metric=config.metric,
        margin=margin,
        by_position=config.duplicates_by_position,
    )


def density(
    codes: Codes,
    fit_on: str = "pool",
    rows: str | list[str] | None = None,
    *,
    config: str = "cpu",
    seed: int = 0,
) -> pd.DataFrame:
    """Log-likelihoods under a Masked Autoregressive Flow fitted on the `fit_on` rows
    (`density fit` then `density score`): one row per row of `rows` (specs; default every
    set of the table) with `set`, `id`, `split`, `label`, `label_name` and `loglik`. The
    least likely rows are the out-of-distribution candidates.

    >>> import radiolatent as rl
    >>> codes = rl.embed("mbc:test", single_view=True, progress=False)
    >>> scores = rl.density(codes, fit_on="mbc:test", config="tiny")
    >>> len(scores), bool(scores["loglik"].notna().all())
    (104, True)
    """
    from radiolatent.data.codes import select
    from radiolatent.downstream.density import density_config
    from radiolatent.downstream.density_tables import fit_table, score_table

    table = codes_table(codes)
    model = fit_table(select(table, fit_on), density_config(config), seed=seed, on=fit_on)
    sets = [rows] if isinstance(rows, str) else rows
    return score_table(table, model, sets)


def study(out: str | Path = "report", *, seeds: int | None = None, retrain: bool = False) -> Path:
    """The paper's study (`radiolatent reproduce`, `make study`): every stage cached in
    `out`, the report in `out/index.html` and `out/results.json`; returns the page's path.
    A rerun resumes where a killed run stopped. The one public function without a run
    example: it takes about 20 minutes on two cores (`tests/studies/test_reproduce.py` runs the
    same code on a quick profile).

        report = rl.study("report")   # then open report/index.html
    """
    from radiolatent.config import ReproduceConfig
    from radiolatent.studies.reproduce import reproduce

    config = ReproduceConfig() if seeds is None else dataclasses.replace(ReproduceConfig(), seeds=seeds)
    return reproduce(out, config, retrain=retrain)
