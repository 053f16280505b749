"""Training: one loop for the VDVAE and the SSL baselines, and the machinery around it.

Reusable pieces (model-agnostic): `EMA`, `UpdateGuard` (skip NaN/Inf or outlying updates
with an adaptive threshold), `Plateau` (ReduceLROnPlateau as a JSON-able state),
`MetricsLog` (per-epoch CSV), `augment` (flips + 90-degree rotations, the VDVAE's),
`save_training_state` / `load_training_state` (atomic checkpoints), and the DDP helpers.

The loop (`train`) is driven by a recipe that says what is specific to a model:
`VDVAERecipe` (ELBO, plateau lr, EMA exported) and `SSLRecipe` (SimCLR / BYOL / SimSiam:
two augmented views, the method's loss, BYOL's target update after each accepted step,
cosine lr, the backbone exported). `train_vdvae` and `train_ssl` are the entry points.

Reproducibility: every epoch reseeds torch and numpy from (seed, epoch, rank), so a run
resumed from the checkpoint after epoch k replays epochs k+1.. exactly as an
uninterrupted run would (checkpoints hold model, EMA, optimiser, plateau, guard, step).
A kill mid-epoch loses at most that epoch.

Data parallelism (docs/gpu.md): under torchrun every process calls `train` itself and
joins the group torchrun describes (`distributed.process_group`: NCCL on GPUs, gloo on
CPUs, one GPU per process); `world_size` > 1 outside torchrun starts that many local
processes that join the same way, each opening the images from their .npy file (a
memory map: nothing large is pickled). The model is wrapped in DistributedDataParallel
(SSL backbones with synchronised batch norm on GPUs); `batch_size` is the global batch
and each rank takes its own rank-strided share of every batch. Rank 0 validates, writes
checkpoints and metrics, and prints; the others wait at a barrier.

Precision (`train.precision`): "auto" is bf16 autocast on CUDA and fp32 elsewhere; the
KL and the likelihood are computed in float32 either way (models/vdvae.py).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import math
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from radiolatent import distributed
from radiolatent.config import (
    PRECISIONS, SSLRunConfig, SSLTrainConfig, TrainConfig, VDVAERunConfig, check_ssl_config,
    dataclass_from_dict,
)
from radiolatent.data.augment import two_views
from radiolatent.errors import InputError
from radiolatent.fileio import write_text
from radiolatent.models.checkpoint import flatten_state, load_pair, save_model, save_pair, unflatten_state
from radiolatent.models.vdvae import VDVAE, build_vdvae

if TYPE_CHECKING:  # lightly and torchvision load only for SSL runs (seconds a process under torchrun)
    from radiolatent.models.ssl import SSLModel

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_JSON = "state.json"
CHECKPOINT_STEM = "state"
METRICS_CSV = "metrics.csv"
RESULT_JSON = "result.json"
MODEL_DIR = "model"


# ---------------------------------------------------------------------------
# Reusable machinery
# ---------------------------------------------------------------------------


class EMA:
    """Exponential moving average of a model's weights (a frozen copy)."""

    def __init__(self, model: torch.nn.Module, decay: float):
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

    def __init__(self, factor: float, window: int, min_history: int):
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
        return self.factor * 2.0 ** self.outliers_in_a_row * float(np.median(self.history))

    def accept(self, loss: float, grad_norm: float) -> bool:
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.skipped_nonfinite += 1
            return False
        limit = self.threshold()
        self.history = (self.history + [grad_norm])[-self.window:]
        if grad_norm > limit:
            self.skipped_outlier += 1
            self.outliers_in_a_row += 1
            return False
        self.outliers_in_a_row = 0
        return True

    def state_dict(self) -> dict:
        return {"history": list(self.history), "skipped_nonfinite": self.skipped_nonfinite,
                "skipped_outlier": self.skipped_outlier, "outliers_in_a_row": self.outliers_in_a_row}

    def load_state_dict(self, state: dict) -> None:
        self.history = [float(v) for v in state["history"]]
        self.skipped_nonfinite = int(state["skipped_nonfinite"])
        self.skipped_outlier = int(state["skipped_outlier"])
        self.outliers_in_a_row = int(state["outliers_in_a_row"])


