"""The training loop of one process, for any recipe (`recipes.Recipe`).

Reproducibility: every epoch reseeds torch and numpy from (seed, epoch, rank), so a run
resumed from the checkpoint after epoch k replays epochs k+1.. exactly as an
uninterrupted run would (checkpoints hold model, EMA, optimiser, plateau, guard, step).
A kill mid-epoch loses at most that epoch.

Data parallelism: with `world` > 1 the model is wrapped in DistributedDataParallel (with
synchronised batch norm on GPUs); `batch_size` is the global batch and each rank takes
its own rank-strided share of every batch. Step statistics are averaged over the ranks,
so every rank makes the same skip decision. Rank 0 validates, writes checkpoints and
metrics, and prints; the others wait at a barrier.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_text
from radiolatent.training.parts import (
    EMA,
    MetricsLog,
    Plateau,
    UpdateGuard,
    autocast,
    resolved_precision,
    to_tensor,
    validation_split,
    weight_checksum,
)
from radiolatent.training.recipes import Batch, Recipe
from radiolatent.training.state import (
    CHECKPOINT_DIR,
    CHECKPOINT_JSON,
    METRICS_CSV,
    MODEL_DIR,
    RESULT_JSON,
    TrainResult,
    load_training_state,
    plain_rows,
    resume_note,
    save_training_state,
)


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    """What every step of a run uses (built once in `train_process`)."""

    recipe: Recipe
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


def train_process(
    rank: int,
    world: int,
    images: np.ndarray,
    recipe: Recipe,
    out_dir: Path,
    resume: bool,
    seed: int,
    progress: bool,
    device: torch.device,
    stop_after: int | None,
) -> TrainResult:
    """Train `recipe`'s model as process `rank` of `world` (joined already when > 1)."""
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
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
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
        note = resume_note(meta, world, device, precision)
        if note and rank == 0:
            print(note, flush=True)
    if world > 1:
        _check_same_start(out_dir, state)
    train_idx, valid_idx = validation_split(len(images), cfg, seed, getattr(recipe, "strata", None))
    # before metrics.csv is started: a batch larger than the data must leave nothing behind
    total_steps = cfg.epochs * _steps_per_epoch(len(train_idx) * cfg.passes, cfg.batch_size, world)
    log = MetricsLog(out_dir / METRICS_CSV, recipe.columns(model))
    if rank == 0:
        log.keep_through(state.epoch)
    net = model
    if world > 1:
        on_gpu = [device.index] if device.type == "cuda" else None  # one GPU per process
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=on_gpu)
    run = _Run(recipe, net, model, ema, optimizer, guard, plateau, state, world, total_steps, device, precision)
    eval_model = ema.model if ema is not None else model
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(state.epoch + 1, last + 1):
        if cfg.patience > 0 and state.epoch - best_epoch(state.history, cfg.monitor) >= cfg.patience:
            break  # early stopping: `patience` epochs without a better validation value
        row = _train_epoch(rank, run, images, train_idx, seed, epoch, progress)
        if world > 1:
            _sync_buffers(model)
        val = _validate(rank, world, recipe, eval_model, images, valid_idx, seed, device)
        plateau.step(val["loss"])
        row.update(recipe.val_row(val, model))
        state.epoch = epoch
        state.history.append(row)
        if rank == 0:
            # with early stopping the exported model is the best epoch's; else the last one's
            _save_epoch(out_dir, run, seed, export=cfg.patience == 0 or best_epoch(state.history, cfg.monitor) == epoch)
            log.append(row)
        if world > 1:
            dist.barrier()
    return _finish(rank, world, out_dir, model, state, guard, valid_idx)


def best_epoch(history: list[dict[str, Any]], monitor: str = "val_loss") -> int:
    """The best epoch by `monitor` (LoopConfig.monitor): the lowest finite validation loss,
    or the highest validation ROC-AUC (ties: the lower loss); the first on ties; 0 if none."""
    finite = [row for row in history if math.isfinite(row["val_loss"]) and math.isfinite(row.get(monitor, math.nan))]
    if not finite:
        return 0
    if monitor == "val_loss":
        return int(min(finite, key=lambda row: (row["val_loss"], row["epoch"]))["epoch"])
    return int(min(finite, key=lambda row: (-row[monitor], row["val_loss"], row["epoch"]))["epoch"])


