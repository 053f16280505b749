"""Running an encoder over images: batches (shared out under torchrun) and the average
over an image's 8 flips and quarter turns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from radiolatent.config import DIHEDRAL_SUFFIX as DIHEDRAL_SUFFIX  # re-exported: embedding's name for it
from radiolatent.config import EmbedConfig
from radiolatent.data.orientations import DIHEDRAL_ORDER, dihedral_views, each_view
from radiolatent.data.preprocess import to_unit_float
from radiolatent.embedding.progress import EstimateClock
from radiolatent.training.parts import autocast


class ViewCodes(NamedTuple):
    """Codes of images averaged over their orientations (`mean`), and their upright view's
    own codes (`upright`): the single-pass codes, computed on the way (`each_view`). With
    one view the two are the same array."""

    mean: np.ndarray
    upright: np.ndarray


class Encoder(Protocol):
    """What every encoder (a floor, a trained model) offers: a name and `encode`."""

    name: str

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, 64, 64) uint8 -> (N, d) float32."""


def embed_precision(requested: str, device: torch.device, keeps_codes: bool = True) -> str:
    """The arithmetic a learned encoder runs in: `requested` ("bf16", "fp32"), or for
    "auto" bf16 where it is fast and harmless: a CPU with native bfloat16 (AMX or
    AVX512-BF16) and an encoder whose bf16 codes stay within ~1 % of fp32's (`keeps_codes`);
    fp32 elsewhere."""
    if requested != "auto":
        return requested
    return "bf16" if keeps_codes and device.type == "cpu" and native_bf16() else "fp32"


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (torch's own capability checks)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


#: images per chunk when an encoder without `encode_views` is averaged over orientations:
#: 8 copies of a chunk are held, not of the whole set (a multiple of every batch size).
VIEW_CHUNK = 4096


def batched(fn, images: np.ndarray, batch_size: int, *args, **kwargs) -> np.ndarray:
    """`batched_views`' averaged codes (with one view, simply fn's outputs)."""
    return batched_views(fn, images, batch_size, *args, **kwargs).mean


def batched_views(
    fn,
    images: np.ndarray,
    batch_size: int,
    progress: bool = False,
    device: torch.device | None = None,
    views: int = 1,
    name: str = "",
    workers: int = 1,
    precision: str = "fp32",
) -> ViewCodes:
    """Apply a torch function to uint8 images in batches, as float inputs in [0, 1], on
    `device` (default the CPU). Under torchrun the batches are shared out (batch b to rank
    b mod world size) and every process gets all outputs in order: each batch holds the
    same images as in one process, so the codes are the same numbers.

    views=8: each batch of `batch_size` images goes through `fn` once in each of its 8
    flips and quarter turns (`each_view`) and the outputs are averaged; the upright
    pass is the batch's single-pass run, so `upright` equals views=1's codes to the bit.
    `progress`: a bar over images and, for a long run, a time estimate after the first
    batches (`time_estimate`), printed above the bar. `workers` > 1 (CPU only): that many
    batches run at once, each on one OpenMP thread (`one_thread_per_batch`). `precision`
    "bf16" runs `fn` under bfloat16 autocast (the outputs are float32 either way)."""
    from radiolatent.core import distributed

    if views not in (1, len(DIHEDRAL_ORDER)):
        raise ValueError(f"views must be 1 or {len(DIHEDRAL_ORDER)}, got {views}")
    device = device or torch.device("cpu")
    where = distributed.place() if distributed.active() else distributed.Place()
    per_batch = max(1, batch_size)
    starts = list(range(0, len(images), per_batch))
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(starts)
    mine = range(where.rank, len(starts), where.world)
    shown = progress and where.main
    n_mine = sum(min(per_batch, len(images) - starts[i]) for i in mine)
    clock = EstimateClock(n_mine, views, name) if shown else None

    def run(i: int) -> tuple[np.ndarray, np.ndarray]:
        x = _unit_batch(images[starts[i] : starts[i] + per_batch], device)[:, None]
        # thread-local: set here, in the thread that runs fn
        with torch.inference_mode(), autocast(device, precision):
            if views == 1:
                codes = fn(x).float().cpu().numpy()
                return codes, codes
            outputs = each_view(fn, x).float()
            return outputs.mean(0).cpu().numpy(), outputs[0].cpu().numpy()

    bar = tqdm(total=n_mine, unit="img", desc=name or "embedding", disable=not shown, leave=False)
    with bar, one_thread_per_batch(workers if device.type == "cpu" else 1) as run_all:
        for i, codes in zip(mine, run_all(run, mine)):
            out[i] = codes
            bar.update(len(codes[0]))
            if clock is not None:
                clock.batch_done(len(codes[0]))
    every: list[tuple[np.ndarray, np.ndarray]] = distributed.gather_rows(out, len(starts))
    if not every:
        return ViewCodes(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
    mean = np.concatenate([codes[0] for codes in every])
    return ViewCodes(mean, np.concatenate([codes[1] for codes in every]) if views > 1 else mean)


@contextmanager
def one_thread_per_batch(workers: int) -> Iterator[Callable[..., Iterator[Any]]]:
    """A `map` that runs up to `workers` calls at once, each on one OpenMP thread (the
    results in order); workers=1: the built-in `map`, on torch's own thread count.

    Small convolutions split across OpenMP threads wait for each other at every layer, and
    on cores shared with other processes the waiting (libgomp spins) dominates (measured by
    benchmarks/vdvae_speed.py; docs/results.md, "Benchmarks"). Whole batches in parallel never
    wait for each other. torch's thread count is restored afterwards."""
    if workers <= 1:
        yield map
        return
    previous = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="embed", initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield pool.map
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error, queued batches are dropped
        torch.set_num_threads(previous)


def _unit_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images as float32 in [0, 1] on `device` (on a GPU: sent as uint8, a quarter of
    the bytes, and divided there; the same float32 division either way)."""
    if device.type == "cpu":
        return torch.from_numpy(to_unit_float(np.asarray(images)))
    uint8 = torch.from_numpy(np.ascontiguousarray(images)).pin_memory()
    return uint8.to(device, non_blocking=True).float().div_(255.0)


def encode_images(encoder: Encoder, images: np.ndarray, config: EmbedConfig, progress: bool = False) -> np.ndarray:
    """Codes of (N, 64, 64) uint8 images, averaged over their 8 orientations if configured."""
    return encode_orientations(encoder, images, config, progress).mean


def encode_orientations(encoder: Encoder, images: np.ndarray, config: EmbedConfig, progress: bool = False) -> ViewCodes:
    """`encode_images`' codes and, averaged over orientations, the upright view's own.

    Torch encoders (`encode_views`) run each batch in its 8 orientations (`batched_views`);
    others encode the views of a chunk of images in turn."""
    views = len(DIHEDRAL_ORDER) if config.dihedral_average else 1
    if hasattr(encoder, "encode_views"):
        return encoder.encode_views(images, views, progress)
    if views == 1 or not len(images):
        codes = encoder.encode(images)
        return ViewCodes(codes, codes)
    means, uprights = [], []
    with tqdm(total=len(images), unit="img", desc=encoder.name, disable=not progress, leave=False) as bar:
        for start in range(0, len(images), VIEW_CHUNK):
            each = [encoder.encode(view) for view in dihedral_views(images[start : start + VIEW_CHUNK])]
            means.append(np.mean(each, axis=0).astype(np.float32))
            uprights.append(each[0])
            bar.update(len(each[0]))
    return ViewCodes(np.concatenate(means), np.concatenate(uprights))
