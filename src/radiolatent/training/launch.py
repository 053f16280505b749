"""Where a run starts: `train_vdvae`, `train_ssl` and `train` (any recipe) check their
inputs and the run folder, then run the loop in this process, or in `world_size` local
processes that join a process group as torchrun's would.

Under torchrun every process calls `train` itself and joins the group torchrun describes
(`distributed.process_group`: NCCL on GPUs, gloo on CPUs, one GPU per process). Spawned
local processes open the images from their .npy file (a memory map: nothing large is
pickled).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import torch

from radiolatent.config import SSLRunConfig, VDVAERunConfig
from radiolatent.config.distil import DistilRunConfig
from radiolatent.core import distributed
from radiolatent.core.errors import InputError, SettingError
from radiolatent.training.loop import train_process
from radiolatent.training.recipes import Recipe
from radiolatent.training.recipes.distil import DistilRecipe
from radiolatent.training.recipes.ssl import SSLRecipe
from radiolatent.training.recipes.vdvae import VDVAERecipe
from radiolatent.training.state import RESULT_JSON, TrainResult, check_resume


class TrainOptions(TypedDict, total=False):
    """`train`'s keyword options, which `train_vdvae` and `train_ssl` pass on (defaults: `train`'s)."""

    resume: bool
    seed: int
    world_size: int
    progress: bool
    stop_after: int | None


def train_vdvae(
    images: np.ndarray, config: VDVAERunConfig, out_dir: str | Path, **options: Unpack[TrainOptions]
) -> TrainResult:
    """Train a VDVAE on uint8 images (N, 64, 64); checkpoints and metrics go to out_dir.

    Returns the run summary; the EMA model is in out_dir/model (`load_model`). `options`
    are `train`'s (resume, seed, world_size, progress, stop_after).
    """
    return train(images, VDVAERecipe(config), out_dir, **options)


def train_ssl(
    images: np.ndarray, config: SSLRunConfig, out_dir: str | Path, **options: Unpack[TrainOptions]
) -> TrainResult:
    """Train SimCLR, BYOL or SimSiam (config.model.method) on uint8 images (N, 64, 64).

    Same loop, checkpoints, metrics and resume as `train_vdvae`; out_dir/model holds the
    backbone (`load_model` gives it back; `embedding.get_encoder` embeds with it).
    """
    try:
        recipe = SSLRecipe(config)
    except ValueError as exc:
        raise InputError("config", str(exc)) from None
    return train(images, recipe, out_dir, **options)


def train_distil(
    images: np.ndarray, config: DistilRunConfig, out_dir: str | Path, **options: Unpack[TrainOptions]
) -> TrainResult:
    """Distil `config.teacher`'s 8-view z0 codes into a single-pass encoder, on uint8 images
    (N, 64, 64); out_dir/model holds the student, a whole VDVAE (`load_model`)."""
    try:
        recipe = DistilRecipe(config)
    except ValueError as exc:
        raise SettingError("teacher", str(exc)) from None
    return train(images, recipe, out_dir, **options)


def train(
    images: np.ndarray,
    recipe: Recipe,
    out_dir: str | Path,
    *,
    resume: bool = False,
    seed: int = 0,
    world_size: int = 1,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """The shared loop: train `recipe`'s model on uint8 images (N, side, side).

    `stop_after` ends the run after that epoch, as an interruption would: schedules
    still run over all `epochs`, and `resume=True` later continues exactly. (Changing
    `epochs` instead would change a cosine schedule, so it extends a run, not resumes it.)

    Under torchrun every process calls this with its own images (the same pool); outside
    it, `world_size` > 1 starts that many local processes over the same code path.
    """
    images = _check_images(images, recipe.image_size)
    out_dir = Path(out_dir)
    if world_size > 1 and distributed.launched():
        raise SettingError(
            "world_size",
            "torchrun already started the processes; leave {world_size} at 1 "
            "and set their number with torchrun --nproc-per-node",
            ("world_size",),
        )
    check_resume(out_dir, recipe, seed, resume)
    out_dir.mkdir(parents=True, exist_ok=True)
    if world_size <= 1:
        return _worker(images, recipe, out_dir, resume, seed, progress, stop_after)
    with npy_file(images) as source:
        distributed.spawn(_worker, world_size, source, recipe, out_dir, resume, seed, progress, stop_after)
    return TrainResult(**json.loads((out_dir / RESULT_JSON).read_text()))


def _worker(
    images: np.ndarray | _ImageFile,
    recipe: Recipe,
    out_dir: Path,
    resume: bool,
    seed: int,
    progress: bool,
    stop_after: int | None,
) -> TrainResult:
    if isinstance(images, _ImageFile):
        images = images.open()
    cfg = recipe.cfg
    torch.set_num_threads(cfg.threads)
    with distributed.process_group(cfg.device, cfg.backend) as (where, device):
        return train_process(
            where.rank, where.world, images, recipe, out_dir, resume, seed, progress, device, stop_after
        )


@dataclass(frozen=True)
class _ImageFile:
    """A .npy file of images, opened as a memory map by each process that trains on it."""

    path: str

    def open(self) -> np.ndarray:
        images: np.ndarray = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return images


@contextmanager
def npy_file(images: np.ndarray) -> Iterator[_ImageFile]:
    """The .npy file `images` was memory-mapped from (the pool's cache), or else a
    temporary copy: spawned processes open it instead of receiving a pickled array."""
    if isinstance(images, np.memmap) and images.filename:
        try:
            again = np.load(images.filename, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            again = None
        # The whole file, not a view of it (a view keeps the file's name and offset).
        if again is not None and (again.shape, again.dtype, again.strides, again.offset) == (
            images.shape,
            images.dtype,
            images.strides,
            images.offset,
        ):
            yield _ImageFile(str(images.filename))
            return
    with tempfile.TemporaryDirectory(prefix="radiolatent-images-") as folder:
        path = Path(folder) / "images.npy"
        np.save(path, np.ascontiguousarray(images))
        yield _ImageFile(str(path))


def _check_images(images: object, side: int) -> np.ndarray:
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 3
        or images.shape[1:] != (side, side)
    ):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise InputError("images", f"expected uint8 array (N, {side}, {side}), got {dtype} {shape}")
    return images