class Plateau:
    """ReduceLROnPlateau (mode min, relative threshold) as a scale on the base lr."""

    def __init__(self, factor: float, patience: int, threshold: float):
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

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best = float(state["scale"]), float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


def learning_rate(cfg: TrainConfig, step: int, plateau: Plateau) -> float:
    """Base lr x plateau scale x linear warm-up, floored at min_lr."""
    warm = min(1.0, (step + 1) / cfg.lr_warmup_steps) if cfg.lr_warmup_steps > 0 else 1.0
    return max(cfg.min_lr, cfg.lr * plateau.scale * warm)


def kl_weight(cfg: TrainConfig, step: int) -> float:
    """Beta at `step` under the configured schedule."""
    if cfg.kl_schedule == "constant" or (cfg.kl_schedule == "linear" and cfg.kl_warmup_steps <= 0):
        return cfg.beta
    if cfg.kl_schedule == "linear":
        return cfg.beta * min(1.0, step / cfg.kl_warmup_steps)
    if cfg.kl_schedule == "cyclic":
        ramp = max(1, min(cfg.kl_warmup_steps, cfg.kl_cycle_steps))
        return cfg.beta * min(1.0, (step % cfg.kl_cycle_steps) / ramp)
    raise ValueError(f"unknown kl_schedule {cfg.kl_schedule!r}")


def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
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

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = Path(path), columns

    def rows(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))

    def keep_through(self, epoch: int) -> None:
        self._write([r for r in self.rows() if int(r["epoch"]) <= epoch])

    def append(self, row: dict) -> None:
        self._write(self.rows() + [row])

    def _write(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.path, buffer.getvalue())


def save_training_state(directory: Path, model, ema: EMA | None, optimizer, extra: dict) -> None:
    """Atomic checkpoint: weights, EMA (if any) and optimiser tensors in safetensors, the rest JSON."""
    tensors: dict[str, torch.Tensor] = {}
    flatten_state(model.state_dict(), tensors, "model")
    if ema is not None:
        flatten_state(ema.model.state_dict(), tensors, "ema")
    optim_skeleton = flatten_state(optimizer.state_dict(), tensors, "optim")
    rng_skeleton = flatten_state({"torch": torch.get_rng_state()}, tensors, "rng")
    meta = dict(extra, optimizer=optim_skeleton, rng=rng_skeleton)
    save_pair(directory, CHECKPOINT_JSON, CHECKPOINT_STEM, tensors, meta)


