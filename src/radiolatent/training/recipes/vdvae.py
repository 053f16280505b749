"""The VDVAE recipe: the ELBO objective (free bits, a KL weight schedule, the auxiliary
decoder), dihedral augmentation, the plateau lr, and the EMA model exported."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from radiolatent.config import TrainConfig, VDVAERunConfig
from radiolatent.models.checkpoint import save_model
from radiolatent.models.vdvae import VDVAE, build_vdvae
from radiolatent.training.parts import EMA, Plateau, make_optimizer, random_flips_and_turns, scheduled_lr, to_tensor
from radiolatent.training.recipes import Batch, StepOutput

#: the step statistics besides the KL of each layer (`kl_<layer name>`), in logged order.
STATS = ("loss", "recon", "kl", "aux_recon", "objective")


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


def vdvae_objective(out: dict[str, torch.Tensor], run: VDVAERunConfig, step: int) -> torch.Tensor:
    """What is minimised: (recon + beta x free-bits KL + aux) per pixel (image-size free)."""
    cfg = run.train
    kl = out["kl_per_layer"]
    floors = torch.full_like(kl, cfg.free_bits)
    floors[0] = cfg.free_bits_top
    kl_term = torch.maximum(kl, floors).sum()
    total = out["recon"] + kl_weight(cfg, step) * kl_term + run.model.aux_weight * out["aux_recon"]
    return total / (run.model.image_size**2)


@torch.no_grad()
def evaluate(model: VDVAE, images: np.ndarray, cfg: TrainConfig, seed: int, device: torch.device) -> dict[str, Any]:
    """Validation: negative ELBO (nats/image; one posterior sample with a fixed seed),
    KL per layer, and z0 active units (posterior-mean variance > active_threshold)."""
    model.eval()
    sums: dict[str, Any] = {}
    n, means = 0, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(images), cfg.eval_batch_size):
            x = to_tensor(images[start : start + cfg.eval_batch_size], device)
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


class VDVAERecipe:
    """The VDVAE: ELBO objective, dihedral augmentation, plateau lr, the EMA exported."""

    kind = "vdvae"
    config_class = VDVAERunConfig

    def __init__(self, run: VDVAERunConfig) -> None:
        self.run, self.cfg = run, run.train

    @property
    def image_size(self) -> int:
        return self.run.model.image_size

    def build(self, seed: int) -> VDVAE:
        return build_vdvae(self.run.model, seed=seed)

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(self.cfg, model.parameters())

    def inputs(self, x: torch.Tensor, rows: np.ndarray, rng: np.random.Generator) -> Batch:
        return (random_flips_and_turns(x, rng) if self.cfg.flips_and_turns else x,)

    def objective(self, net: torch.nn.Module, batch: Batch, step: int) -> StepOutput:
        out = net(*batch)
        objective = vdvae_objective(out, self.run, step)
        stats = dict(zip(STATS, (out["loss"], out["recon"], out["kl"], out["aux_recon"], objective)))
        names = _vdvae(net.module if isinstance(net, DistributedDataParallel) else net).layer_names
        stats.update({f"kl_{name}": kl for name, kl in zip(names, out["kl_per_layer"])})
        return StepOutput(objective, {name: value.detach() for name, value in stats.items()})

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float:
        return scheduled_lr(self.cfg, "plateau", step, plateau, total_steps)

    def after_update(self, model: torch.nn.Module, step: int, total_steps: int) -> None:
        """Nothing beyond the optimiser and EMA steps."""

    def schedule_row(self, step: int, total_steps: int) -> dict[str, float]:
        return {"beta": kl_weight(self.cfg, step)}

    def train_row(
        self, epoch: int, means: dict[str, float], grad_norm: float, model: torch.nn.Module
    ) -> dict[str, float]:
        row = {"epoch": epoch, **{name: means[name] for name in STATS}}
        row["bits_per_dim"] = means["loss"] / (self.image_size**2 * math.log(2.0))
        row["grad_norm"] = grad_norm
        row.update({f"kl_{name}": means[f"kl_{name}"] for name in _vdvae(model).layer_names})
        return row

    def columns(self, model: torch.nn.Module) -> list[str]:
        names = _vdvae(model).layer_names
        return (
            ["epoch", "step", "loss", "recon", "kl", "bits_per_dim", "objective", "aux_recon", "beta"]
            + [f"kl_{n}" for n in names]
            + ["z0_active", "grad_norm", "skipped", "skipped_total", "lr", "images_per_s"]
            + ["val_loss", "val_recon", "val_kl", "val_bits_per_dim"]
            + [f"val_kl_{n}" for n in names]
        )

    def evaluate(
        self, model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, seed: int, device: torch.device
    ) -> dict[str, Any]:
        return evaluate(_vdvae(model), images, self.cfg, seed, device)

    def val_row(self, val: dict[str, Any], model: torch.nn.Module) -> dict[str, float]:
        row = {
            "val_loss": val["loss"],
            "val_recon": val["recon"],
            "val_kl": val["kl"],
            "val_bits_per_dim": val["bits_per_dim"],
            "z0_active": val["z0_active"],
        }
        row.update({f"val_kl_{n}": float(v) for n, v in zip(_vdvae(model).layer_names, val["kl_per_layer"])})
        return row

    def export(self, directory: Path, model: torch.nn.Module, ema: EMA | None, extra: dict[str, Any]) -> None:
        save_model(directory, ema.model if ema is not None else model, extra=extra)


def _vdvae(model: torch.nn.Module) -> VDVAE:
    if not isinstance(model, VDVAE):
        raise TypeError(f"the VDVAE recipe got a {type(model).__name__}")
    return model
