"""A run's folder: the checkpoint (`save_training_state` / `load_training_state`), the
metrics and result files, and the checks made before a run resumes from it.

    out_dir/checkpoint/state.json + state-<sha>.safetensors   model, EMA, optimiser, RNG; JSON rest
    out_dir/model/                                            the exported model (`load_model`)
    out_dir/metrics.csv                                       one row per epoch
    out_dir/result.json                                       the `TrainResult`
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiolatent.config import dataclass_from_dict
from radiolatent.core.errors import InputError
from radiolatent.models.checkpoint import flatten_state, load_pair, save_pair, unflatten_state
from radiolatent.training.parts import EMA
from radiolatent.training.recipes import Recipe, RunConfig

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_JSON = "state.json"
CHECKPOINT_STEM = "state"
METRICS_CSV = "metrics.csv"
RESULT_JSON = "result.json"
MODEL_DIR = "model"

#: settings that say where a run computes, not what: a run may resume with other values.
PLACE_SETTINGS = ("device", "backend", "threads")


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
    history: list[dict[str, Any]] = field(default_factory=list)
    weight_checksums: list[str] = field(default_factory=list)
    valid_indices: list[int] = field(default_factory=list)


def save_training_state(
    directory: Path, model: torch.nn.Module, ema: EMA | None, optimizer: torch.optim.Optimizer, extra: dict[str, Any]
) -> None:
    """Atomic checkpoint: weights, EMA (if any) and optimiser tensors in safetensors, the rest JSON."""
    tensors: dict[str, torch.Tensor] = {}
    flatten_state(model.state_dict(), tensors, "model")
    if ema is not None:
        flatten_state(ema.model.state_dict(), tensors, "ema")
    optim_skeleton = flatten_state(optimizer.state_dict(), tensors, "optim")
    rng_skeleton = flatten_state({"torch": torch.get_rng_state()}, tensors, "rng")
    meta = dict(extra, optimizer=optim_skeleton, rng=rng_skeleton)
    save_pair(directory, CHECKPOINT_JSON, CHECKPOINT_STEM, tensors, meta)


def load_training_state(
    directory: Path, model: torch.nn.Module, ema: EMA | None, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
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
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_resume(out_dir: Path, recipe: Recipe, seed: int, resume: bool) -> None:
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
    if _what_it_trains(saved) != _what_it_trains(recipe.run) or meta.get("seed") != seed:
        raise InputError(state_json, "checkpoint was made with another config or seed")


def _what_it_trains(run: RunConfig) -> dict[str, Any]:
    """The run config without the settings a resume may change: the epochs and the place."""
    settings = dataclasses.asdict(run)
    settings["train"] = {k: v for k, v in settings["train"].items() if k not in ("epochs", *PLACE_SETTINGS)}
    return settings


def resume_note(meta: dict[str, Any], world: int, device: torch.device, precision: str) -> str | None:
    """One line when a run resumes on another number of processes, device or precision."""
    before = (meta.get("world_size", 1), meta.get("device", "cpu"), meta.get("precision", "fp32"))
    now = (world, device.type, precision)
    if before == now:
        return None
    return (
        f"note: resuming a run checkpointed with {before[0]} process(es) on {before[1]} in {before[2]} "
        f"with {now[0]} on {now[1]} in {now[2]}: the same global batches and schedules continue, "
        "but not bit for bit as the uninterrupted run would (augmentations and latent samples "
        "are drawn per process; sums are taken in another order)"
    )


def plain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with numpy scalars turned into Python numbers (for JSON)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]
