"""VDVAE speed on CPU: training and embedding images/second, and peak memory.

Usage: python benchmarks/vdvae_speed.py [--configs tiny cpu paper] [--threads 2]
                                        [--train-steps 8] [--paper-steps 2]
                                        [--compare-images 256] [--rounds 3] [--full-model]
                                        [--distil-rounds 3]

First, the shipped encoder (vdvae-cpu) as `embed` runs it ("after": --threads batches at
once, one OpenMP thread each), single-view and 8-view average, against the same encoder
with each batch split across --threads OpenMP threads ("before", as it ran until batches
ran in parallel) and on one core; with --full-model also the whole VDVAE's `encode_z0`
(before the z0 fast path). All in the same run, interleaved, best of --rounds, so the
ratios hold even when the machine is shared (absolute img/s then are not the idle
machine's). `--configs` with no names skips the per-config training figures.

--distil-rounds N: a training step of the `cpu` distillation (`train distil`, teacher
vdvae-cpu, its 8-view targets already cached as after a run's first epoch) against a
training step of the `cpu` VDVAE, interleaved, best of N, in images/second: the ratio,
times the VDVAE's measured run time, estimates the distillation's time on the same cores.

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
from contextlib import contextmanager
from pathlib import Path

import torch

from radiolatent.config import EmbedConfig, preset
from radiolatent.data.orientations import view_mean
from radiolatent.embedding import VDVAE_CPU_BATCH, VDVAEEncoder, batched, dihedral_views, encode_images
from radiolatent.models.shipped import SHIPPED_MODEL
from radiolatent.models.vdvae import build_vdvae, z0_encoder
from radiolatent.training import EMA, make_optimizer, vdvae_objective

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/synthetic.py


def _images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 64, 64)).float() / 255.0


def timed_steps(objective, model: torch.nn.Module, optimizer, grad_clip: float, steps: int, batch: int, after=None):
    """Training images/second over `steps` timed optimiser steps (after one warm-up step):
    `objective(step)` is the loss, then backward, clipping, the step and `after(step)`."""
    started = time.perf_counter()
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        loss = objective(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if after is not None:
            after(step)
    return steps * batch / (time.perf_counter() - started)


def train_speed(name: str, steps: int) -> float:
    """Training images/second over `steps` timed steps (after one warm-up step)."""
    run = preset("vdvae", name)
    model = build_vdvae(run.model, seed=0).train()
    optimizer = make_optimizer(run.train, model.parameters())
    ema = EMA(model, run.train.ema_decay)
    x = _images(run.train.batch_size)
    return timed_steps(
        lambda step: vdvae_objective(model(x), run, step),
        model,
        optimizer,
        run.train.grad_clip,
        steps,
        len(x),
        after=lambda step: ema.update(model, step),
    )


def embed_speed(name: str, batches: int, threads: int) -> float:
    """z0 embedding images/second as embedding.VDVAEEncoder runs it (the inference-only
    Z0Encoder, channels-last weights, batches of VDVAE_CPU_BATCH, `threads` batches at once
    on one OpenMP thread each)."""
    run = preset("vdvae", name)
    model = build_vdvae(run.model, seed=0).eval().to(memory_format=torch.channels_last)
    z0 = z0_encoder(model).to(memory_format=torch.channels_last)
    images = torch.randint(0, 256, (batches * VDVAE_CPU_BATCH * threads, 64, 64), dtype=torch.uint8).numpy()
    batched(z0, images[: VDVAE_CPU_BATCH * threads], VDVAE_CPU_BATCH, workers=threads)  # warm-up
    started = time.perf_counter()
    batched(z0, images, VDVAE_CPU_BATCH, workers=threads)
    return len(images) / (time.perf_counter() - started)


def full_model_encode(model: torch.nn.Module, images, views: int):
    """The encoder before the fast path: encode_z0 in batches of 64, one pass per view."""
    views_list = dihedral_views(images) if views > 1 else [images]
    return sum(batched(model.encode_z0, v, 64) for v in views_list) / len(views_list)


@contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def compare_embed(n_images: int, rounds: int, threads: int, full_model: bool) -> None:
    """Shipped-encoder img/s, single-view and 8-view, interleaved, best of `rounds`:
    - "before": each batch on `threads` OpenMP threads (the encoder as it ran before
      batches ran in parallel);
    - "after": `threads` batches at once, one OpenMP thread each (as `embed` runs it);
    - "one core": one batch at a time on one thread (the per-core rate; after / one core
      is how well the cores are used, 2.0 at best for 2);
    - "full model" (--full-model): the whole VDVAE's encode_z0 before the z0 fast path."""
    from synthetic import blobs  # radio-like sparse sources

    images = blobs(n_images, seed=1)
    after = VDVAEEncoder.load(SHIPPED_MODEL, EmbedConfig(threads=threads))
    before = VDVAEEncoder(after.model, after.name, VDVAE_CPU_BATCH)
    configs = {1: EmbedConfig(dihedral_average=False), 8: EmbedConfig()}
    runs = {}
    for views, n in ((1, n_images), (8, max(1, n_images // 8))):

        def run(encoder, one_core=False, v=views, k=n):
            with torch_threads(1 if one_core else threads):
                return encode_images(encoder, images[:k], configs[v])

        runs[("before", views)] = (lambda run=run: run(before), n)
        runs[("after", views)] = (lambda run=run: run(after), n)
        runs[("one core", views)] = (lambda run=run: run(before, one_core=True), n)
        if full_model:
            runs[("full model", views)] = (lambda v=views, k=n: full_model_encode(after.model, images[:k], v), n)
    best = dict.fromkeys(runs, float("inf"))
    cpu = dict.fromkeys(runs, float("inf"))
    for fn, _ in runs.values():  # warm-up
        fn()
    for round_ in range(rounds):
        order = list(runs.items()) if round_ % 2 == 0 else list(runs.items())[::-1]  # no place favoured
        for key, (fn, _) in order:
            started, cpu_started = time.perf_counter(), time.process_time()
            fn()
            best[key] = min(best[key], time.perf_counter() - started)
            cpu[key] = min(cpu[key], time.process_time() - cpu_started)
    rate = {key: n / best[key] for key, (_, n) in runs.items()}
    per_cpu_s = {key: n / cpu[key] for key, (_, n) in runs.items()}
    for views in (1, 8):
        line = "  ".join(f"{kind} {rate[(kind, v)]:7.1f}" for kind, v in rate if v == views)
        cpu_line = "  ".join(f"{kind} {per_cpu_s[(kind, v)]:7.1f}" for kind, v in rate if v == views)
        print(
            f"embed {SHIPPED_MODEL.name} {views} view{'s' if views > 1 else ''}: img/s {line}  "
            f"after/before {rate[('after', views)] / rate[('before', views)]:.2f}  "
            f"after/one core {rate[('after', views)] / rate[('one core', views)]:.2f}\n"
            f"    images per CPU-second (all threads; spinning counts): {cpu_line}",
            flush=True,
        )
    print(
        f"8-view cost / single-view cost (after): {rate[('after', 1)] / rate[('after', 8)]:.2f} in wall-clock time, "
        f"{per_cpu_s[('after', 1)] / per_cpu_s[('after', 8)]:.2f} in CPU time (8 = no overhead)"
    )


def view_cost(rounds: int) -> None:
    """What 8 views cost against one, per image, on one thread in CPU time (steadier than
    wall-clock time on a shared machine): one batch of 32 images against the 8 views of
    4 images (also 32 forward passes), in alternating order, best of `rounds`."""
    from synthetic import blobs

    z0 = VDVAEEncoder.load(SHIPPED_MODEL, EmbedConfig()).z0
    x = torch.from_numpy(blobs(VDVAE_CPU_BATCH, seed=1)).float().div(255.0)[:, None]
    four = x[: VDVAE_CPU_BATCH // 8].clone()
    runs = {1: lambda: z0(x), 8: lambda: view_mean(z0, four, 8)}
    best = dict.fromkeys(runs, float("inf"))
    with torch_threads(1), torch.inference_mode():
        for round_ in range(rounds):
            for views, fn in list(runs.items())[:: 1 if round_ % 2 == 0 else -1]:
                started = time.thread_time()
                fn()
                best[views] = min(best[views], time.thread_time() - started)
    per_image = {1: best[1] / len(x), 8: best[8] / len(four)}
    print(f"8-view cost / single-view cost, one thread, CPU time: {per_image[8] / per_image[1]:.2f} (8 = no overhead)")


def distil_speed(steps: int) -> float:
    """Distillation training images/second over `steps` timed steps: the recipe's views,
    objective, clipping and AdamW step, with the teacher's targets computed beforehand."""
    from dataclasses import replace

    import numpy as np

    from radiolatent.config.presets import preset
    from radiolatent.training.recipes.distil import DistilRecipe

    run = replace(preset("distil", "cpu"), teacher=str(SHIPPED_MODEL))
    recipe = DistilRecipe(run)
    model = recipe.build(seed=0)
    optimizer = recipe.optimizer(model)
    x, rows, rng = _images(run.train.batch_size), np.arange(run.train.batch_size), np.random.default_rng(0)
    recipe.inputs(x, rows, rng)  # the targets: computed once per image, in a run's first epoch
    return timed_steps(
        lambda step: recipe.objective(model, recipe.inputs(x, rows, rng), step).objective,
        model,
        optimizer,
        run.train.grad_clip,
        steps,
        len(x),
    )


def distil_against_vdvae(rounds: int, steps: int) -> None:
    """Training img/s of the `cpu` distillation and the `cpu` VDVAE, interleaved, best of `rounds`."""
    best = {"vdvae": 0.0, "distil": 0.0}
    for round_ in range(rounds):
        for name in list(best)[:: 1 if round_ % 2 == 0 else -1]:
            speed = train_speed("cpu", steps) if name == "vdvae" else distil_speed(steps)
            best[name] = max(best[name], speed)
    print(
        f"training img/s: vdvae cpu {best['vdvae']:.1f}, distil cpu {best['distil']:.1f}; "
        f"a distillation image costs {best['vdvae'] / best['distil']:.2f} VDVAE training images"
    )


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
        "--compare-images", type=int, default=256, help="images for the before/after embed comparison (0 skips it)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--view-cost-rounds", type=int, default=12, help="0 skips the 8-view cost figure")
    parser.add_argument("--full-model", action="store_true", help="also time the whole VDVAE's encode_z0")
    parser.add_argument("--distil-rounds", type=int, default=0, help="distillation against VDVAE training steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}")
    if args.view_cost_rounds:
        view_cost(args.view_cost_rounds)
    if args.distil_rounds:
        distil_against_vdvae(args.distil_rounds, args.train_steps)
    if args.compare_images:
        compare_embed(args.compare_images, args.rounds, args.threads, args.full_model)
    for name in args.configs:
        steps = args.paper_steps if name == "paper" else args.train_steps
        model = build_vdvae(preset("vdvae", name).model)
        n_params = sum(p.numel() for p in model.parameters())
        train = train_speed(name, steps)
        embed = embed_speed(name, 1 if name == "paper" else args.embed_batches, args.threads)
        print(
            f"{name:6s} params={n_params:>9,d} train={train:7.1f} img/s "
            f"embed={embed:7.1f} img/s peak_rss={peak_memory_mib():7.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
