"""The Python face of radiolatent: the command line's verbs as plain functions.

Every function here takes what a notebook has at hand (dataset specs as the CLI writes
them, paths, DataFrames) and returns pandas, numpy or astropy-readable objects, with the
same defaults as the command of the same name. These names are the stable, public API
(`radiolatent.__all__`); everything in the subpackages is internal and may move. Examples
run from the repository root; `tests/test_api.py` runs every one.

Codes tables are DataFrames (the metadata columns, `set`, `model`, `z000`...); a function
that takes `codes` accepts such a DataFrame or the path of a parquet file `embed` wrote.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from radiolatent.config import (
    DEFAULT_CLASSIFY,
    DEFAULT_POOL,
    DEFAULT_PREDICT,
    DEFAULT_SEARCH,
    ClassifierName,
    EmbedConfig,
    EmbedDevice,
    FolderConfig,
    PoolConfig,
)

if TYPE_CHECKING:
    from radiolatent.config.finetune import Init
    from radiolatent.data.dataset import RadioDataset
    from radiolatent.downstream.classify_result import ClassificationResult

#: what a `codes` argument may be: a codes table, or the parquet file that holds one.
Codes = pd.DataFrame | str | Path


def codes_table(codes: Codes) -> pd.DataFrame:
    """A codes table from a DataFrame (checked, returned as is) or a parquet path.

    >>> import radiolatent as rl
    >>> rl.codes_table("no-such-file.parquet")
    Traceback (most recent call last):
    ...
    radiolatent.errors.InputError: no-such-file.parquet: no such codes file
    """
    from radiolatent.codes import read_codes, validate_codes

    if isinstance(codes, pd.DataFrame):
        validate_codes(codes, str(codes.attrs.get("source", "codes table")))
        return codes
    return read_codes(codes)


def folder_options(
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
) -> PoolConfig:
    """The default pool settings with a folder's options, as `--survey`, `--catalogue`,
    `--pixel-scale` and `--keep-partial` set them."""
    folder = FolderConfig(
        survey=survey,
        catalogue=None if catalogue is None else str(catalogue),
        pixel_scale_arcsec=pixel_scale,
        keep_partial=keep_partial,
    )
    return dataclasses.replace(DEFAULT_POOL, folder=folder)


def load(
    data: str,
    *,
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
) -> RadioDataset:
    """One dataset's images and metadata, as `radiolatent data show` reads it: a shipped
    set (`mbc:test`, `nvss`, `first-galaxy:valid`), or a folder of cutouts
    (`folder@DIR`, `rgz-dr1@DIR`) with its options. `.images` is a uint8 array
    (N, H, W) and `.meta` a DataFrame with one row per image.

    >>> import radiolatent as rl
    >>> fits = rl.load("folder@tests/data/first_fits", survey="FIRST")
    >>> fits.images.shape, fits.meta["survey"].iloc[0]
    ((4, 150, 150), 'FIRST')
    """
    from radiolatent.data.registry import load_source

    return load_source(data, folder_options(survey, catalogue, pixel_scale, keep_partial).folder)


def model_names() -> list[str]:
    """The model names `embed` takes besides a run folder: the shipped checkpoints and
    the no-learning floors. Nothing is downloaded: they ship inside the package.

    >>> import radiolatent as rl
    >>> "vdvae-cpu" in rl.model_names() and "pixels-pca" in rl.model_names()
    True
    """
    from radiolatent.embedding import FLOORS
    from radiolatent.embedding.encoders import shipped_models

    return sorted(shipped_models()) + list(FLOORS)


def embed(
    data: str | list[str],
    *,
    model: str | Path | None = None,
    single_view: bool = False,
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
    batch_size: int = EmbedConfig.batch_size,
    device: EmbedDevice = "cpu",
    progress: bool = True,
    pool_config: PoolConfig | None = None,
) -> pd.DataFrame:
    """A codes table: every image of `data` (comma-separated specs or a list, as `embed
    --data`) encoded by `model` (default the shipped VDVAE; any name of `model_names()` or a run
    folder), averaged over the 8 flips and quarter turns unless `single_view`. `device`
    "cuda" runs the encoder on a GPU. `pool_config` (every pool and folder setting, as
    `embed`'s options build it) replaces `survey`, `catalogue`, `pixel_scale` and
    `keep_partial` when given.

    >>> import radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", survey="FIRST", progress=False)
    >>> len(codes), codes["set"].iloc[0], codes["model"].iloc[0], len(rl.code_columns(codes))
    (4, 'fits', 'vdvae-cpu+d8', 256)
    """
    from radiolatent.embedding import embed as embed_specs

    specs = [s.strip() for s in (data.split(",") if isinstance(data, str) else data) if s.strip()]
    config = EmbedConfig(batch_size=batch_size, dihedral_average=not single_view, device=device)
    pool = pool_config or folder_options(survey, catalogue, pixel_scale, keep_partial)
    return embed_specs(None if model is None else str(model), specs, config, pool, progress=progress)


def code_columns(codes: pd.DataFrame) -> list[str]:
    """The code columns of a codes table, in order (`z000`, `z001`, ...).

    >>> import radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> columns = rl.code_columns(codes)
    >>> columns[:2], codes[columns].to_numpy().shape
    (['z000', 'z001'], (4, 256))
    """
    from radiolatent.codes import code_columns as columns

    return columns(codes)


def classify(
    codes: Codes,
    train: str,
    test: str,
    *,
    test_codes: Codes | None = None,
    seeds: int = len(DEFAULT_CLASSIFY.seeds),
    classifiers: tuple[ClassifierName, ...] = DEFAULT_CLASSIFY.classifiers,
    standardise: bool = DEFAULT_CLASSIFY.standardise,
    binary_only: bool = False,
    block: str = "z",
) -> ClassificationResult:
    """[A]'s Table 2 on a codes table: the six classifiers trained on the `train` rows and
    scored on the `test` rows (of `test_codes` when given), mean and sd over `seeds`.
    `.table` is the tidy result, `.best()` the best classifier's row, `.to_markdown()`
    the table with the paper's numbers beside it.

    >>> import radiolatent as rl
    >>> codes = rl.embed("mbc", single_view=True, progress=False)
    >>> result = rl.classify(codes, "mbc:train", "mbc:test", seeds=1, classifiers=("svc", "knn"))
    >>> sorted(result.table["metric"].unique())
    ['accuracy', 'recall', 'roc_auc', 'specificity']
    >>> bool(result.table.query("metric == 'accuracy'")["mean"].max() > 0.75)
    True
    """
    from radiolatent.downstream.classify import classify_tables

    table = codes_table(codes)
    test_table = table if test_codes is None else codes_table(test_codes)
    return classify_tables(
        table,
        train,
        test_table,
        test,
        seeds=list(range(seeds)),
        classifiers=list(classifiers),
        standardise=standardise,
        block=block,
        binary_only=binary_only,
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
    seed: int = DEFAULT_PREDICT.seed,
    labels: str | Path | None = None,
    block: str = "z",
) -> pd.DataFrame:
    """Classes for rows without labels (`radiolatent predict`): one row per `rows` row with
    `p_<class>` (calibrated), `prediction`, `agreement`, `in_domain`, `out_of_domain` and
    `nearest_train`, learned from the labelled `train` rows (of `train_codes` when given).
    The classifier is the best of `classifiers` by cross-validation within those rows,
    unless `classifier` names one. `labels`: a label store (the explorer's JSON lines)
    whose scores become the classes of the training rows it names. `write_catalogue` saves
    the result as CSV, FITS or VOTable.

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
        from radiolatent.downstream.labels import labelled_by_store

        train_table = labelled_by_store(train_table, labels)
    return predict_codes(
        train_table,
        train,
        table,
        rows,
        classifier=classifier,
        block=block,
        standardise=standardise,
        config=dataclasses.replace(DEFAULT_PREDICT, seed=seed),
        classify_config=dataclasses.replace(DEFAULT_CLASSIFY, classifiers=tuple(classifiers)),
    )


def predict_images(
    model: str | Path,
    data: str,
    *,
    survey: str | None = None,
    catalogue: str | Path | None = None,
    pixel_scale: float | None = None,
    keep_partial: bool = False,
    pool_config: PoolConfig | None = None,
) -> pd.DataFrame:
    """Classes straight from images (`radiolatent predict --model --data`): `model` is a
    fine-tuned classifier (the shipped `finetuned-mbc`, or a `finetune` run folder), `data`
    comma-separated dataset specs. The columns are `predict`'s: `p_<class>` (the 8
    orientations' mean, temperature-calibrated), `prediction`, `agreement` (the share of
    orientations that agree), `in_domain`, `out_of_domain`, `nearest_train`.

    >>> import radiolatent as rl
    >>> found = rl.predict_images("finetuned-mbc", "fits=folder@tests/data/first_fits", survey="FIRST")
    >>> list(found.columns[:6]), len(found)
    (['id', 'ra', 'dec', 'p_fri', 'p_frii', 'prediction'], 4)
    """
    from radiolatent.downstream.image_predict import ImagePredictor
    from radiolatent.embedding.encoders import model_path
    from radiolatent.runs import labelled_dataset

    options = pool_config or folder_options(survey, catalogue, pixel_scale, keep_partial)
    predictor = ImagePredictor(model_path(str(model)))
    return predictor.predict(labelled_dataset(data, options))


def finetune(
    train: str,
    out: str | Path,
    *,
    encoder: str | Path = "vdvae-cpu",
    init: Init = "pretrained",
    labels: int = 0,
    label_file: str | Path | None = None,
    config: str = "cpu",
    settings: tuple[str, ...] = (),
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    pool_config: PoolConfig | None = None,
    progress: bool = True,
):
    """Fine-tune `encoder` (a shipped model name or a run folder; `init="random"`: the same
    network from scratch) and a head on the labelled `train` rows (`radiolatent train
    finetune`), into the run folder `out`; `labels` trains on a stratified subset of that
    many rows, `label_file` takes the classes from a label store, `settings` are `--set`'s
    NAME=VALUE. Returns the run's summary (`.model_dir` holds the classifier for
    `predict_images`).

    >>> import tempfile, radiolatent as rl
    >>> out = tempfile.mkdtemp()
    >>> result = rl.finetune("mbc:train", out, labels=40, config="tiny", progress=False)
    >>> set(rl.predict_images(out, "mbc:test")["prediction"]) <= {"FRI", "FRII"}
    True
    """
    from radiolatent.runs import finetune_model, run_config

    overrides = [*settings, *([f"train.labels={labels}"] if labels else [])]
    run = dataclasses.replace(run_config("finetune", config, overrides), encoder=str(encoder), init=init)
    say = print if progress else (lambda text: None)
    return finetune_model(
        run,
        train,
        out,
        pool_config or DEFAULT_POOL,
        label_store=label_file,
        resume=resume,
        overwrite=overwrite,
        seed=seed,
        device=device,
        log=say,
        progress=progress,
    )


def search(
    codes: Codes,
    query: str | Path,
    rows: str = "pool",
    *,
    k: int = DEFAULT_SEARCH.k,
    metric: str = DEFAULT_SEARCH.metric,
    exclude_self: bool = False,
    model: str | Path | None = None,
    pixel_scale: float = DEFAULT_SEARCH.query_pixel_scale,
    codes_path: str | Path | None = None,
) -> pd.DataFrame:
    """The `k` codes of `rows` most like a query: the id of a row of `codes`, or an image
    file (FITS, PNG, JPEG, .npy), embedded by the model that made the codes. A query with a
    sky position gets its source's other observations first (`same_position`). The index
    is cached beside `codes_path`, by default `codes` itself when it is a path.
    `.attrs["query_image"]` holds an image-file query's 64x64 model input.

    >>> import radiolatent as rl
    >>> codes = rl.embed("vlass=folder@tests/data/vlass_epochs", survey="VLASS", progress=False)
    >>> found = rl.search(codes, "tests/data/vlass_epochs/J028.8067+11.3219_ep1.1.fits.gz", "vlass", k=2)
    >>> found["id"].head(2).tolist()
    ['folder:J028.8067+11.3219_ep1.1', 'folder:J028.8067+11.3219_ep2.1']
    """
    from radiolatent.downstream.search import search_table

    source = codes_path if codes_path is not None else codes if isinstance(codes, (str, Path)) else None
    result, query_image = search_table(
        codes_table(codes),
        str(query),
        rows,
        k=k,
        metric=metric,
        exclude_self=exclude_self,
        codes_path=source,
        model=None if model is None else str(model),
        pixel_scale=pixel_scale,
    )
    result.attrs["query_image"] = query_image  # an image-file query's model input, for pictures
    return result


def duplicates(
    codes: Codes,
    rows: str = "pool",
    *,
    metric: str = DEFAULT_SEARCH.metric,
    threshold: float | None = None,
    margin: float | None = None,
    by_position: bool = DEFAULT_SEARCH.duplicates_by_position,
) -> pd.DataFrame:
    """Pairs of `rows` that show one object twice (`radiolatent duplicates`): near-identical
    codes ([B]), and rows within 30" on the sky unless `by_position` is False.

    >>> import radiolatent as rl
    >>> codes = rl.embed("vlass=folder@tests/data/vlass_epochs", survey="VLASS", progress=False)
    >>> pairs = rl.duplicates(codes, "vlass")
    >>> len(pairs), sorted(set(pairs["kind"]))
    (7, ['same position'])
    """
    from radiolatent.downstream.duplicates import find_duplicates

    return find_duplicates(
        codes_table(codes), rows, threshold=threshold, metric=metric, margin=margin, by_position=by_position
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
    from radiolatent.codes import select
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
    example: it takes about 20 minutes on two cores (`tests/test_reproduce.py` runs the
    same code on a quick profile).

        report = rl.study("report")   # then open report/index.html
    """
    from radiolatent.config import ReproduceConfig
    from radiolatent.reproduce import reproduce

    config = ReproduceConfig() if seeds is None else dataclasses.replace(ReproduceConfig(), seeds=seeds)
    return reproduce(out, config, retrain=retrain)


def read_codes(path: str | Path) -> pd.DataFrame:
    """A codes table from the parquet file `embed` wrote (checked); see `write_codes`."""
    from radiolatent.codes import read_codes as read

    return read(path)


def write_codes(codes: pd.DataFrame, path: str | Path) -> Path:
    """Write a codes table to parquet, atomically (the file appears only once complete).

    >>> import tempfile, radiolatent as rl
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> path = rl.write_codes(codes, tempfile.mkdtemp() + "/fits.parquet")
    >>> again = rl.read_codes(path)
    >>> again["id"].tolist() == codes["id"].tolist() and path.name
    'fits.parquet'
    """
    from radiolatent.codes import write_codes as write

    return write(codes, path)


def write_catalogue(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table (e.g. `predict`'s) as CSV, ECSV, FITS or VOTable, chosen by the suffix;
    positions get their units (deg), so astropy and TOPCAT read them as such.

    >>> import tempfile, radiolatent as rl
    >>> from astropy.table import Table
    >>> codes = rl.embed("fits=folder@tests/data/first_fits", single_view=True, progress=False)
    >>> path = rl.write_catalogue(codes[["id", "ra", "dec"]], tempfile.mkdtemp() + "/sources.fits")
    >>> catalogue = Table.read(path)
    >>> len(catalogue), str(catalogue["ra"].unit)
    (4, 'deg')
    """
    from radiolatent.data.catalogue import write_catalogue as write

    return write(table, path)


__all__ = [
    "classify",
    "code_columns",
    "codes_table",
    "density",
    "duplicates",
    "embed",
    "finetune",
    "load",
    "model_names",
    "predict",
    "predict_images",
    "read_codes",
    "search",
    "study",
    "write_catalogue",
    "write_codes",
]
