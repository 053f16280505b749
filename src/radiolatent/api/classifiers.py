"""Classifiers fine-tuned on labels, and their predictions straight from images."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from radiolatent.api.tables import folder_options
from radiolatent.config import DEFAULT_POOL, DEFAULT_PREDICT, PoolConfig, PredictConfig

if TYPE_CHECKING:
    from radiolatent.config.finetune import Init


def finetune(
    train: str,
    out: str | Path,
    *,
    encoder: str | Path = "vdvae-cpu",
    init: Init = "pretrained",
    n_labels: int = 0,
    labels: str | Path | None = None,
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
    finetune`), into the run folder `out`; `n_labels` trains on a stratified subset of that
    many rows, `labels` (a label store) gives the classes, `settings` are `--set`'s
    NAME=VALUE. Returns the run's summary (`.model_dir` holds the classifier for
    `predict_images`).

    >>> import tempfile, radiolatent as rl
    >>> out = tempfile.mkdtemp()
    >>> result = rl.finetune("mbc:train", out, n_labels=40, config="tiny", progress=False)
    >>> set(rl.predict_images(out, "mbc:test")["prediction"]) <= {"FRI", "FRII"}
    True
    """
    from radiolatent.training.runs import finetune_model, run_config

    overrides = [*settings, *([f"train.n_labels={n_labels}"] if n_labels else [])]
    run = dataclasses.replace(run_config("finetune", config, overrides), encoder=str(encoder), init=init)
    say = print if progress else (lambda text: None)
    return finetune_model(
        run,
        train,
        out,
        pool_config or DEFAULT_POOL,
        label_store=labels,
        resume=resume,
        overwrite=overwrite,
        seed=seed,
        device=device,
        log=say,
        progress=progress,
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
    config: PredictConfig = DEFAULT_PREDICT,
) -> pd.DataFrame:
    """Classes straight from images (`radiolatent predict --model --data`): `model` is a
    fine-tuned classifier (the shipped `finetuned-mbc`, or a `finetune` run folder), `data`
    comma-separated dataset specs. The columns are `predict`'s: `p_<class>` (the 8
    orientations' mean, temperature-calibrated), `prediction`, `agreement` (the share of
    orientations that agree), `in_domain`, `out_of_domain`, `nearest_train`. `config`: the
    in-domain neighbours and threshold (`preset("predict", "default")`, as `predict
    --config/--set` builds it).

    >>> import radiolatent as rl
    >>> found = rl.predict_images("finetuned-mbc", "fits=folder@tests/data/first_fits", survey="FIRST")
    >>> list(found.columns[:6]), len(found)
    (['id', 'ra', 'dec', 'p_fri', 'p_frii', 'prediction'], 4)
    """
    from radiolatent.downstream.image_predict import ImagePredictor
    from radiolatent.models.shipped import model_path
    from radiolatent.training.runs import labelled_dataset

    options = pool_config or folder_options(survey, catalogue, pixel_scale, keep_partial)
    predictor = ImagePredictor(model_path(str(model)), config=config)
    return predictor.predict(labelled_dataset(data, options))
