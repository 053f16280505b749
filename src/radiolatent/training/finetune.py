"""Fine-tuning a classifier on labelled images (`radiolatent train finetune`): the labelled
rows chosen and checked, the run trained in the shared loop (recipes/finetune.py), and
the saved model finished: its temperature fitted on the validation split (calibrated
probabilities) and its training images' features kept (the in-domain score)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import numpy as np
import torch

from radiolatent.config.finetune import FinetuneRunConfig
from radiolatent.core.errors import InputError, SettingError
from radiolatent.data.dataset import RadioDataset, class_names
from radiolatent.data.orientations import each_view
from radiolatent.models.checkpoint import CLASSIFIER_KIND, MODEL_JSON, load_model, read_json, save_model
from radiolatent.models.classifier import Classifier
from radiolatent.training.launch import TrainOptions, train
from radiolatent.training.parts import to_tensor, valid_count
from radiolatent.training.recipes.finetune import FinetuneRecipe
from radiolatent.training.state import MODEL_DIR, TrainResult

CPU = torch.device("cpu")


@dataclass(frozen=True)
class LabelledImages:
    """The images a classifier learns from: uint8 (N, H, W), classes 0..K-1, their names, ids."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: np.ndarray


def labelled_images(ds: RadioDataset, spec: str, n_labels: int = 0, seed: int = 0) -> LabelledImages:
    """The rows of `ds` that carry a label (label >= 0); with `n_labels`, a stratified
    subset of that many, drawn with `seed`. A test split is refused: it is what the
    classifier will be scored on."""
    meta = ds.meta
    if "split" in meta.columns and (meta["split"].astype(str) == "test").any():
        raise InputError(spec, "is a test split: fine-tune on training rows (e.g. mbc:train), score on the test split")
    labels = meta["label"].to_numpy()
    keep = np.flatnonzero(labels >= 0)
    if len(keep) == 0:
        raise InputError(spec, "has no labelled rows (label >= 0) to train on")
    values, y = np.unique(labels[keep].astype(int), return_inverse=True)
    names = class_names(meta.iloc[keep], values)
    if len(values) < 2:
        raise InputError(spec, f"has labels of one class only ({names[0]}); a classifier needs two")
    if n_labels > len(keep):
        raise SettingError("n_labels", f"{n_labels} is more than the {len(keep)} labelled rows of {spec}")
    if 0 < n_labels < len(keep):
        chosen = _stratified_subset(y, n_labels, seed, spec)
        keep, y = keep[chosen], y[chosen]
    return LabelledImages(ds.images[keep], y, names, meta["id"].astype(str).to_numpy()[keep])


def _stratified_subset(y: np.ndarray, n: int, seed: int, spec: str) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if n < 2 * len(np.unique(y)):
        raise SettingError("n_labels", f"{n} labelled rows of {spec} is too few: need at least 2 of each class")
    chosen, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(chosen)


def with_enough_steps(run: FinetuneRunConfig, n_images: int) -> FinetuneRunConfig:
    """`run` fitted to `n_images` labelled images: a batch no larger than the training
    part, and at least `min_steps` optimiser steps, by going through a few labels several
    times an epoch (`passes`), so an epoch lasts about as many steps as with more labels."""
    cfg = run.train
    n_train = n_images - valid_count(n_images, cfg)
    batch = max(2, min(cfg.batch_size, n_train))
    passes = max(1, math.ceil(cfg.min_steps / (cfg.epochs * max(1, n_train // batch))))
    return dataclasses.replace(run, train=dataclasses.replace(cfg, batch_size=batch, passes=passes))


def finetune(
    data: LabelledImages, run: FinetuneRunConfig, out_dir: str | Path, **options: Unpack[TrainOptions]
) -> TrainResult:
    """Fine-tune `run.encoder` and a head on `data` into the run folder `out_dir`; the
    finished classifier is in out_dir/model (`predict --model`). `options` are
    `training.train`'s (resume, seed, world_size, progress, stop_after)."""
    try:
        recipe = FinetuneRecipe(run, data.labels, data.classes)
    except ValueError as exc:
        raise SettingError("encoder", str(exc)) from None
    result = train(data.images, recipe, out_dir, **options)
    if _is_main():
        finish(Path(out_dir) / MODEL_DIR, data, np.asarray(result.valid_indices))
    return result


def _is_main() -> bool:
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def finish(directory: Path, data: LabelledImages, valid_idx: np.ndarray, batch_size: int = 128) -> None:
    """Give the saved classifier in `directory` its temperature (the one that minimises the
    validation rows' log-loss of the 8-orientation mean probability) and the features of
    every labelled image (8-orientation means) with their ids."""
    model: Classifier = load_model(directory)
    meta = read_json(directory / MODEL_JSON)
    features, logits = orientation_outputs(model, data.images, batch_size)
    temperature = fit_temperature(logits[:, valid_idx], data.labels[valid_idx])
    cfg = dataclasses.replace(model.cfg, domain_rows=len(data.labels))
    finished = Classifier(cfg, model.encoder)
    finished.head.load_state_dict(model.head.state_dict())
    finished.temperature.fill_(temperature)
    finished.domain_features.copy_(features)
    keep = {k: v for k, v in meta.items() if k not in ("kind", "config", "format_version", "tensors_file", "sha256")}
    extra = {**keep, "domain_ids": [str(i) for i in data.ids], "validation_rows": len(valid_idx)}
    save_model(directory, finished, kind=CLASSIFIER_KIND, extra=extra)


@torch.no_grad()
def orientation_outputs(
    model: Classifier, images: np.ndarray, batch_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """For uint8 images (N, H, W): the encoder's features averaged over the 8 flips and
    quarter turns (N, D), and the head's logits on each orientation (8, N, K)."""
    model.eval()
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        x = to_tensor(images[start : start + batch_size], CPU)
        views = each_view(model.encoder, x)
        features.append(views.mean(0))
        logits.append(model.head(views.flatten(0, 1)).reshape(views.shape[0], len(x), -1))
    if not features:
        return torch.zeros(0, model.domain_features.shape[1]), torch.zeros(8, 0, len(model.cfg.classes))
    return torch.cat(features), torch.cat(logits, dim=1)


def probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The 8 orientations' class probabilities at `temperature`, averaged: (N, K)."""
    return torch.softmax(logits / temperature, dim=-1).mean(0)


def fit_temperature(logits: torch.Tensor, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] with the lowest log-loss of `probabilities` (a
    bounded 1-d search on its logarithm; Guo et al. 2017's temperature scaling)."""
    from scipy.optimize import minimize_scalar

    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    if len(y) == 0:
        return 1.0

    def loss(log_t: float) -> float:
        p = probabilities(logits, math.exp(log_t)).clamp_min(1e-12)
        return float(-torch.log(p[torch.arange(len(y)), y]).mean())

    found = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(found.x))
