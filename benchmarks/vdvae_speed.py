"""VDVAE speed on CPU: training and embedding images/second, and peak memory.

Usage: python benchmarks/vdvae_speed.py [--configs tiny cpu paper] [--threads 2]
                                        [--train-steps 8] [--paper-steps 2]

Training steps use the real objective, optimiser, clipping and EMA update of the named
config (synthetic random images; speed does not depend on content). The first step of
each is a warm-up and not timed. Peak memory is the process's ru_maxrss so far (it only
grows, so run one config per process for a clean per-config figure).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from radiolatent.models.vdvae import build_vdvae, get_config
from radiolatent.training import EMA, make_optimizer, vdvae_objective


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
    """z0 embedding images/second (eval mode, eval batch size, channels-last weights as
    embedding.VDVAEEncoder runs them)."""
    run = get_config(name)
    model = build_vdvae(run.model, seed=0).eval().to(memory_format=torch.channels_last)
    x = _images(run.train.eval_batch_size)
    model.encode_z0(x)
    started = time.perf_counter()
    for _ in range(batches):
        model.encode_z0(x)
    return batches * len(x) / (time.perf_counter() - started)


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "cpu"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--paper-steps", type=int, default=2)
    parser.add_argument("--embed-batches", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}")
    for name in args.configs:
        steps = args.paper_steps if name == "paper" else args.train_steps
        model = build_vdvae(get_config(name).model)
        n_params = sum(p.numel() for p in model.parameters())
        train = train_speed(name, steps)
        embed = embed_speed(name, 1 if name == "paper" else args.embed_batches)
        print(f"{name:6s} params={n_params:>9,d} train={train:7.1f} img/s "
              f"embed={embed:7.1f} img/s peak_rss={peak_memory_mib():7.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
