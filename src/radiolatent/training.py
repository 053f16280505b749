"""Training: the VDVAE loop and the reusable machinery around it.

Reusable pieces (model-agnostic, for the SSL trainer too): `EMA`, `UpdateGuard` (skip
NaN/Inf or outlying updates with an adaptive threshold), `Plateau` (ReduceLROnPlateau
as a JSON-able state), `MetricsLog` (per-epoch CSV), `augment` (flips + 90-degree
rotations), `save_training_state` / `load_training_state` (atomic checkpoints), and the
DDP helpers.

Reproducibility: every epoch reseeds torch and numpy from (seed, epoch, rank), so a run
resumed from the checkpoint after epoch k replays epochs k+1.. exactly as an
uninterrupted run would (checkpoints hold model, EMA, optimiser, plateau, guard, step).
A kill mid-epoch loses at most that epoch.

Data parallelism: `world_size` > 1 spawns that many processes (torch.multiprocessing),
joined by torch.distributed on a free localhost port (gloo on CPU, nccl on CUDA); the
model is wrapped in DistributedDataParallel; `batch_size` is the global batch. Rank 0
validates, writes checkpoints and metrics; the others wait at a barrier.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import math
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tqdm import tqdm

from radiolatent.config import TrainConfig, VDVAERunConfig, dataclass_from_dict
from radiolatent.errors import InputError
from radiolatent.fileio import write_text
from radiolatent.models.checkpoint import flatten_state, load_pair, save_model, save_pair, unflatten_state
from radiolatent.models.vdvae import VDVAE, build_vdvae

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


def save_training_state(directory: Path, model, ema: EMA, optimizer, extra: dict) -> None:
    """Atomic checkpoint: weights, EMA and optimiser tensors in safetensors, the rest JSON."""
    tensors: dict[str, torch.Tensor] = {}
    flatten_state(model.state_dict(), tensors, "model")
    flatten_state(ema.model.state_dict(), tensors, "ema")
    optim_skeleton = flatten_state(optimizer.state_dict(), tensors, "optim")
    rng_skeleton = flatten_state({"torch": torch.get_rng_state()}, tensors, "rng")
    meta = dict(extra, optimizer=optim_skeleton, rng=rng_skeleton)
    save_pair(directory, CHECKPOINT_JSON, CHECKPOINT_STEM, tensors, meta)


def load_training_state(directory: Path, model, ema: EMA, optimizer) -> dict:
    """Restore a checkpoint written by `save_training_state`; returns its JSON part."""
    meta, tensors = load_pair(directory, CHECKPOINT_JSON)
    source = directory / meta["tensors_file"]
    try:
        model.load_state_dict(_prefixed(tensors, "model."))
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


def free_port() -> int:
    """A free TCP port on localhost for the process group rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
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


# ---------------------------------------------------------------------------
# train_vdvae
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
                progress: bool = True) -> TrainResult:
    """Train a VDVAE on uint8 images (N, 64, 64); checkpoints and metrics go to out_dir.

    Returns the run summary; the EMA model is in out_dir/model (`load_model`).
    """
    images = _check_images(images, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume(out_dir, config, seed, resume)
    if world_size > 1:
        port = free_port()
        mp.spawn(_worker, args=(world_size, port, images, config, out_dir, resume, seed, progress),
                 nprocs=world_size, join=True)
    else:
        _worker(0, 1, 0, images, config, out_dir, resume, seed, progress)
    data = json.loads((out_dir / RESULT_JSON).read_text())
    return TrainResult(**data)


def _check_images(images, config: VDVAERunConfig) -> np.ndarray:
    side = config.model.image_size
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3 \
            or images.shape[1:] != (side, side):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise InputError("images", f"expected uint8 array (N, {side}, {side}), got {dtype} {shape}")
    return images


def _check_resume(out_dir: Path, config: VDVAERunConfig, seed: int, resume: bool) -> None:
    """Refuse to resume a run with a different config or seed (it would not be exact);
    only the number of epochs may change, to extend a finished run."""
    state_json = out_dir / CHECKPOINT_DIR / CHECKPOINT_JSON
    if not (resume and state_json.is_file()):
        return
    meta, _ = load_pair(out_dir / CHECKPOINT_DIR, CHECKPOINT_JSON)
    try:
        saved = dataclass_from_dict(VDVAERunConfig, meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(state_json, f"bad config in checkpoint ({exc})") from None
    same_epochs = dataclasses.replace(saved, train=dataclasses.replace(saved.train, epochs=config.train.epochs))
    if same_epochs != config or meta.get("seed") != seed:
        raise InputError(state_json, "checkpoint was made with another config or seed")


def _worker(rank, world, port, images, run: VDVAERunConfig, out_dir: Path, resume, seed, progress):
    cfg = run.train
    torch.set_num_threads(cfg.threads)
    device = torch.device(f"cuda:{rank}" if cfg.device == "cuda" else "cpu")
    if world > 1:
        backend = "nccl" if device.type == "cuda" else cfg.backend
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=world)
    try:
        _train(rank, world, images, run, out_dir, resume, seed, progress, device)
    finally:
        if world > 1:
            dist.destroy_process_group()


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)