def load_training_state(directory: Path, model, ema: EMA | None, optimizer) -> dict:
    """Restore a checkpoint written by `save_training_state`; returns its JSON part."""
    meta, tensors = load_pair(directory, CHECKPOINT_JSON)
    source = directory / meta["tensors_file"]
    try:
        model.load_state_dict(_prefixed(tensors, "model."))
        if ema is not None:
            ema.model.load_state_dict(_prefixed(tensors, "ema."))
        optimizer.load_state_dict(unflatten_state(meta["optimizer"], tensors))
        torch.set_rng_state(unflatten_state(meta["rng"], tensors)["torch"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise InputError(source, f"checkpoint does not fit this model ({exc})") from None
    return meta


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def weight_checksum(model: torch.nn.Module) -> str:
    """SHA-256 of all weights' bytes (equal iff the weights are bit-identical)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def make_optimizer(cfg: TrainConfig | SSLTrainConfig, params) -> torch.optim.Optimizer:
    """The configured optimiser over `params` (parameters or parameter groups)."""
    if cfg.optimizer == "lars":
        from lightly.utils.lars import LARS

        return LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def split_indices(n: int, cfg: TrainConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train / validation split (at least one image in each)."""
    n_valid = min(cfg.valid_max, max(1, int(round(n * cfg.valid_fraction))))
    if n - n_valid < 1:
        raise ValueError(f"need at least 2 images to train with a validation set, got {n}")
    order = np.random.default_rng([seed, 0xDA7A]).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


# ---------------------------------------------------------------------------
# The VDVAE objective and evaluation
# ---------------------------------------------------------------------------


def vdvae_objective(out: dict, run: VDVAERunConfig, step: int) -> torch.Tensor:
    """What is minimised: (recon + beta x free-bits KL + aux) per pixel (image-size free)."""
    cfg = run.train
    kl = out["kl_per_layer"]
    floors = torch.full_like(kl, cfg.free_bits)
    floors[0] = cfg.free_bits_top
    kl_term = torch.maximum(kl, floors).sum()
    total = out["recon"] + kl_weight(cfg, step) * kl_term + run.model.aux_weight * out["aux_recon"]
    return total / (run.model.image_size ** 2)


@torch.no_grad()
def evaluate(model: VDVAE, images: np.ndarray, cfg: TrainConfig, seed: int, device) -> dict:
    """Validation: negative ELBO (nats/image; one posterior sample with a fixed seed),
    KL per layer, and z0 active units (posterior-mean variance > active_threshold)."""
    model.eval()
    sums, n, means = {}, 0, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(images), cfg.eval_batch_size):
            x = _to_tensor(images[start:start + cfg.eval_batch_size], device)
            out = model(x)
            for key in ("loss", "recon", "kl", "bits_per_dim"):
                sums[key] = sums.get(key, 0.0) + out[key].item() * len(x)
            sums["kl_per_layer"] = sums.get("kl_per_layer", 0.0) + out["kl_per_layer"].cpu().numpy() * len(x)
            n += len(x)
            means.append(model.encode_z0(x).cpu())
    result = {k: v / n for k, v in sums.items()}
    codes = torch.cat(means).double()
    variance = codes.var(0, unbiased=False) if len(codes) > 1 else torch.zeros(codes.shape[1])
    result["z0_active"] = int((variance > cfg.active_threshold).sum())
    return result


def _to_tensor(images: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0).unsqueeze(1)


def resolved_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on CUDA (tensor cores, half the activation memory) and fp32 elsewhere
    (bf16 on CPUs is slower than fp32 on most of them)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise InputError("train.precision", f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device, precision: str):
    """The forward pass's context: bf16 autocast, or nothing for fp32. Parameters, their
    gradients and the optimiser stay float32 either way."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# ---------------------------------------------------------------------------
# Recipes: what the shared loop needs to know about one kind of model
# ---------------------------------------------------------------------------


class VDVAERecipe:
    """The VDVAE: ELBO objective, dihedral augmentation, plateau lr, the EMA exported."""

    kind = "vdvae"
    config_class = VDVAERunConfig

    def __init__(self, run: VDVAERunConfig):
        self.run, self.cfg = run, run.train

    def build(self, seed: int) -> VDVAE:
        return build_vdvae(self.run.model, seed=seed)

    def optimizer(self, model) -> torch.optim.Optimizer:
        return make_optimizer(self.cfg, model.parameters())

    def inputs(self, x: torch.Tensor, rng: np.random.Generator):
        return augment(x, rng) if self.cfg.augment else x

    def objective(self, net, x, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(what is minimised, the stats logged: loss, recon, kl, aux, objective, kl per layer)."""
        out = net(x)
        objective = vdvae_objective(out, self.run, step)
        stats = torch.cat([torch.stack([out["loss"], out["recon"], out["kl"], out["aux_recon"],
                                        objective]), out["kl_per_layer"]])
        return objective, stats.detach()

    def n_stats(self, model: VDVAE) -> int:
        return 5 + len(model.layer_names)

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float:
        return learning_rate(self.cfg, step, plateau)

    def after_update(self, model, step: int, total_steps: int) -> None:
        """Nothing beyond the optimiser and EMA steps."""

    def schedule_row(self, step: int, total_steps: int) -> dict:
        return {"beta": kl_weight(self.cfg, step)}

    def train_row(self, epoch: int, mean: np.ndarray, grad_norm: float, model: VDVAE) -> dict:
        row = {"epoch": epoch, "loss": mean[0], "recon": mean[1], "kl": mean[2],
               "aux_recon": mean[3], "objective": mean[4],
               "bits_per_dim": mean[0] / (self.run.model.image_size ** 2 * math.log(2.0)),
               "grad_norm": grad_norm}
        row.update({f"kl_{name}": mean[5 + i] for i, name in enumerate(model.layer_names)})
        return row

    def columns(self, model: VDVAE) -> list[str]:
        return _metric_columns(model)

    def evaluate(self, model, images: np.ndarray, seed: int, device) -> dict:
        return evaluate(model, images, self.cfg, seed, device)

    def val_row(self, val: dict, model: VDVAE) -> dict:
        return _val_columns(val, model.layer_names)

    def export(self, directory: Path, model, ema: EMA | None, extra: dict) -> None:
        save_model(directory, ema.model if ema is not None else model, extra=extra)


class SSLRecipe:
    """SimCLR / BYOL / SimSiam: two views per image, the method's loss, the online
    backbone (or its EMA, if configured) exported for embedding."""

    config_class = SSLRunConfig

    def __init__(self, run: SSLRunConfig):
        self.run, self.cfg = check_ssl_config(run), run.train
        self.kind = run.model.method

    def build(self, seed: int) -> SSLModel:
        from radiolatent.models.ssl import build_ssl

        return build_ssl(self.run.model, seed=seed)

    def optimizer(self, model: SSLModel) -> torch.optim.Optimizer:
        # Biases and norm parameters get no weight decay (and so no LARS scaling).
        trainable = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if p.ndim > 1]},
                  {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}]
        return make_optimizer(self.cfg, groups)

    def inputs(self, x: torch.Tensor, rng: np.random.Generator):
        return two_views(x, rng, self.run.augment)

    def objective(self, net, views, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = net(*views)
        stats = torch.stack([out["loss"], out["feature_spread"], out["projection_spread"]])
        return out["loss"], stats.detach()

    def n_stats(self, model: SSLModel) -> int:
        return 3

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float:
        cfg = self.cfg
        warm = min(1.0, (step + 1) / cfg.lr_warmup_steps) if cfg.lr_warmup_steps > 0 else 1.0
        if cfg.lr_schedule == "cosine":
            scale = 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))
        else:
            scale = plateau.scale if cfg.lr_schedule == "plateau" else 1.0
        return max(cfg.min_lr, cfg.lr * warm * scale)

    def after_update(self, model: SSLModel, step: int, total_steps: int) -> None:
        model.update_target(step, total_steps)

    def schedule_row(self, step: int, total_steps: int) -> dict:
        if self.kind != "byol":
            return {}
        from radiolatent.models.ssl import target_momentum

        return {"momentum": target_momentum(self.run.model, step, total_steps)}

    def train_row(self, epoch: int, mean: np.ndarray, grad_norm: float, model: SSLModel) -> dict:
        return {"epoch": epoch, "loss": mean[0], "feature_spread": mean[1],
                "projection_spread": mean[2], "grad_norm": grad_norm}

    def columns(self, model: SSLModel) -> list[str]:
        return ["epoch", "step", "loss", "feature_spread", "projection_spread", "grad_norm", "skipped",
                "skipped_total", "lr"] + (["momentum"] if self.kind == "byol" else []) + \
               ["images_per_s", "val_loss", "val_feature_spread"]

    def evaluate(self, model: SSLModel, images: np.ndarray, seed: int, device) -> dict:
        return evaluate_ssl(model, images, self.run, seed, device)

    def val_row(self, val: dict, model: SSLModel) -> dict:
        return {"val_loss": val["loss"], "val_feature_spread": val["feature_spread"]}

    def export(self, directory: Path, model: SSLModel, ema: EMA | None, extra: dict) -> None:
        source = ema.model if ema is not None else model
        save_model(directory, source.backbone, kind=self.kind, extra=extra, half=self.cfg.export_half)


