"""The supervised ceiling: a ResNet-18 trained on labels, the number a representation is
measured against ([B]: 92.42 % on MiraBest).

For each labelled set (MBC, FR-DEEP NVSS) and seed, the network is fine-tuned from random
weights in the shared loop (`training.finetune`, the `ceiling` preset of
config/finetune.py: a stratified validation part of the train split, early stopping on
its ROC-AUC) and scored on the test split with the classifiers' metrics (accuracy,
ROC-AUC, specificity, recall; FRII positive) from its calibrated 8-orientation
probabilities, as `predict --model` gives them.

The study's rows (the shipped table, or trained with --retrain-ceiling) are in ceiling.py.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config.finetune import FinetuneRunConfig
from radiolatent.config.supervised import ENCODER, SUPERVISED_SETS
from radiolatent.core.errors import InputError, SettingError
from radiolatent.core.fileio import write_csv

RESULTS_CSV = "supervised.csv"
#: the columns the classifier results have, then this table's own.
COLUMNS = [
    "dataset",
    "accuracy",
    "roc_auc",
    "specificity",
    "recall",
    "seed",
    "encoder",
    "epochs",
    "best_epoch",
    "train_images",
    "valid_images",
    "train_minutes",
]


def ceiling_run(overrides: list[str] | tuple[str, ...] = ()) -> FinetuneRunConfig:
    """The `ceiling` fine-tuning preset with `overrides` (NAME=VALUE) applied."""
    from radiolatent.config import configured

    run = configured("finetune", "ceiling", list(overrides))
    if not isinstance(run, FinetuneRunConfig):
        raise TypeError(f"the ceiling preset is a {type(run).__name__}")
    return run


def train_and_score(
    train_spec: str, seed: int, run: FinetuneRunConfig, out_dir: str | Path | None = None, progress: bool = True
) -> dict:
    """One row: train on `train_spec` (e.g. 'mbc:train') with `seed`, score its test split.
    With `out_dir`, the run folder (checkpoints, metrics, the classifier) is
    out_dir/<dataset>-s<seed>; without, a temporary folder."""
    test_spec, dataset = test_split(train_spec)
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="radiolatent-ceiling-") as tmp:
            return _train_and_score(train_spec, test_spec, dataset, seed, run, Path(tmp), progress)
    return _train_and_score(train_spec, test_spec, dataset, seed, run, Path(out_dir) / f"{dataset}-s{seed}", progress)


def _train_and_score(
    train_spec: str, test_spec: str, dataset: str, seed: int, run: FinetuneRunConfig, folder: Path, progress: bool
) -> dict:
    from radiolatent.data.inputs import model_input
    from radiolatent.downstream.classify import binary_metrics
    from radiolatent.downstream.image_predict import ImagePredictor
    from radiolatent.training.finetune import finetune, labelled_images, with_enough_steps
    from radiolatent.training.loop import best_epoch

    data = labelled_images(model_input(train_spec), train_spec)
    test = model_input(test_spec)
    test_labels = test.meta["label"].to_numpy()
    if not np.isin(test_labels, (0, 1)).all() or data.classes != ["FRI", "FRII"]:
        raise InputError(test_spec, "the supervised ceiling needs FRI/FRII labels (0/1) on every image")
    started = time.perf_counter()
    result = finetune(data, with_enough_steps(run, len(data.labels)), folder, seed=seed, progress=progress)
    minutes = (time.perf_counter() - started) / 60.0
    p = ImagePredictor(folder / "model").predict(test)["p_frii"].to_numpy()
    return {
        "dataset": dataset,
        **binary_metrics(test_labels.astype(int), (p >= 0.5).astype(int), p),
        "seed": seed,
        "encoder": ENCODER,
        "epochs": result.epochs_completed,
        "best_epoch": best_epoch(result.history, run.train.monitor),
        "train_images": len(data.labels) - len(result.valid_indices),
        "valid_images": len(result.valid_indices),
        "train_minutes": round(minutes, 2),
    }


def test_split(train_spec: str) -> tuple[str, str]:
    """(test split spec, dataset name in the results) of a labelled train split."""
    if train_spec not in SUPERVISED_SETS:
        raise SettingError(
            "train", f"{train_spec!r}: the supervised ceiling trains on one of {', '.join(SUPERVISED_SETS)}"
        )
    return SUPERVISED_SETS[train_spec]


def run_ceiling(
    train_specs: list[str],
    seeds: int,
    run: FinetuneRunConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    first_seed: int = 0,
) -> pd.DataFrame:
    """Every (set, seed first_seed..first_seed+seeds-1); with `out_dir`, also its
    supervised.csv and run folders (seeds run side by side give one table each, to concatenate)."""
    for spec in train_specs:
        test_split(spec)  # every name checked before any training
    rows = []
    for spec in train_specs:
        for seed in range(first_seed, first_seed + seeds):
            rows.append(train_and_score(spec, seed, run, out_dir, progress))
            if out_dir is not None:  # after every run: a long study keeps what it measured
                write_csv(pd.DataFrame(rows, columns=COLUMNS), Path(out_dir) / RESULTS_CSV)
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per dataset and metric."""
    metrics = ["accuracy", "roc_auc", "specificity", "recall"]
    return rows.groupby("dataset")[metrics].agg(["mean", "std"])