def _train(rank, world, images, run, out_dir, resume, seed, progress, device):
    cfg = run.train
    model = build_vdvae(run.model, seed=seed).to(device)
    ema = EMA(model, cfg.ema_decay)
    optimizer = make_optimizer(cfg, model.parameters())
    guard = UpdateGuard(cfg.skip_factor, cfg.skip_window, cfg.skip_min_history)
    plateau = Plateau(cfg.plateau_factor, cfg.plateau_patience, cfg.plateau_threshold)
    state = _State()
    ckpt_dir = out_dir / CHECKPOINT_DIR
    if resume and (ckpt_dir / CHECKPOINT_JSON).is_file():
        meta = load_training_state(ckpt_dir, model, ema, optimizer)
        guard.load_state_dict(meta["guard"])
        plateau.load_state_dict(meta["plateau"])
        state = _State(meta["epoch"], meta["step"], meta["history"])
    train_idx, valid_idx = split_indices(len(images), cfg, seed)
    columns = _metric_columns(model)
    log = MetricsLog(out_dir / METRICS_CSV, columns)
    if rank == 0:
        log.keep_through(state.epoch)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        row = _train_epoch(rank, world, net, model, ema, optimizer, guard, plateau, state,
                           images, train_idx, run, seed, epoch, progress, device)
        val = _validate(rank, world, ema.model, images[valid_idx], cfg, seed, device)
        plateau.step(val["loss"])
        row.update(_val_columns(val, model.layer_names))
        state.epoch = epoch
        state.history.append(row)
        if rank == 0:
            _save_epoch(out_dir, model, ema, optimizer, guard, plateau, state, run, seed)
            log.append(row)
        if world > 1:
            dist.barrier()
    _finish(rank, world, out_dir, model, state, guard, valid_idx)


