"""The model-agnostic parts a training loop is made of.

`EMA` (a moving average of the weights), `UpdateGuard` (skip NaN/Inf or outlying updates
with an adaptive threshold), `Plateau` (ReduceLROnPlateau as a JSON-able state),
`MetricsLog` (the per-epoch CSV), `scheduled_lr` (the one schedule: warm-up x cosine,
plateau or constant), `random_flips_and_turns` (flips and 90-degree rotations),
`make_optimizer`, `split_indices` (the one train / held-out split) and the loop's
`validation_split`, `weight_checksum`, and the precision helpers (`resolved_precision`,
`autocast`).

Why `Plateau` and `EMA` are not torch's: the loop sets every parameter group's lr before
each step from warm-up x schedule (and, fine-tuning, a frozen encoder's 0), where torch's
`ReduceLROnPlateau` writes the optimiser's lr itself and would undo the warm-up; the
plateau's state is three numbers kept in the checkpoint's JSON. torch's `AveragedModel`
would need the same custom decay ramp as an `avg_fn` and keeps a step counter of its own
that a resumed run would have to restore beside ours.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import math
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiolatent.config import PRECISIONS, LoopConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_text

#: what an optimiser takes: parameters, or parameter groups (dicts with "params").
Params = Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]


class EMA:
    """Exponential moving average of a model's weights (a frozen copy)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        # Ramped decay: early on the average would otherwise be mostly the random init.
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        for ema_p, p in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema_p.dtype.is_floating_point:
                ema_p.lerp_(p, 1.0 - decay)
            else:
                ema_p.copy_(p)


class UpdateGuard:
    """Decides whether to apply an update, and counts the skipped ones.

    Non-finite loss or grad norm: always skipped. Outliers: grad norm above `factor` x
    the median of the last `window` finite norms. Skipped norms enter the history too, so
    after a genuine jump the median follows within ~window/2 steps; and each outlier skip
    in a row doubles the factor (reset on an accepted step), so even steadily growing
    norms cannot be skipped wholesale.
    """

    def __init__(self, factor: float, window: int, min_history: int) -> None:
        self.factor, self.window, self.min_history = factor, window, min_history
        self.history: list[float] = []
        self.skipped_nonfinite = 0
        self.skipped_outlier = 0
        self.outliers_in_a_row = 0

    @property
    def skipped(self) -> int:
        return self.skipped_nonfinite + self.skipped_outlier

    def threshold(self) -> float:
        if len(self.history) < self.min_history:
            return math.inf
        return self.factor * 2.0**self.outliers_in_a_row * float(np.median(self.history))

    def accept(self, loss: float, grad_norm: float) -> bool:
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.skipped_nonfinite += 1
            return False
        limit = self.threshold()
        self.history = [*self.history, grad_norm][-self.window :]
        if grad_norm > limit:
            self.skipped_outlier += 1
            self.outliers_in_a_row += 1
            return False
        self.outliers_in_a_row = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "skipped_nonfinite": self.skipped_nonfinite,
            "skipped_outlier": self.skipped_outlier,
            "outliers_in_a_row": self.outliers_in_a_row,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [float(v) for v in state["history"]]
        self.skipped_nonfinite = int(state["skipped_nonfinite"])
        self.skipped_outlier = int(state["skipped_outlier"])
        self.outliers_in_a_row = int(state["outliers_in_a_row"])


class Plateau:
    """ReduceLROnPlateau (mode min, relative threshold) as a scale on the base lr."""

    def __init__(self, factor: float, patience: int, threshold: float) -> None:
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.scale, self.best, self.bad_epochs = 1.0, math.inf, 0

    def step(self, value: float) -> None:
        # Relative improvement, as torch's default; the sign handles negative losses.
        if value < self.best - abs(self.best) * self.threshold:
            self.best, self.bad_epochs = value, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.scale *= self.factor
            self.bad_epochs = 0

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best = float(state["scale"]), float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


