"""The SSL recipe: SimCLR / BYOL / SimSiam. Two augmented views per image, the method's
loss, BYOL's target update after each accepted step, a cosine (or constant, or plateau)
lr, and the online backbone (or its EMA, if configured) exported for embedding."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from radiolatent.config import SSLRunConfig, check_ssl_config
from radiolatent.data.ssl_views import two_views
from radiolatent.models.checkpoint import save_model
from radiolatent.training.parts import EMA, Plateau, make_optimizer, scheduled_lr, to_tensor
from radiolatent.training.recipes import Batch, StepOutput

if TYPE_CHECKING:  # lightly and torchvision load only for SSL runs (seconds a process under torchrun)
    from radiolatent.models.ssl import SSLModel


@torch.no_grad()
def evaluate_ssl(
    model: SSLModel, images: np.ndarray, run: SSLRunConfig, seed: int, device: torch.device
) -> dict[str, float]:
    """Validation: the loss on two fixed-seed views of each image (the same views every
    epoch, so epochs compare), and the spread of the clean images' features."""
    from radiolatent.models.ssl import feature_spread

    model.eval()
    rng = np.random.default_rng([seed, 0xE7A1])
    total, n, features = 0.0, 0, []
    for start in range(0, len(images), run.train.eval_batch_size):
        x = to_tensor(images[start : start + run.train.eval_batch_size], device)
        total += model(*two_views(x, rng, run.views))["loss"].item() * len(x)
        n += len(x)
        features.append(model.backbone(x).cpu())
    return {"loss": total / n, "feature_spread": float(feature_spread(torch.cat(features)))}


class SSLRecipe:
    """SimCLR / BYOL / SimSiam: two views per image, the method's loss, the online
    backbone (or its EMA, if configured) exported for embedding."""

    config_class = SSLRunConfig

    def __init__(self, run: SSLRunConfig) -> None:
        self.run, self.cfg = check_ssl_config(run), run.train
        self.kind = run.model.method

    @property
    def image_size(self) -> int:
        return self.run.model.image_size

    def build(self, seed: int) -> SSLModel:
        from radiolatent.models.ssl import build_ssl

        return build_ssl(self.run.model, seed=seed)

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        # Biases and norm parameters get no weight decay (and so no LARS scaling).
        trainable = [p for p in model.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [
            {"params": [p for p in trainable if p.ndim > 1]},
            {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0},
        ]
        return make_optimizer(self.cfg, groups)

    def inputs(self, x: torch.Tensor, rows: np.ndarray, rng: np.random.Generator) -> Batch:
        return two_views(x, rng, self.run.views)

    def objective(self, net: torch.nn.Module, batch: Batch, step: int) -> StepOutput:
        out = net(*batch)
        stats = {name: out[name].detach() for name in ("loss", "feature_spread", "projection_spread")}
        return StepOutput(out["loss"], stats)

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float:
        return scheduled_lr(self.cfg, self.cfg.lr_schedule, step, plateau, total_steps)

    def after_update(self, model: torch.nn.Module, step: int, total_steps: int) -> None:
        _ssl(model).update_target(step, total_steps)

    def schedule_row(self, step: int, total_steps: int) -> dict[str, float]:
        if self.kind != "byol":
            return {}
        from radiolatent.models.ssl import target_momentum

        return {"momentum": target_momentum(self.run.model, step, total_steps)}

    def train_row(
        self, epoch: int, means: dict[str, float], grad_norm: float, model: torch.nn.Module
    ) -> dict[str, float]:
        return {
            "epoch": epoch,
            "loss": means["loss"],
            "feature_spread": means["feature_spread"],
            "projection_spread": means["projection_spread"],
            "grad_norm": grad_norm,
        }

    def columns(self, model: torch.nn.Module) -> list[str]:
        momentum = ["momentum"] if self.kind == "byol" else []
        return [
            *["epoch", "step", "loss", "feature_spread", "projection_spread", "grad_norm", "skipped"],
            *["skipped_total", "lr", *momentum, "images_per_s", "val_loss", "val_feature_spread"],
        ]

    def evaluate(
        self, model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, seed: int, device: torch.device
    ) -> dict[str, Any]:
        return evaluate_ssl(_ssl(model), images, self.run, seed, device)

    def val_row(self, val: dict[str, Any], model: torch.nn.Module) -> dict[str, float]:
        return {"val_loss": val["loss"], "val_feature_spread": val["feature_spread"]}

    def export(self, directory: Path, model: torch.nn.Module, ema: EMA | None, extra: dict[str, Any]) -> None:
        backbone = _ssl(ema.model if ema is not None else model).backbone
        save_model(directory, backbone, kind=self.kind, extra=extra, half=self.cfg.export_half)


def _ssl(model: torch.nn.Module) -> SSLModel:
    from radiolatent.models.ssl import SSLModel

    if not isinstance(model, SSLModel):
        raise TypeError(f"the SSL recipe got a {type(model).__name__}")
    return model