def _train_epoch(rank, world, net, model, ema, optimizer, guard, plateau, state, images,
                 train_idx, run, seed, epoch, progress, device) -> dict:
    cfg = run.train
    torch.manual_seed(_epoch_seed(seed, epoch, rank))
    order = np.random.default_rng([seed, epoch]).permutation(train_idx)
    aug_rng = np.random.default_rng([seed, epoch, rank, 1])
    per_rank = max(1, cfg.batch_size // world)
    n_steps = len(order) // (per_rank * world)
    if n_steps == 0:
        raise ValueError(f"{len(order)} training images is less than one batch of {per_rank * world}")
    sums = _Sums(len(model.layer_names))
    skipped_before = guard.skipped
    bar = tqdm(total=n_steps, desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress or rank != 0,
               leave=False, dynamic_ncols=True)
    started = time.perf_counter()
    model.train()
    for i in range(n_steps):
        chunk = order[(i * world + rank) * per_rank:(i * world + rank + 1) * per_rank]
        x = _to_tensor(images[chunk], device)
        if cfg.augment:
            x = augment(x, aug_rng)
        stats, grad_norm = _step(net, model, ema, optimizer, guard, plateau, state, x, run, world)
        sums.add(stats, grad_norm)
        bar.update(1)
        bar.set_postfix(loss=f"{stats[0]:.1f}", skipped=guard.skipped)
    bar.close()
    elapsed = time.perf_counter() - started
    row = sums.row(epoch, model.layer_names, run.model.image_size ** 2)
    row.update(step=state.step, skipped=guard.skipped - skipped_before, skipped_total=guard.skipped,
               lr=learning_rate(cfg, state.step, plateau), beta=kl_weight(cfg, state.step),
               images_per_s=n_steps * per_rank * world / elapsed)
    return row


def _step(net, model, ema, optimizer, guard, plateau, state, x, run, world):
    """One optimisation step; returns (globally averaged stats, grad norm)."""
    cfg = run.train
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(cfg, state.step, plateau)
    out = net(x)
    objective = vdvae_objective(out, run, state.step)
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
    stats = torch.cat([torch.stack([out["loss"], out["recon"], out["kl"], out["aux_recon"],
                                    objective]), out["kl_per_layer"]]).detach()
    if world > 1:
        # Averaged so every rank sees the same loss and makes the same skip decision.
        dist.all_reduce(stats)
        stats /= world
    stats = stats.cpu().numpy()
    if guard.accept(float(stats[0]), grad_norm):
        optimizer.step()
        ema.update(model, state.step)
    state.step += 1
    return stats, grad_norm


class _Sums:
    """Running means of the per-step stats over the finite steps of an epoch."""

    def __init__(self, n_layers: int):
        self.total = np.zeros(5 + n_layers)
        self.grad = 0.0
        self.count = 0

    def add(self, stats: np.ndarray, grad_norm: float) -> None:
        if np.all(np.isfinite(stats)) and math.isfinite(grad_norm):
            self.total += stats
            self.grad += grad_norm
            self.count += 1

    def row(self, epoch: int, names: list[str], pixels: int) -> dict:
        mean = self.total / max(1, self.count)
        row = {"epoch": epoch, "loss": mean[0], "recon": mean[1], "kl": mean[2],
               "aux_recon": mean[3], "objective": mean[4],
               "bits_per_dim": mean[0] / (pixels * math.log(2.0)),
               "grad_norm": self.grad / max(1, self.count)}
        row.update({f"kl_{name}": mean[5 + i] for i, name in enumerate(names)})
        return row


def _validate(rank, world, ema_model, valid_images, cfg, seed, device) -> dict:
    """Rank 0 evaluates; the loss is broadcast so every rank's plateau steps alike."""
    result = evaluate(ema_model, valid_images, cfg, seed, device) if rank == 0 else {}
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


def _save_epoch(out_dir, model, ema, optimizer, guard, plateau, state, run, seed) -> None:
    extra = {"config": dataclasses.asdict(run), "seed": seed, "epoch": state.epoch,
             "step": state.step, "guard": guard.state_dict(), "plateau": plateau.state_dict(),
             "skipped_total": guard.skipped, "history": _plain(state.history)}
    save_training_state(out_dir / CHECKPOINT_DIR, model, ema, optimizer, extra)
    save_model(out_dir / MODEL_DIR, ema.model, extra={"epoch": state.epoch, "seed": seed,
                                                       "run_config": run.name})


def _finish(rank, world, out_dir, model, state, guard, valid_idx) -> None:
    checksum = weight_checksum(model)
    checksums = [checksum]
    if world > 1:
        checksums = [None] * world
        dist.all_gather_object(checksums, checksum)
    if rank != 0:
        return
    val_losses = [row["val_loss"] for row in state.history]
    result = TrainResult(
        out_dir=str(out_dir), model_dir=str(out_dir / MODEL_DIR), epochs_completed=state.epoch,
        steps=state.step, skipped_total=guard.skipped,
        best_val_loss=min(val_losses) if val_losses else math.nan,
        final_val_loss=val_losses[-1] if val_losses else math.nan,
        history=_plain(state.history), weight_checksums=checksums,
        valid_indices=[int(i) for i in valid_idx])
    write_text(out_dir / RESULT_JSON, json.dumps(dataclasses.asdict(result), indent=1))


def _plain(rows: list[dict]) -> list[dict]:
    """Rows with numpy scalars turned into Python numbers (for JSON)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]
