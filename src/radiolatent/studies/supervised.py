"""The supervised ceiling: a ResNet-18 trained on labels, the number a representation is
measured against ([B]: 92.42 % on MiraBest).

For each labelled set (MBC, FR-DEEP NVSS) and seed: the train split is divided into a
stratified train / validation part, the network learns FRI/FRII with class-balanced
cross-entropy on the SSL augmentations (`data/ssl_views.random_view`, a fresh view every
batch), AdamW with a linear warm-up and a cosine schedule, stops when the validation
ROC-AUC has not improved for `patience` epochs, and the weights of the best validation
ROC-AUC are scored on the test split with the classifiers' metrics (accuracy, ROC-AUC,
specificity, recall; FRII positive).

Training does not run in the shared loop (training/loop.py): that loop has no early
stopping on a validation metric nor best-weights restore, and its run and loop configs
are the VDVAE's and SSL's; its helpers are reused (`training.parts.to_tensor`).

The study's rows (the shipped table, or trained with --retrain) are in ceiling.py.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from radiolatent.config.models import SSLModelConfig
from radiolatent.config.supervised import ENCODER, SUPERVISED_SETS, SupervisedConfig
from radiolatent.core.errors import InputError, SettingError
from radiolatent.core.fileio import atomic_path, write_csv
from radiolatent.training.parts import to_tensor

CPU = torch.device("cpu")

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


class Classifier(torch.nn.Module):
    """(N, 1, 64, 64) in [0, 1] -> (N, 2) logits: the SSL encoders' ResNet and a linear head."""

    def __init__(self, cfg: SupervisedConfig):
        super().__init__()
        from radiolatent.models.ssl import FEATURE_DIM, ResNetBackbone

        self.backbone = ResNetBackbone(
            SSLModelConfig(backbone=cfg.backbone, stem_stride=cfg.stem_stride, stem_max_pool=cfg.stem_max_pool)
        )
        self.head = torch.nn.Linear(FEATURE_DIM, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_classifier(cfg: SupervisedConfig, seed: int) -> Classifier:
    """A classifier with weights drawn from `seed` (the global RNG state is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Classifier(cfg)


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) indices of a train split."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train, valid = train_test_split(idx, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(valid)


@torch.no_grad()
def frii_probability(model: Classifier, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """P(FRII) of each uint8 image (N, 64, 64), the model in eval mode."""
    model.eval()
    out = [
        torch.softmax(model(to_tensor(images[i : i + batch_size], CPU)), dim=1)[:, 1]
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def validate(model: Classifier, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation loss, accuracy and ROC-AUC (batch norm in eval mode)."""
    from sklearn.metrics import roc_auc_score

    p = np.clip(frii_probability(model, images), 1e-7, 1 - 1e-7)
    loss = -np.mean(np.where(labels == 1, np.log(p), np.log(1 - p)))
    auc = roc_auc_score(labels, p) if len(np.unique(labels)) == 2 else 0.5
    return {"val_loss": float(loss), "val_accuracy": float(np.mean((p >= 0.5) == (labels == 1))), "val_roc_auc": auc}


def train_classifier(
    images: np.ndarray, labels: np.ndarray, cfg: SupervisedConfig, seed: int, progress: bool = True
) -> tuple[Classifier, list[dict]]:
    """Train on uint8 images (N, 64, 64) with 0/1 labels; returns the best-validation-ROC-AUC
    model (eval mode) and one history row per epoch."""
    labels = np.asarray(labels).astype(int)
    train_idx, valid_idx = validation_split(labels, cfg.valid_fraction, seed)
    if len(train_idx) < cfg.batch_size:
        raise InputError("train set", f"{len(train_idx)} training images is less than one batch of {cfg.batch_size}")
    torch.set_num_threads(cfg.threads)
    model = build_classifier(cfg, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg, len(train_idx) // cfg.batch_size))
    # inverse class frequency: the minority class weighs as much as the majority
    counts = np.bincount(labels[train_idx], minlength=2).astype(np.float32)
    weight = torch.from_numpy(counts.sum() / (2 * counts)) if cfg.class_balanced else None
    rng = np.random.default_rng([seed, 0x5A9E])
    best_state, history = copy.deepcopy(model.state_dict()), []
    bar = tqdm(range(1, cfg.max_epochs + 1), desc=f"supervised seed {seed}", disable=not progress, leave=False)
    for epoch in bar:
        loss = _train_epoch(model, (optimizer, scheduler), weight, images, labels, train_idx, cfg, rng)
        history.append({"epoch": epoch, "loss": loss, **validate(model, images[valid_idx], labels[valid_idx])})
        bar.set_postfix(val_auc=f"{history[-1]['val_roc_auc']:.3f}", val_acc=f"{history[-1]['val_accuracy']:.3f}")
        if _best_epoch(history) == epoch:
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - _best_epoch(history) >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return model.eval(), history


def _schedule(cfg: SupervisedConfig, steps_per_epoch: int):
    """lr factor per step: linear warm-up over `warmup_epochs`, then cosine to 0 at `max_epochs`."""
    warm, total = cfg.warmup_epochs * steps_per_epoch, max(1, cfg.max_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def _train_epoch(model, optimizers, weight, images, labels, train_idx, cfg: SupervisedConfig, rng) -> float:
    from radiolatent.data.ssl_views import random_view

    optimizer, scheduler = optimizers
    torch.manual_seed(int(rng.integers(0, 2**62)))  # dropout-free, but batch order and views are seeded
    model.train()
    order = rng.permutation(train_idx)
    losses = []
    for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):  # full batches (batch norm)
        chunk = order[start : start + cfg.batch_size]
        x = random_view(to_tensor(images[chunk], CPU), rng, cfg.views)
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels[chunk]), weight=weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def _best_epoch(history: list[dict]) -> int:
    """The epoch of the highest validation ROC-AUC (ties: the lower validation loss, then the earlier)."""
    return int(max(history, key=lambda row: (row["val_roc_auc"], -row["val_loss"], -row["epoch"]))["epoch"])


def _labelled(spec: str) -> tuple[np.ndarray, np.ndarray]:
    from radiolatent.data.inputs import model_input

    ds = model_input(spec)
    labels = ds.meta["label"].to_numpy()
    if not np.isin(labels, (0, 1)).all():
        raise InputError(spec, "the supervised ceiling needs FRI/FRII labels (0/1) on every image")
    return ds.images, labels.astype(int)


def train_and_score(
    train_spec: str,
    seed: int,
    cfg: SupervisedConfig = SupervisedConfig(),
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """One row: train on `train_spec` (e.g. 'mbc:train') with `seed`, score its test split.
    With `out_dir`, the classifier's weights go to out_dir/<dataset>-s<seed>.pt."""
    from radiolatent.downstream.classify import binary_metrics

    test_spec, dataset = test_split(train_spec)
    images, labels = _labelled(train_spec)
    test_images, test_labels = _labelled(test_spec)
    started = time.perf_counter()
    model, history = train_classifier(images, labels, cfg, seed, progress)
    minutes = (time.perf_counter() - started) / 60.0
    p = frii_probability(model, test_images)
    valid = validation_split(labels, cfg.valid_fraction, seed)[1]
    row = {
        "dataset": dataset,
        **binary_metrics(test_labels, (p >= 0.5).astype(int), p),
        "seed": seed,
        "encoder": ENCODER,
        "epochs": len(history),
        "best_epoch": _best_epoch(history),
        "train_images": len(labels) - len(valid),
        "valid_images": len(valid),
        "train_minutes": round(minutes, 2),
    }
    if out_dir is not None:
        with atomic_path(Path(out_dir) / f"{dataset}-s{seed}.pt") as tmp:
            torch.save(model.state_dict(), tmp)
    return row


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
    cfg: SupervisedConfig = SupervisedConfig(),
    out_dir: str | Path | None = None,
    progress: bool = True,
    first_seed: int = 0,
) -> pd.DataFrame:
    """Every (set, seed first_seed..first_seed+seeds-1); with `out_dir`, also its
    supervised.csv and weights (seeds run side by side give one table each, to concatenate)."""
    for spec in train_specs:
        test_split(spec)  # every name checked before any training
    rows = []
    for spec in train_specs:
        for seed in range(first_seed, first_seed + seeds):
            rows.append(train_and_score(spec, seed, cfg, out_dir, progress))
            if out_dir is not None:  # after every run: a long study keeps what it measured
                write_csv(pd.DataFrame(rows, columns=COLUMNS), Path(out_dir) / RESULTS_CSV)
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per dataset and metric."""
    metrics = ["accuracy", "roc_auc", "specificity", "recall"]
    return rows.groupby("dataset")[metrics].agg(["mean", "std"])
