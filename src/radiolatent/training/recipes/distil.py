"""The distillation recipe: a trained VDVAE's bottom-up path (encoder and z0's posterior
head) learns to give, from one random flip or quarter turn of an image, the z0 code its
teacher gives averaged over all 8 (`embed`'s default). The decoder is the teacher's,
untouched, so the student is a whole VDVAE that `embed`, `reconstruct` and `generate`
load as any other; its single-pass codes are the orientation-averaged ones.

Why: radio sources have no preferred orientation, and the 8-view average of z0 classifies
better than one pass (docs/vdvae.md has the figures), but costs 8 passes. The targets are
computed from each batch's clean images as they arrive and kept by pool row, so each is
computed once per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radiolatent.config.distil import DistilRunConfig
from radiolatent.data.orientations import DIHEDRAL_ORDER, view_mean
from radiolatent.models.checkpoint import MODEL_JSON, load_model, model_dir, read_json, save_model
from radiolatent.models.vdvae import VDVAE, z0_encoder
from radiolatent.training.parts import EMA, Plateau, make_optimizer, random_flips_and_turns, scheduled_lr, to_tensor
from radiolatent.training.recipes import Batch, StepOutput

#: the validation columns: the student's error, and the share of the 8-view codes' variance
#: left unexplained by one pass of the student and of the teacher.
VALID_COLUMNS = ("val_loss", "val_unexplained", "teacher_unexplained")


class Z0Student(nn.Module):
    """A VDVAE whose forward is z0's posterior mean (with gradients); only its bottom-up
    path (encoder, z0's posterior head) trains."""

    def __init__(self, vdvae: VDVAE) -> None:
        super().__init__()
        self.vdvae = vdvae
        trainable = {id(p) for part in (vdvae.encoder, vdvae.top_block.posterior) for p in part.parameters()}
        for p in vdvae.parameters():
            p.requires_grad_(id(p) in trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code: torch.Tensor = self.vdvae.z0_mean(x)
        return code


class DistilRecipe:
    """Single-pass z0 from the 8-view average: squared error to the teacher's averaged code."""

    kind = "distil"
    config_class = DistilRunConfig

    def __init__(self, run: DistilRunConfig) -> None:
        if not run.teacher:
            raise ValueError("distillation needs a teacher: a VDVAE model directory or run folder")
        self.run, self.cfg = run, run.train
        self.teacher_dir = model_dir(run.teacher)
        teacher = load_model(self.teacher_dir)
        if not isinstance(teacher, VDVAE):
            raise ValueError(f"{run.teacher} holds a {type(teacher).__name__}, not a VDVAE")
        self._image_size = teacher.cfg.image_size
        self.teacher = z0_encoder(teacher)
        self.targets: dict[int, torch.Tensor] = {}

    @property
    def image_size(self) -> int:
        return self._image_size

    def build(self, seed: int) -> Z0Student:
        return Z0Student(load_model(self.teacher_dir).train())

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(self.cfg, [p for p in model.parameters() if p.requires_grad])

    def _targets(self, x: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """The teacher's 8-view codes of the clean images `x` (pool rows `rows`)."""
        missing = [i for i, row in enumerate(rows) if int(row) not in self.targets]
        if missing:
            self.teacher.to(x.device)
            views = view_mean(self.teacher, x[missing], len(DIHEDRAL_ORDER))
            for i, code in zip(missing, views):
                self.targets[int(rows[i])] = code.clone().cpu()
        return torch.stack([self.targets[int(row)] for row in rows]).to(x.device)

    def inputs(self, x: torch.Tensor, rows: np.ndarray, rng: np.random.Generator) -> Batch:
        return random_flips_and_turns(x, rng), self._targets(x, rows)

    def objective(self, net: torch.nn.Module, batch: Batch, step: int) -> StepOutput:
        view, target = batch
        loss = ((net(view).float() - target) ** 2).sum(1).mean()
        return StepOutput(loss, {"loss": loss.detach()})

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float:
        return scheduled_lr(self.cfg, self.cfg.lr_schedule, step, plateau, total_steps)

    def after_update(self, model: torch.nn.Module, step: int, total_steps: int) -> None:
        """Nothing beyond the optimiser step."""

    def schedule_row(self, step: int, total_steps: int) -> dict[str, float]:
        return {}

    def train_row(
        self, epoch: int, means: dict[str, float], grad_norm: float, model: torch.nn.Module
    ) -> dict[str, float]:
        return {"epoch": epoch, "loss": means["loss"], "grad_norm": grad_norm}

    def columns(self, model: torch.nn.Module) -> list[str]:
        return ["epoch", "step", "loss", "grad_norm", "skipped", "skipped_total", "lr", "images_per_s", *VALID_COLUMNS]

    @torch.no_grad()
    def evaluate(
        self, model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, seed: int, device: torch.device
    ) -> dict[str, Any]:
        """Single-pass codes of the clean validation images against their 8-view targets:
        the squared error, and the share of the targets' variance left unexplained, for
        the student and (the starting point) the teacher's own single pass."""
        model.eval()
        preds, targets, singles = [], [], []
        for start in range(0, len(images), self.cfg.eval_batch_size):
            x = to_tensor(images[start : start + self.cfg.eval_batch_size], device)
            part = rows[start : start + self.cfg.eval_batch_size]
            targets.append(self._targets(x, part).cpu())
            singles.append(self.teacher(x).float().cpu())  # the teacher's own single pass
            preds.append(model(x).float().cpu())
        pred, target, single = torch.cat(preds), torch.cat(targets), torch.cat(singles)
        spread = ((target - target.mean(0)) ** 2).sum().clamp_min(1e-12)
        return {
            "loss": float(((pred - target) ** 2).sum(1).mean()),
            "unexplained": float(((pred - target) ** 2).sum() / spread),
            "teacher_unexplained": float(((single - target) ** 2).sum() / spread),
        }

    def val_row(self, val: dict[str, Any], model: torch.nn.Module) -> dict[str, float]:
        return {
            "val_loss": val["loss"],
            "val_unexplained": val["unexplained"],
            "teacher_unexplained": val["teacher_unexplained"],
        }

    def export(self, directory: Path, model: torch.nn.Module, ema: EMA | None, extra: dict[str, Any]) -> None:
        student = ema.model if ema is not None else model
        if not isinstance(student, Z0Student):
            raise TypeError(f"the distil recipe got a {type(student).__name__}")
        # the teacher by folder name and weights hash: a path would name this machine's folders
        teacher = {"model": self.teacher_dir.name, "sha256": read_json(self.teacher_dir / MODEL_JSON).get("sha256")}
        save_model(directory, student.vdvae, extra={**extra, "distilled_from": teacher})
