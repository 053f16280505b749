"""A recipe: what the shared training loop (`training/loop.py`) needs to know about one
kind of model. `VDVAERecipe` (recipes/vdvae.py), `SSLRecipe` (recipes/ssl.py),
`DistilRecipe` (recipes/distil.py: a VDVAE's single-pass z0 from its 8-view codes) and
`FinetuneRecipe` (recipes/finetune.py: a pretrained encoder and a head trained on labels)
are the four there are; a new kind of model is a new class with the members below. It
need not subclass anything: `Recipe` is a `typing.Protocol`, and mypy checks the class
against it where it is passed to `training.train`.

What the loop does with a recipe, per process (under DDP every process has its own copy):

    model = recipe.build(seed)                  # once, then moved to the device
    optimizer = recipe.optimizer(model)
    for each epoch, for each batch of uint8 images (their indices `rows` into the pool):
        batch = recipe.inputs(x, rows, rng)     # x: float (B, 1, H, W) in [0, 1]
        lr = recipe.learning_rate(step, plateau, total_steps)
        out = recipe.objective(net, batch, step)    # under autocast; net may be DDP-wrapped
        out.objective.backward(); clip; guard on out.stats["loss"]; optimizer step; EMA
        recipe.after_update(model, step, total_steps)   # accepted updates only
    row = recipe.train_row(epoch, mean stats, mean grad norm, model)
          + step, skipped, lr + recipe.schedule_row(step, total_steps) + images_per_s
    val = recipe.evaluate(eval model, valid images, valid rows, seed, device)   # rank 0
    plateau.step(val["loss"]); row += recipe.val_row(val, model)
    recipe.export(out_dir / "model", model, ema, extra)    # rank 0, every epoch (with
        # train.patience > 0: only on a new lowest val_loss; the run ends `patience`
        # epochs after the last one)

Members and what each must return:

- `kind` (str): the run's kind, saved in checkpoints; a resume of another kind is refused.
- `run`: the whole run config (a frozen dataclass with `name` and `train`); saved in the
  checkpoint and compared on resume. `config_class`: its class (to read it back).
- `cfg`: `run.train`, the loop's settings (`config.LoopConfig`: epochs, batch size,
  optimiser, lr warm-up, plateau, clipping, skip guard, EMA, validation split, device).
- `image_size` (int): the side of the square images the model takes.
- `strata` (optional): a class per pool image, to stratify the validation split by (a
  recipe with labels); without it, or None, the split is plain random.
- `build(seed)`: a new model (a `torch.nn.Module`), initialised from `seed`.
- `optimizer(model)`: a `torch.optim.Optimizer` over the model's trainable parameters.
- `inputs(x, rows, rng)`: the batch as a tuple of tensors for `objective` (the VDVAE's
  `(augmented x,)`, SSL's two views). `rows` are the images' indices in the pool (a
  recipe with labels looks them up there); `rng` is the only randomness to use.
- `objective(net, batch, step)`: a `StepOutput`: the scalar to minimise, and the step's
  statistics by name (0-d tensors, detached; "loss" is required: the skip guard and
  the progress bar read it). Every step must give the same names, in the same order.
- `learning_rate(step, plateau, total_steps)`: the lr at `step` (float), or one per
  parameter group of `optimizer` (a list: a fine-tuned encoder learns slower than its head).
- `after_update(model, step, total_steps)`: anything after an accepted update (BYOL's
  target network), else nothing.
- `schedule_row(step, total_steps)`: extra schedule values for the epoch's row
  (`{"beta": ...}`), possibly `{}`.
- `train_row(epoch, means, grad_norm, model)`: the epoch's training columns from the
  statistics' means over its finite steps (`means` has the names `objective` gave).
- `columns(model)`: the metrics CSV's columns, in order (row keys outside are dropped).
- `evaluate(model, images, rows, seed, device)`: validation results by name; must hold
  "loss" (the plateau steps on it). The same seed must give the same result.
- `val_row(val, model)`: the epoch's validation columns; must hold "val_loss".
- `export(directory, model, ema, extra)`: write the model that users load (`load_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from radiolatent.config import LoopConfig, SSLRunConfig, VDVAERunConfig
from radiolatent.config.distil import DistilRunConfig
from radiolatent.config.finetune import FinetuneRunConfig
from radiolatent.training.parts import EMA, Plateau

#: the run configs a recipe may hold (a new recipe adds its own here).
RunConfig = VDVAERunConfig | SSLRunConfig | DistilRunConfig | FinetuneRunConfig
#: what `inputs` gives and `objective` takes.
Batch = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class StepOutput:
    """One step's result: what is minimised, and the statistics logged, by name."""

    objective: torch.Tensor
    #: 0-d detached tensors; "loss" is required.
    stats: dict[str, torch.Tensor]


class Recipe(Protocol):
    """What the shared loop needs from one kind of model (see the module docstring)."""

    @property
    def kind(self) -> str: ...

    @property
    def run(self) -> RunConfig: ...

    @property
    def config_class(self) -> type[RunConfig]: ...

    @property
    def cfg(self) -> LoopConfig: ...

    @property
    def image_size(self) -> int: ...

    def build(self, seed: int) -> torch.nn.Module: ...

    def optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer: ...

    def inputs(self, x: torch.Tensor, rows: np.ndarray, rng: np.random.Generator) -> Batch: ...

    def objective(self, net: torch.nn.Module, batch: Batch, step: int) -> StepOutput: ...

    def learning_rate(self, step: int, plateau: Plateau, total_steps: int) -> float | list[float]: ...

    def after_update(self, model: torch.nn.Module, step: int, total_steps: int) -> None: ...

    def schedule_row(self, step: int, total_steps: int) -> dict[str, float]: ...

    def train_row(
        self, epoch: int, means: dict[str, float], grad_norm: float, model: torch.nn.Module
    ) -> dict[str, float]: ...

    def columns(self, model: torch.nn.Module) -> list[str]: ...

    def evaluate(
        self, model: torch.nn.Module, images: np.ndarray, rows: np.ndarray, seed: int, device: torch.device
    ) -> dict[str, Any]: ...

    def val_row(self, val: dict[str, Any], model: torch.nn.Module) -> dict[str, float]: ...

    def export(self, directory: Path, model: torch.nn.Module, ema: EMA | None, extra: dict[str, Any]) -> None: ...