@torch.no_grad()
def evaluate_ssl(model: SSLModel, images: np.ndarray, run: SSLRunConfig, seed: int, device) -> dict:
    """Validation: the loss on two fixed-seed views of each image (the same views every
    epoch, so epochs compare), and the spread of the clean images' features."""
    from radiolatent.models.ssl import feature_spread

    model.eval()
    rng = np.random.default_rng([seed, 0xE7A1])
    total, n, features = 0.0, 0, []
    for start in range(0, len(images), run.train.eval_batch_size):
        x = _to_tensor(images[start:start + run.train.eval_batch_size], device)
        total += model(*two_views(x, rng, run.augment))["loss"].item() * len(x)
        n += len(x)
        features.append(model.backbone(x).cpu())
    return {"loss": total / n, "feature_spread": float(feature_spread(torch.cat(features)))}


# ---------------------------------------------------------------------------
# The training loop (any recipe)
# ---------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a training run produced (also in out_dir/result.json)."""

    out_dir: str
    model_dir: str
    epochs_completed: int
    steps: int
    skipped_total: int
    best_val_loss: float
    final_val_loss: float
    history: list[dict] = field(default_factory=list)
    weight_checksums: list[str] = field(default_factory=list)
    valid_indices: list[int] = field(default_factory=list)


