"""SSL baselines' speed on CPU: training and embedding images/second.

Usage: python benchmarks/ssl_speed.py [--methods byol] [--configs tiny cpu paper]
                                      [--threads 2] [--train-steps 4] [--paper-steps 1]
                                      [--batch 64]

Training steps are the real thing for the named config (two augmented views per image,
the method's loss, the optimiser with its parameter groups, BYOL's target update), on
synthetic random images, since speed does not depend on content. One image = one pair of
views. `--batch` overrides the config's batch so the paper's 1024 fits in memory and
time; per-image speed barely depends on it on CPU. The first step is a warm-up and not
timed. Embedding is the backbone alone in eval mode (one view; orientation averaging
costs 8x).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from radiolatent.config import get_ssl_config
from radiolatent.training import SSLRecipe


def _images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 64, 64)).float() / 255.0


def train_speed(method: str, name: str, steps: int, batch: int) -> float:
    """Training images/second over `steps` timed steps (after one warm-up step)."""
    recipe = SSLRecipe(get_ssl_config(method, name))
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
    backbone = SSLRecipe(get_ssl_config(method, name)).build(seed=0).backbone.eval()
    x = _images(batch)
    backbone(x)
    started = time.perf_counter()
    for _ in range(batches):
        backbone(x)
    return batches * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["simclr", "byol", "simsiam"])
    parser.add_argument("--configs", nargs="+", default=["tiny", "cpu", "paper"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--paper-steps", type=int, default=1)
    parser.add_argument("--embed-batches", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="images per timed batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} batch={args.batch}")
    for method in args.methods:
        for name in args.configs:
            run = get_ssl_config(method, name)
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
