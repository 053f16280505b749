"""Pictures from a trained VDVAE: inputs beside their reconstructions, and samples from
its prior at several temperatures (`radiolatent reconstruct` / `generate`, the study's
generative stage). The images themselves come from `models.vdvae.sampling`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radiolatent.config import DEFAULT_POOL, PoolConfig
from radiolatent.core.errors import InputError, SettingError

# torch (and the models) are imported when a picture is made, so importing this stays quick.


def reconstruction_grid(
    model: str | Path, spec: str, n: int, seed: int, out: str | Path, pool_config: PoolConfig = DEFAULT_POOL
) -> Path:
    """An image grid of n random inputs of `spec` beside the VDVAE's reconstructions."""
    from radiolatent.data.dataset import pick
    from radiolatent.data.inputs import model_input

    check_grid_size(2 * n)
    ds = model_input(spec, pool_config)
    images = np.asarray(ds.images)[pick(len(ds), n, seed)]
    return images_reconstruction_grid(model, images, out, f"{spec}: reconstructions")


def images_reconstruction_grid(model: str | Path, images: np.ndarray, out: str | Path, title: str) -> Path:
    """(N, 64, 64) uint8 inputs beside the VDVAE's reconstructions, two columns a pair."""
    import torch

    from radiolatent.data.grid import image_grid
    from radiolatent.data.preprocess import to_unit_float
    from radiolatent.models.checkpoint import load_model
    from radiolatent.models.vdvae.sampling import as_uint8

    vdvae = load_model(model)
    with torch.no_grad():
        recon = as_uint8(vdvae.reconstruct(torch.from_numpy(to_unit_float(images))))
    pairs = np.stack([images, recon], axis=1).reshape(-1, *images.shape[1:])
    captions = [c for i in range(len(images)) for c in (f"input {i + 1}", "reconstruction")]
    return image_grid(pairs, captions, out, ncols=min(8, 2 * len(images)), title=title)


def held_out_pool(model: str | Path, pool_config: PoolConfig = DEFAULT_POOL) -> np.ndarray:
    """The pool images a VDVAE was not trained on: the validation split its training drew
    (training.validation_split with the run config and seed stored in the model's config.json)
    from the pool it was trained on (`pool_config`: the default pool for the shipped model)."""
    import json

    from radiolatent.data.pools import build_pool
    from radiolatent.training import validation_split
    from radiolatent.training.runs import run_config

    meta = json.loads((Path(model) / "config.json").read_text())
    run = run_config("vdvae", meta.get("run_config", "cpu"))
    pool = build_pool(pool_config)
    _, valid = validation_split(len(pool.images), run.train, int(meta.get("seed", 0)))
    return np.asarray(pool.images)[valid]


def held_out_reconstruction_grid(
    model: str | Path, n: int, seed: int, out: str | Path, pool_config: PoolConfig = DEFAULT_POOL
) -> tuple[Path, int]:
    """n random held-out pool images (`held_out_pool`) beside their reconstructions ([A]
    Fig. 5 reconstructs pre-training test images); returns the grid and the held-out count."""
    from radiolatent.data.dataset import pick

    held = held_out_pool(model, pool_config)
    images = held[pick(len(held), n, seed)]
    return images_reconstruction_grid(model, images, out, "held-out pool images: reconstructions"), len(held)


#: most images one grid may hold (a 64 x 64 grid of 64 x 64 pictures is 4096 x 4096 pixels):
#: a typo such as -n 100000000 is refused before anything is sampled.
MAX_GRID_IMAGES = 4096


def check_grid_size(n_images: int, option: str = "-n") -> None:
    if n_images > MAX_GRID_IMAGES:
        raise InputError(option, f"{n_images:,} images do not fit one grid (at most {MAX_GRID_IMAGES})")


def sample_grid(model: str | Path, n: int, temperatures: list[float], seed: int, out: str | Path) -> Path:
    """An image grid of n samples from the VDVAE's prior at each temperature, one row each."""
    import torch

    check_grid_size(n * len(temperatures))
    bad = [t for t in temperatures if not (np.isfinite(t) and t > 0)]
    if bad:
        raise SettingError("temperatures", f"must be finite and > 0, got {bad[0]}")

    from radiolatent.data.grid import image_grid
    from radiolatent.models.checkpoint import load_model
    from radiolatent.models.vdvae.sampling import prior_samples

    vdvae = load_model(model)
    torch.manual_seed(seed)
    images = np.concatenate([prior_samples(vdvae, n, t) for t in temperatures])
    captions = [f"T={t}" for t in temperatures for _ in range(n)]
    return image_grid(images, captions, out, ncols=n, title="samples from the prior")