def train_vdvae(images: np.ndarray, config: VDVAERunConfig, out_dir: str | Path, *,
                resume: bool = False, seed: int = 0, world_size: int = 1,
                progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Train a VDVAE on uint8 images (N, 64, 64); checkpoints and metrics go to out_dir.

    Returns the run summary; the EMA model is in out_dir/model (`load_model`).
    """
    return train(images, VDVAERecipe(config), out_dir, resume=resume, seed=seed,
                 world_size=world_size, progress=progress, stop_after=stop_after)


def train_ssl(images: np.ndarray, config: SSLRunConfig, out_dir: str | Path, *,
              resume: bool = False, seed: int = 0, world_size: int = 1,
              progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Train SimCLR, BYOL or SimSiam (config.model.method) on uint8 images (N, 64, 64).

    Same loop, checkpoints, metrics and resume as `train_vdvae`; out_dir/model holds the
    backbone (`load_model` gives it back; `embedding.get_encoder` embeds with it).
    """
    try:
        recipe = SSLRecipe(config)
    except ValueError as exc:
        raise InputError("config", str(exc)) from None
    return train(images, recipe, out_dir, resume=resume, seed=seed, world_size=world_size,
                 progress=progress, stop_after=stop_after)


def train(images: np.ndarray, recipe, out_dir: str | Path, *, resume: bool = False, seed: int = 0,
          world_size: int = 1, progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """The shared loop: train `recipe`'s model on uint8 images (N, side, side).

    `stop_after` ends the run after that epoch, as an interruption would: schedules
    still run over all `epochs`, and `resume=True` later continues exactly. (Changing
    `epochs` instead would change a cosine schedule, so it extends a run, not resumes it.)

    Under torchrun every process calls this with its own images (the same pool); outside
    it, `world_size` > 1 starts that many local processes over the same code path.
    """
    images = _check_images(images, recipe.run)
    out_dir = Path(out_dir)
    if world_size > 1 and distributed.launched():
        raise InputError("--world-size", "torchrun already started the processes; leave --world-size at 1 "
                                         "and set their number with torchrun --nproc-per-node")
    _check_resume(out_dir, recipe, seed, resume)
    out_dir.mkdir(parents=True, exist_ok=True)
    if world_size <= 1:
        return _worker(images, recipe, out_dir, resume, seed, progress, stop_after)
    with _npy_file(images) as source:
        distributed.spawn(_worker, world_size, source, recipe, out_dir, resume, seed, progress, stop_after)
    return TrainResult(**json.loads((out_dir / RESULT_JSON).read_text()))


@dataclass(frozen=True)
class _ImageFile:
    """A .npy file of images, opened as a memory map by each process that trains on it."""

    path: str

    def open(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r", allow_pickle=False)


@contextmanager
def _npy_file(images: np.ndarray):
    """The .npy file `images` was memory-mapped from (the pool's cache), or else a
    temporary copy: spawned processes open it instead of receiving a pickled array."""
    if isinstance(images, np.memmap) and images.filename:
        try:
            again = np.load(images.filename, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            again = None
        # The whole file, not a view of it (a view keeps the file's name and offset).
        if again is not None and (again.shape, again.dtype, again.strides, again.offset) == \
                (images.shape, images.dtype, images.strides, images.offset):
            yield _ImageFile(str(images.filename))
            return
    with tempfile.TemporaryDirectory(prefix="radiolatent-images-") as folder:
        path = Path(folder) / "images.npy"
        np.save(path, np.ascontiguousarray(images))
        yield _ImageFile(str(path))


def _check_images(images, config) -> np.ndarray:
    side = config.model.image_size
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3 \
            or images.shape[1:] != (side, side):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise InputError("images", f"expected uint8 array (N, {side}, {side}), got {dtype} {shape}")
    return images


#: settings that say where a run computes, not what: a run may resume with other values.
_PLACE_SETTINGS = ("device", "backend", "threads")


def _check_resume(out_dir: Path, recipe, seed: int, resume: bool) -> None:
    """Refuse to resume a run of another kind, config or seed (it would not be exact);
    only the number of epochs may change, to extend a finished run, and the device,
    backend and threads, to move a run (say, from a CPU to a GPU)."""
    state_json = out_dir / CHECKPOINT_DIR / CHECKPOINT_JSON
    if not (resume and state_json.is_file()):
        return
    meta, _ = load_pair(out_dir / CHECKPOINT_DIR, CHECKPOINT_JSON)
    kind = meta.get("kind", "vdvae")  # checkpoints written before SSL existed are VDVAE runs
    if kind != recipe.kind:
        raise InputError(state_json, f"checkpoint is a {kind} run, not {recipe.kind}")
    try:
        saved = dataclass_from_dict(recipe.config_class, meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(state_json, f"bad config in checkpoint ({exc})") from None
    config = recipe.run
    kept = {name: getattr(config.train, name) for name in ("epochs",) + _PLACE_SETTINGS}
    if dataclasses.replace(saved, train=dataclasses.replace(saved.train, **kept)) != config \
            or meta.get("seed") != seed:
        raise InputError(state_json, "checkpoint was made with another config or seed")


def _resume_note(meta: dict, world: int, device: torch.device, precision: str) -> str | None:
    """One line when a run resumes on another number of processes, device or precision."""
    before = (meta.get("world_size", 1), meta.get("device", "cpu"), meta.get("precision", "fp32"))
    now = (world, device.type, precision)
    if before == now:
        return None
    return (f"note: resuming a run checkpointed with {before[0]} process(es) on {before[1]} in {before[2]} "
            f"with {now[0]} on {now[1]} in {now[2]}: the same global batches and schedules continue, "
            "but not bit for bit as the uninterrupted run would (augmentations and latent samples "
            "are drawn per process; sums are taken in another order)")


def _worker(images, recipe, out_dir: Path, resume, seed, progress, stop_after) -> TrainResult:
    if isinstance(images, _ImageFile):
        images = images.open()
    cfg = recipe.cfg
    torch.set_num_threads(cfg.threads)
    with distributed.process_group(cfg.device, cfg.backend) as (where, device):
        return _train(where.rank, where.world, images, recipe, out_dir, resume, seed, progress, device,
                      stop_after)


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)


@dataclass
class _Run:
    """What every step of a run uses (built once in `_train`)."""

    recipe: object
    net: torch.nn.Module
    model: torch.nn.Module
    ema: EMA | None
    optimizer: torch.optim.Optimizer
    guard: UpdateGuard
    plateau: Plateau
    state: _State
    world: int
    total_steps: int
    device: torch.device
    precision: str


def _train(rank, world, images, recipe, out_dir, resume, seed, progress, device, stop_after):
    cfg = recipe.cfg
    if world > 1:
        dist.barrier()  # every rank has checked the run folder before rank 0 writes to it
    model = recipe.build(seed).to(device)
    if device.type == "cuda":
        # NHWC convolutions: what tensor cores run natively (the CPU encoder gained 1.5x too)
        model = model.to(memory_format=torch.channels_last)
    if world > 1 and device.type == "cuda":
        # Batch norm over the global batch, as on one device (gloo on CPUs cannot: there
        # each process normalises its own share, as before).
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    precision = resolved_precision(cfg.precision, device)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    optimizer = recipe.optimizer(model)
    guard = UpdateGuard(cfg.skip_factor, cfg.skip_window, cfg.skip_min_history)
    plateau = Plateau(cfg.plateau_factor, cfg.plateau_patience, cfg.plateau_threshold)
    state = _State()
    ckpt_dir = out_dir / CHECKPOINT_DIR
    if resume and (ckpt_dir / CHECKPOINT_JSON).is_file():
        meta = load_training_state(ckpt_dir, model, ema, optimizer)
        guard.load_state_dict(meta["guard"])
        plateau.load_state_dict(meta["plateau"])
        state = _State(meta["epoch"], meta["step"], meta["history"])
        note = _resume_note(meta, world, device, precision)
        if note and rank == 0:
            print(note, flush=True)
    if world > 1:
        _check_same_start(out_dir, state)
    train_idx, valid_idx = split_indices(len(images), cfg, seed)
    log = MetricsLog(out_dir / METRICS_CSV, recipe.columns(model))
    if rank == 0:
        log.keep_through(state.epoch)
    net = model
    if world > 1:
        on_gpu = [device.index] if device.type == "cuda" else None  # one GPU per process
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=on_gpu)
    total_steps = cfg.epochs * _steps_per_epoch(len(train_idx), cfg.batch_size, world)
    run = _Run(recipe, net, model, ema, optimizer, guard, plateau, state, world, total_steps,
               device, precision)
    eval_model = ema.model if ema is not None else model
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(state.epoch + 1, last + 1):
        row = _train_epoch(rank, run, images, train_idx, seed, epoch, progress, device)
        if world > 1:
            _sync_buffers(model)
        val = _validate(rank, world, recipe, eval_model, images[valid_idx], seed, device)
        plateau.step(val["loss"])
        row.update(recipe.val_row(val, model))
        state.epoch = epoch
        state.history.append(row)
        if rank == 0:
            _save_epoch(out_dir, run, seed)
            log.append(row)
        if world > 1:
            dist.barrier()
    return _finish(rank, world, out_dir, model, state, guard, valid_idx)


def _check_same_start(out_dir: Path, state: _State) -> None:
    """Every process reads the checkpoint on --resume: refuse, on every rank alike, when
    they found different ones (a run folder on storage that not every machine sees)."""
    starts = [None] * dist.get_world_size()
    dist.all_gather_object(starts, (state.epoch, state.step))
    if len(set(starts)) > 1:
        epochs = ", ".join(str(epoch) for epoch, _ in starts)
        raise InputError(out_dir, f"the processes found different checkpoints (epochs {epochs} by rank): "
                                  "put --out on storage that every machine sees")


def _sync_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics, which each rank
    updates from its own part of the batch). DDP does the same before every forward, so
    this changes no result; it makes the ranks' saved states and checksums agree."""
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def _steps_per_epoch(n_train: int, batch_size: int, world: int) -> int:
    per_rank = max(1, batch_size // world)
    n_steps = n_train // (per_rank * world)
    if n_steps == 0:
        raise ValueError(f"{n_train} training images is less than one batch of {per_rank * world}")
    return n_steps


def _train_epoch(rank, run: _Run, images, train_idx, seed, epoch, progress, device) -> dict:
    recipe, world, state = run.recipe, run.world, run.state
    cfg = recipe.cfg
    torch.manual_seed(_epoch_seed(seed, epoch, rank))
    order = np.random.default_rng([seed, epoch]).permutation(train_idx)
    aug_rng = np.random.default_rng([seed, epoch, rank, 1])
    per_rank = max(1, cfg.batch_size // world)
    n_steps = _steps_per_epoch(len(order), cfg.batch_size, world)
    sums = _Sums(recipe.n_stats(run.model))
    skipped_before = run.guard.skipped
    bar = tqdm(total=n_steps, desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress or rank != 0,
               leave=False, dynamic_ncols=True)
    started = time.perf_counter()
    run.model.train()
    for i in range(n_steps):
        chunk = order[(i * world + rank) * per_rank:(i * world + rank + 1) * per_rank]
        inputs = recipe.inputs(_to_tensor(images[chunk], device), aug_rng)
        stats, grad_norm = _step(run, inputs)
        sums.add(stats, grad_norm)
        bar.update(1)
        bar.set_postfix(loss=f"{stats[0]:.4g}", skipped=run.guard.skipped)
    bar.close()
    elapsed = time.perf_counter() - started
    row = recipe.train_row(epoch, *sums.means(), run.model)
    row.update(step=state.step, skipped=run.guard.skipped - skipped_before, skipped_total=run.guard.skipped,
               lr=recipe.learning_rate(state.step, run.plateau, run.total_steps))
    row.update(recipe.schedule_row(state.step, run.total_steps))
    row["images_per_s"] = n_steps * per_rank * world / elapsed
    return row


def _step(run: _Run, inputs):
    """One optimisation step; returns (globally averaged stats, grad norm)."""
    recipe, state = run.recipe, run.state
    for group in run.optimizer.param_groups:
        group["lr"] = recipe.learning_rate(state.step, run.plateau, run.total_steps)
    with autocast(run.device, run.precision):
        objective, stats = recipe.objective(run.net, inputs, state.step)
    stats = stats.float()
    run.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(run.model.parameters(), recipe.cfg.grad_clip))
    if run.world > 1:
        # Averaged so every rank sees the same loss and makes the same skip decision.
        dist.all_reduce(stats)
        stats /= run.world
    stats = stats.cpu().numpy()
    if run.guard.accept(float(stats[0]), grad_norm):
        run.optimizer.step()
        if run.ema is not None:
            run.ema.update(run.model, state.step)
        recipe.after_update(run.model, state.step, run.total_steps)
    state.step += 1
    return stats, grad_norm


class _Sums:
    """Running means of the per-step stats over the finite steps of an epoch."""

    def __init__(self, n_stats: int):
        self.total = np.zeros(n_stats)
        self.grad = 0.0
        self.count = 0

    def add(self, stats: np.ndarray, grad_norm: float) -> None:
        if np.all(np.isfinite(stats)) and math.isfinite(grad_norm):
            self.total += stats
            self.grad += grad_norm
            self.count += 1

    def means(self) -> tuple[np.ndarray, float]:
        return self.total / max(1, self.count), self.grad / max(1, self.count)


def _validate(rank, world, recipe, eval_model, valid_images, seed, device) -> dict:
    """Rank 0 evaluates; the result is broadcast so every rank's plateau steps alike."""
    result = recipe.evaluate(eval_model, valid_images, seed, device) if rank == 0 else {}
    if world > 1:
        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result


def _val_columns(val: dict, names: list[str]) -> dict:
    row = {"val_loss": val["loss"], "val_recon": val["recon"], "val_kl": val["kl"],
           "val_bits_per_dim": val["bits_per_dim"], "z0_active": val["z0_active"]}
    row.update({f"val_kl_{n}": float(v) for n, v in zip(names, val["kl_per_layer"])})
    return row


def _metric_columns(model: VDVAE) -> list[str]:
    names = model.layer_names
    return (["epoch", "step", "loss", "recon", "kl", "bits_per_dim", "objective", "aux_recon", "beta"]
            + [f"kl_{n}" for n in names]
            + ["z0_active", "grad_norm", "skipped", "skipped_total", "lr", "images_per_s",
               "val_loss", "val_recon", "val_kl", "val_bits_per_dim"]
            + [f"val_kl_{n}" for n in names])


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.default_rng([seed, epoch, rank]).integers(0, 2**62))


def _save_epoch(out_dir: Path, run: _Run, seed: int) -> None:
    recipe, state, guard = run.recipe, run.state, run.guard
    extra = {"kind": recipe.kind, "config": dataclasses.asdict(recipe.run), "seed": seed,
             "epoch": state.epoch, "step": state.step, "guard": guard.state_dict(),
             "plateau": run.plateau.state_dict(), "skipped_total": guard.skipped,
             "history": _plain(state.history), "world_size": run.world, "device": run.device.type,
             "precision": run.precision}
    save_training_state(out_dir / CHECKPOINT_DIR, run.model, run.ema, run.optimizer, extra)
    recipe.export(out_dir / MODEL_DIR, run.model, run.ema,
                  {"epoch": state.epoch, "seed": seed, "run_config": recipe.run.name})


def _finish(rank, world, out_dir, model, state, guard, valid_idx) -> TrainResult:
    checksum = weight_checksum(model)
    checksums = [checksum]
    if world > 1:
        checksums = [None] * world
        dist.all_gather_object(checksums, checksum)
    val_losses = [row["val_loss"] for row in state.history]
    result = TrainResult(
        out_dir=str(out_dir), model_dir=str(out_dir / MODEL_DIR), epochs_completed=state.epoch,
        steps=state.step, skipped_total=guard.skipped,
        best_val_loss=min(val_losses) if val_losses else math.nan,
        final_val_loss=val_losses[-1] if val_losses else math.nan,
        history=_plain(state.history), weight_checksums=checksums,
        valid_indices=[int(i) for i in valid_idx])
    if rank == 0:
        write_text(out_dir / RESULT_JSON, json.dumps(dataclasses.asdict(result), indent=1))
    if world > 1:
        dist.barrier()
    return result


def _plain(rows: list[dict]) -> list[dict]:
    """Rows with numpy scalars turned into Python numbers (for JSON)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]