def _check_same_start(out_dir: Path, state: _State) -> None:
    """Every process reads the checkpoint on --resume: refuse, on every rank alike, when
    they found different ones (a run folder on storage that not every machine sees)."""
    starts: list[tuple[int, int] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(starts, (state.epoch, state.step))
    if len(set(starts)) > 1:
        epochs = ", ".join(str(start[0]) for start in starts if start is not None)
        raise InputError(
            out_dir,
            f"the processes found different checkpoints (epochs {epochs} by rank): "
            "put {out} on storage that every machine sees",
            ("out",),
        )


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
        raise InputError(
            "train.batch_size",
            f"a batch of {per_rank * world} is more than the {n_train} training images; set a smaller batch_size",
        )
    return n_steps


def _train_epoch(
    rank: int, run: _Run, images: np.ndarray, train_idx: np.ndarray, seed: int, epoch: int, progress: bool
) -> dict[str, Any]:
    recipe, world, state = run.recipe, run.world, run.state
    cfg = recipe.cfg
    torch.manual_seed(_epoch_seed(seed, epoch, rank))
    order = _epoch_order(train_idx, seed, epoch, cfg.passes)
    aug_rng = np.random.default_rng([seed, epoch, rank, 1])
    per_rank = max(1, cfg.batch_size // world)
    n_steps = _steps_per_epoch(len(order), cfg.batch_size, world)
    sums = _Sums()
    skipped_before = run.guard.skipped
    bar = tqdm(
        total=n_steps,
        desc=f"epoch {epoch}/{cfg.epochs}",
        disable=not progress or rank != 0,
        leave=False,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    run.model.train()
    for i in range(n_steps):
        chunk = order[(i * world + rank) * per_rank : (i * world + rank + 1) * per_rank]
        batch = recipe.inputs(to_tensor(images[chunk], run.device), chunk, aug_rng)
        stats, grad_norm = _step(run, batch)
        sums.add(stats, grad_norm)
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.4g}", skipped=run.guard.skipped)
    bar.close()
    elapsed = time.perf_counter() - started
    means, mean_grad_norm = sums.means()
    row: dict[str, Any] = dict(recipe.train_row(epoch, means, mean_grad_norm, run.model))
    row.update(
        step=state.step,
        skipped=run.guard.skipped - skipped_before,
        skipped_total=run.guard.skipped,
        lr=_first(recipe.learning_rate(state.step, run.plateau, run.total_steps)),
    )
    row.update(recipe.schedule_row(state.step, run.total_steps))
    row["images_per_s"] = n_steps * per_rank * world / elapsed
    return row


def _first(lr: float | list[float]) -> float:
    """The lr logged: the first parameter group's (a fine-tuned classifier's head)."""
    return lr[0] if isinstance(lr, list) else lr


def _epoch_order(train_idx: np.ndarray, seed: int, epoch: int, passes: int) -> np.ndarray:
    """The training rows of one epoch: `passes` shuffles of them, one after the other."""
    shuffles = [np.random.default_rng([seed, epoch, *([p] if p else [])]).permutation(train_idx) for p in range(passes)]
    return np.concatenate(shuffles)


def _step(run: _Run, batch: Batch) -> tuple[dict[str, float], float]:
    """One optimisation step; returns (the stats by name, averaged over ranks; grad norm)."""
    recipe, state = run.recipe, run.state
    lr = recipe.learning_rate(state.step, run.plateau, run.total_steps)
    lrs = lr if isinstance(lr, list) else [lr] * len(run.optimizer.param_groups)
    for group, group_lr in zip(run.optimizer.param_groups, lrs, strict=True):
        group["lr"] = group_lr
    with autocast(run.device, run.precision):
        out = recipe.objective(run.net, batch, state.step)
    # One tensor, so the ranks average every statistic in one call.
    stacked = torch.stack(list(out.stats.values())).float()
    run.optimizer.zero_grad(set_to_none=True)
    out.objective.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
    grad_norm = float(torch.nn.utils.clip_grad_norm_(run.model.parameters(), recipe.cfg.grad_clip))
    if run.world > 1:
        # Averaged so every rank sees the same loss and makes the same skip decision.
        dist.all_reduce(stacked)
        stacked /= run.world
    stats = dict(zip(out.stats, stacked.cpu().tolist()))
    if run.guard.accept(stats["loss"], grad_norm):
        run.optimizer.step()
        if run.ema is not None:
            run.ema.update(run.model, state.step)
        recipe.after_update(run.model, state.step, run.total_steps)
    state.step += 1
    return stats, grad_norm


class _Sums:
    """Running means of the per-step stats over the finite steps of an epoch."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.grad = 0.0
        self.count = 0

    def add(self, stats: dict[str, float], grad_norm: float) -> None:
        for name in stats:
            self.total.setdefault(name, 0.0)
        if all(math.isfinite(v) for v in stats.values()) and math.isfinite(grad_norm):
            for name, value in stats.items():
                self.total[name] += value
            self.grad += grad_norm
            self.count += 1

    def means(self) -> tuple[dict[str, float], float]:
        n = max(1, self.count)
        return {name: total / n for name, total in self.total.items()}, self.grad / n


def _validate(
    rank: int,
    world: int,
    recipe: Recipe,
    eval_model: torch.nn.Module,
    images: np.ndarray,
    valid_idx: np.ndarray,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Rank 0 evaluates; the result is broadcast so every rank's plateau steps alike."""
    result = recipe.evaluate(eval_model, images[valid_idx], valid_idx, seed, device) if rank == 0 else {}
    if world > 1:
        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.default_rng([seed, epoch, rank]).integers(0, 2**62))


def _save_epoch(out_dir: Path, run: _Run, seed: int, export: bool) -> None:
    recipe, state, guard = run.recipe, run.state, run.guard
    extra = {
        "kind": recipe.kind,
        "config": dataclasses.asdict(recipe.run),
        "seed": seed,
        "epoch": state.epoch,
        "step": state.step,
        "guard": guard.state_dict(),
        "plateau": run.plateau.state_dict(),
        "skipped_total": guard.skipped,
        "history": plain_rows(state.history),
        "world_size": run.world,
        "device": run.device.type,
        "precision": run.precision,
    }
    save_training_state(out_dir / CHECKPOINT_DIR, run.model, run.ema, run.optimizer, extra)
    if not export:
        return
    recipe.export(
        out_dir / MODEL_DIR, run.model, run.ema, {"epoch": state.epoch, "seed": seed, "run_config": recipe.run.name}
    )


def _finish(
    rank: int,
    world: int,
    out_dir: Path,
    model: torch.nn.Module,
    state: _State,
    guard: UpdateGuard,
    valid_idx: np.ndarray,
) -> TrainResult:
    checksum = weight_checksum(model)
    checksums: list[str | None] = [checksum]
    if world > 1:
        checksums = [None] * world
        dist.all_gather_object(checksums, checksum)
    val_losses = [row["val_loss"] for row in state.history]
    result = TrainResult(
        out_dir=str(out_dir),
        model_dir=str(out_dir / MODEL_DIR),
        epochs_completed=state.epoch,
        steps=state.step,
        skipped_total=guard.skipped,
        best_val_loss=min(val_losses) if val_losses else math.nan,
        final_val_loss=val_losses[-1] if val_losses else math.nan,
        history=plain_rows(state.history),
        weight_checksums=[str(c) for c in checksums],
        valid_indices=[int(i) for i in valid_idx],
    )
    if rank == 0:
        write_text(out_dir / RESULT_JSON, json.dumps(dataclasses.asdict(result), indent=1))
    if world > 1:
        dist.barrier()
    return result
