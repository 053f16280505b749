"""SSL baselines' speed on CPU: training and embedding images/second.

Usage: python benchmarks/ssl_speed.py [--methods byol] [--configs tiny cpu paper]
                                      [--threads 2] [--train-steps 4] [--paper-steps 1]
                                      [--batch 64] [--compare-embed 256] [--rounds 3]

Training steps are the real thing for the named config (two augmented views per image,
the method's loss, the optimiser with its parameter groups, BYOL's target update), on
synthetic random images, since speed does not depend on content. One image = one pair of
views. `--batch` overrides the config's batch so the paper's 1024 fits in memory and
time; per-image speed barely depends on it on CPU. The first step is a warm-up and not
timed. Embedding is the backbone alone in eval mode (one view; orientation averaging
costs 8x).

`--compare-embed N`: only the shipped `simclr-cpu` encoder on N random images, 8-view
average, as `embed` runs it ("after": channels-last weights, --threads batches at once on
one OpenMP thread each) against the same weights as they ran before (each batch split
across --threads OpenMP threads, default memory layout). Interleaved, best of --rounds,
so the ratio holds on a shared machine; also the largest code difference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from radiolatent.config import EmbedConfig, preset
from radiolatent.embedding import batched, get_encoder
from radiolatent.models.checkpoint import load_model
from radiolatent.models.shipped import model_path
from radiolatent.training import SSLRecipe


def _images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 64, 64)).float() / 255.0


def train_speed(method: str, name: str, steps: int, batch: int) -> float:
    """Training images/second over `steps` timed steps (after one warm-up step)."""
    recipe = SSLRecipe(preset(method, name))
    model = recipe.build(seed=0).train()
    optimizer = recipe.optimizer(model)
    rng = np.random.default_rng(0)
    x = _images(batch)
    started = None
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        objective = recipe.objective(model, recipe.inputs(x, np.arange(batch), rng), step).objective
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        recipe.after_update(model, step, steps)
    return steps * batch / (time.perf_counter() - started)


@torch.no_grad()
def embed_speed(method: str, name: str, batches: int, batch: int) -> float:
    """Backbone (512-d representation) images/second, eval mode."""
    backbone = SSLRecipe(preset(method, name)).build(seed=0).backbone.eval()
    x = _images(batch)
    backbone(x)
    started = time.perf_counter()
    for _ in range(batches):
        backbone(x)
    return batches * batch / (time.perf_counter() - started)


def compare_embed(n: int, rounds: int, threads: int) -> None:
    """The shipped SimCLR encoder, 8-view codes: as `embed` runs it against as it ran before."""
    after = get_encoder("simclr-cpu", EmbedConfig(threads=threads))
    before = load_model(model_path("simclr-cpu")).eval()  # the same weights, default memory layout
    images = np.random.default_rng(0).integers(0, 256, (n, 64, 64), dtype=np.uint8)
    runs = {
        "before": lambda: batched(before, images, after.batch_size, views=8),
        "after": lambda: after.encode_views(images, views=8),
    }
    best = dict.fromkeys(runs, np.inf)
    codes = {}
    for _ in range(rounds):
        for label, run in runs.items():
            started = time.perf_counter()
            codes[label] = run()
            best[label] = min(best[label], time.perf_counter() - started)
    for label, seconds in best.items():
        print(f"simclr-cpu 8-view embed, {label:6s}: {8 * n / seconds:7.1f} views/s")
    print(
        f"after / before: {best['before'] / best['after']:.2f}x; largest code difference "
        f"{np.abs(codes['after'] - codes['before']).max():.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["simclr", "byol", "simsiam"])
    parser.add_argument("--configs", nargs="+", default=["tiny", "cpu", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--paper-steps", type=int, default=1)
    parser.add_argument("--embed-batches", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="images per timed batch")
    parser.add_argument("--compare-embed", type=int, default=0, metavar="N")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.compare_embed:
        compare_embed(args.compare_embed, args.rounds, args.threads)
        return
    print(f"threads={args.threads} batch={args.batch}")
    for method in args.methods:
        for name in args.configs:
            run = preset(method, name)
            steps = args.paper_steps if name == "paper" else args.train_steps
            params = sum(p.numel() for p in SSLRecipe(run).build(0).backbone.parameters())
            train = train_speed(method, name, steps, args.batch)
            embed = embed_speed(method, name, 1 if name == "paper" else args.embed_batches, args.batch)
            print(
                f"{method:8s} {name:6s} {run.model.backbone:9s} stem-stride={run.model.stem_stride} "
                f"backbone-params={params:>10,d} train={train:7.1f} img/s embed={embed:7.1f} img/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