def scheduled_lr(cfg: LoopConfig, schedule: str, step: int, plateau: Plateau, total_steps: int) -> float:
    """The one learning-rate schedule: base lr x linear warm-up x "cosine" (to 0 at
    `total_steps`), "plateau" (the plateau's scale) or "constant"; floored at min_lr."""
    warm = min(1.0, (step + 1) / cfg.lr_warmup_steps) if cfg.lr_warmup_steps > 0 else 1.0
    if schedule == "plateau":
        # multiplied in the order the shipped VDVAE's run used: the same lr to the last bit
        return max(cfg.min_lr, cfg.lr * plateau.scale * warm)
    scale = 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, total_steps)))) if schedule == "cosine" else 1.0
    return max(cfg.min_lr, cfg.lr * warm * scale)


def random_flips_and_turns(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random dihedral transform per image: a 90-degree rotation and an optional flip."""
    turns = rng.integers(0, 4, size=x.shape[0])
    flips = rng.integers(0, 2, size=x.shape[0])
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        image = torch.rot90(x[i], int(turns[i]), dims=(-2, -1))
        out[i] = torch.flip(image, dims=(-1,)) if flips[i] else image
    return out


class MetricsLog:
    """Per-epoch metrics CSV. Rewritten atomically each epoch (it is small), and on
    resume rows after the checkpoint's epoch are dropped."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = Path(path), columns

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))

    def keep_through(self, epoch: int) -> None:
        self._write([r for r in self.rows() if int(r["epoch"]) <= epoch])

    def append(self, row: dict[str, Any]) -> None:
        self._write([*self.rows(), row])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.path, buffer.getvalue())


def weight_checksum(model: torch.nn.Module) -> str:
    """SHA-256 of all weights' bytes (equal iff the weights are bit-identical)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def make_optimizer(cfg: LoopConfig, params: Params) -> torch.optim.Optimizer:
    """The configured optimiser over `params` (parameters or parameter groups)."""
    if cfg.optimizer == "lars":
        from lightly.utils.lars import LARS

        lars: torch.optim.Optimizer = LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return lars
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def valid_count(n: int, cfg: LoopConfig) -> int:
    """How many of `n` images `validation_split` keeps for validation."""
    return min(cfg.valid_max, max(1, round(n * cfg.valid_fraction)))


def split_indices(
    n: int, n_valid: int, seed: int | list[int], strata: np.ndarray | None = None, source: str = "rows"
) -> tuple[np.ndarray, np.ndarray]:
    """The one train / held-out split: (train, held-out) indices of `n` rows, sorted, with
    `n_valid` held out (kept within 1..n-1). `seed` is numpy seed material (an int or a
    list of ints) for the permutation; with `strata` (a class per row) the split is
    stratified, each class keeping its share on both sides (scikit-learn's, seeded by
    the first number of `seed`). Fewer than 2 rows is an InputError naming `source`."""
    if n < 2:
        raise InputError(source, f"need at least 2 rows to hold some out, got {n}")
    n_valid = min(n - 1, max(1, n_valid))
    if strata is not None:
        from sklearn.model_selection import train_test_split

        first = seed[0] if isinstance(seed, list) else seed
        train, valid = train_test_split(np.arange(n), test_size=n_valid, stratify=strata, random_state=first % 2**32)
        return np.sort(train), np.sort(valid)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def validation_split(
    n: int, cfg: LoopConfig, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The training loop's split of `n` pool images for a run's `seed` (`split_indices`
    with `valid_count` held out); the shipped models' validation images are these."""
    return split_indices(n, valid_count(n, cfg), [seed, 0xDA7A], strata)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images (N, H, W) as a float batch (N, 1, H, W) in [0, 1] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0).unsqueeze(1)


def resolved_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on CUDA (tensor cores, half the activation memory) and fp32 elsewhere
    (bf16 on CPUs is slower than fp32 on most of them)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise InputError("train.precision", f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """The forward pass's context: bf16 autocast, or nothing for fp32. Parameters, their
    gradients and the optimiser stay float32 either way."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
