"""VDVAE speed on CPU: training and embedding images/second, and peak memory.

Usage: python benchmarks/vdvae_speed.py [--configs tiny cpu paper] [--threads 2]
                                        [--train-steps 8] [--paper-steps 2]
                                        [--compare-images 512] [--rounds 3]

First, the shipped encoder (vdvae-cpu) as `embed` runs it, single-view and 8-view
average, against the encoder as it was before the z0 fast path (the full model's
`encode_z0`, batches of 64, each orientation a separate pass over the set): both in the
same run, interleaved, best of --rounds, so the ratio holds even when the machine is
shared (absolute img/s then are not the idle machine's). `--configs` with no names
skips the per-config training figures.

Training steps use the real objective, optimiser, clipping and EMA update of the named
config (synthetic random images; speed does not depend on content). The first step of
each is a warm-up and not timed. Peak memory is the process's ru_maxrss so far (it only
grows, so run one config per process for a clean per-config figure).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

from radiolatent.config import EmbedConfig
from radiolatent.embedding import (
    SHIPPED_MODEL,
    VDVAE_CPU_BATCH,
    VDVAEEncoder,
    batched,
    dihedral_views,
    encode_images,
)
from radiolatent.models.vdvae import build_vdvae, get_config
from radiolatent.training import EMA, make_optimizer, vdvae_objective

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/synthetic.py


def _images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 64, 64)).float() / 255.0


def train_speed(name: str, steps: int) -> float:
    """Training images/second over `steps` timed steps (after one warm-up step)."""
    run = get_config(name)
    model = build_vdvae(run.model, seed=0).train()
    optimizer = make_optimizer(run.train, model.parameters())
    ema = EMA(model, run.train.ema_decay)
    x = _images(run.train.batch_size)
    started = None
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        objective = vdvae_objective(model(x), run, step)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), run.train.grad_clip)
        optimizer.step()
        ema.update(model, step)
    return steps * len(x) / (time.perf_counter() - started)


def embed_speed(name: str, batches: int) -> float:
    """z0 embedding images/second as embedding.VDVAEEncoder runs it (the inference-only
    Z0Encoder, channels-last weights, batches of VDVAE_CPU_BATCH)."""
    run = get_config(name)
    model = build_vdvae(run.model, seed=0).eval().to(memory_format=torch.channels_last)
    z0 = model.z0_encoder().to(memory_format=torch.channels_last)
    x = _images(VDVAE_CPU_BATCH)
    z0(x)
    started = time.perf_counter()
    for _ in range(batches):
        z0(x)
    return batches * len(x) / (time.perf_counter() - started)


def old_encode(model: torch.nn.Module, images, views: int):
    """The encoder before the fast path: encode_z0 in batches of 64, one pass per view."""
    views_list = dihedral_views(images) if views > 1 else [images]
    return sum(batched(model.encode_z0, v, 64) for v in views_list) / len(views_list)


def compare_embed(n_images: int, rounds: int) -> None:
    """Shipped-encoder img/s, before and after, single-view and 8-view, interleaved."""
    from synthetic import blobs  # radio-like sparse sources

    images = blobs(n_images, seed=1)
    encoder = VDVAEEncoder.load(SHIPPED_MODEL, EmbedConfig())
    at_64 = VDVAEEncoder(encoder.model, encoder.name, 64)  # the fast path at the old batch size
    configs = {1: EmbedConfig(dihedral_average=False), 8: EmbedConfig()}
    runs = {}
    for views, n in ((1, n_images), (8, max(1, n_images // 8))):
        runs[("before", views)] = (lambda v=views, k=n: old_encode(encoder.model, images[:k], v), n)
        runs[("after", views)] = (lambda v=views, k=n: encode_images(encoder, images[:k], configs[v]), n)
        runs[("after-64", views)] = (lambda v=views, k=n: encode_images(at_64, images[:k], configs[v]), n)
    best = dict.fromkeys(runs, float("inf"))
    for fn, _ in runs.values():  # warm-up
        fn()
    for _ in range(rounds):
        for key, (fn, _) in runs.items():
            started = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - started)
    rate = {key: n / best[key] for key, (_, n) in runs.items()}
    for views in (1, 8):
        print(
            f"embed {SHIPPED_MODEL.name} {views} view{'s' if views > 1 else ''}: "
            f"before {rate[('before', views)]:7.1f} img/s  after {rate[('after', views)]:7.1f} img/s  "
            f"ratio {rate[('after', views)] / rate[('before', views)]:.2f}  "
            f"(after at batch 64: {rate[('after-64', views)]:7.1f} img/s, "
            f"batch {VDVAE_CPU_BATCH} is {rate[('after', views)] / rate[('after-64', views)]:.2f}x)",
            flush=True,
        )
    print(f"8-view cost / single-view cost (after): {rate[('after', 1)] / rate[('after', 8)]:.2f} (8 = no overhead)")


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=["tiny", "cpu"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--paper-steps", type=int, default=2)
    parser.add_argument("--embed-batches", type=int, default=3)
    parser.add_argument(
        "--compare-images", type=int, default=512, help="images for the before/after embed comparison (0 skips it)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}")
    if args.compare_images:
        compare_embed(args.compare_images, args.rounds)
    for name in args.configs:
        steps = args.paper_steps if name == "paper" else args.train_steps
        model = build_vdvae(get_config(name).model)
        n_params = sum(p.numel() for p in model.parameters())
        train = train_speed(name, steps)
        embed = embed_speed(name, 1 if name == "paper" else args.embed_batches)
        print(
            f"{name:6s} params={n_params:>9,d} train={train:7.1f} img/s "
            f"embed={embed:7.1f} img/s peak_rss={peak_memory_mib():7.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
