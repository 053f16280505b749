"""Embedding speed against the obvious way: the whole `radiolatent embed` command (8 views)
beside a plain fp32 torchvision ResNet-18 forward over the same number of 64x64 views.

Usage: python benchmarks/embed_speed.py [--data mbc] [--rounds 2] [--naive-views 4096]
       python benchmarks/embed_speed.py --compare-codes [--data mbc:test]

Timed in one run, interleaved, best of --rounds, so the ratios hold on a shared machine:

* `embed --model simclr-cpu --data SPEC` (8 views, the whole command, started as a new
  process: imports, reading the data, the table written) with `--precision auto` (the
  default: bf16 where the CPU computes it natively), `fp32` and `bf16`;
* the same for the shipped VDVAE (`--model vdvae-cpu`: "auto" is fp32 for it);
* the naive baseline: `torchvision.models.resnet18` with a one-channel first convolution and
  no classifier, eval mode, fp32, default memory layout, batches of 64 views, torch's
  default threads: views/s over --naive-views random views, scaled to the command's count.

`--compare-codes`: how far bf16 moves each encoder's single-pass codes from fp32's on
--data (default there mbc:test): the distance as a fraction of the code's length (median,
largest) and the smallest cosine.

Views/s of a command = 8 x images / its wall time. Also the fraction of the CPU's peak each
reaches: the forward's FLOPs per view (torch's FlopCounterMode) x views/s, against the
cores' peak as a large matrix product measures it in the same run (fp32, and bf16 where the
encoder ran in bf16: oneDNN's AMX kernels on this CPU), the practical ceiling of any
convolution here. `--fixed-cost SPEC` also times the whole command on a small set (e.g.
mbc:test): the start-up, reading and writing that no encoder speed removes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from radiolatent.config import EmbedConfig
from radiolatent.data.inputs import model_input
from radiolatent.embedding import get_encoder
from radiolatent.embedding.views import native_bf16


def naive_resnet18() -> torch.nn.Module:
    """ResNet-18 the obvious way: torchvision's, one input channel, no classifier, fp32."""
    model = torchvision.models.resnet18()
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.fc = torch.nn.Identity()
    return model.eval()


def naive_views_per_s(views: int, batch: int = 64) -> float:
    model = naive_resnet18()
    x = torch.rand(batch, 1, 64, 64)
    with torch.inference_mode():
        model(x)  # warm-up
        started = time.perf_counter()
        for _ in range(views // batch):
            model(x)
    return (views // batch) * batch / (time.perf_counter() - started)


def gemm_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 8) -> float:
    """The cores' measured peak: GFLOP/s of an n x n matrix product on torch's threads."""
    a, b = torch.rand(n, n, dtype=dtype), torch.rand(n, n, dtype=dtype)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def flops_per_view(model: torch.nn.Module) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.rand(1, 1, 64, 64))
    return float(counter.get_total_flops())


def command_seconds(model: str, data: str, precision: str, out: Path) -> float:
    argv = [sys.executable, "-m", "radiolatent", "embed", "--model", model, "--data", data]
    argv += ["--precision", precision, "--out", str(out), "--overwrite"]
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def compare_codes(data: str) -> None:
    images = model_input(data).images
    for model in ("simclr-cpu", "vdvae-cpu"):
        fp32 = get_encoder(model, EmbedConfig(precision="fp32")).encode(images)
        bf16 = get_encoder(model, EmbedConfig(precision="bf16")).encode(images)
        length = np.linalg.norm(fp32, axis=1)
        moved = np.linalg.norm(bf16 - fp32, axis=1) / length
        cosine = np.sum(bf16 * fp32, axis=1) / (length * np.linalg.norm(bf16, axis=1))
        print(
            f"{model} on {data} ({len(images)} images): bf16 moves a code by {np.median(moved):.2%} of its "
            f"length (median), {moved.max():.2%} at most; smallest cosine {cosine.min():.5f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mbc")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--naive-views", type=int, default=4096)
    parser.add_argument("--fixed-cost", metavar="SPEC", help="also time the command on this small set")
    parser.add_argument("--compare-codes", action="store_true")
    args = parser.parse_args()
    if args.compare_codes:
        compare_codes(args.data if args.data != "mbc" else "mbc:test")
        return
    images = len(model_input(args.data))
    views = 8 * images
    runs = [("simclr-cpu", p) for p in ("auto", "fp32", "bf16")] + [("vdvae-cpu", p) for p in ("auto", "bf16")]
    best: dict[object, float] = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.rounds):
            best["naive"] = max(best.get("naive", 0.0), naive_views_per_s(args.naive_views))
            for dtype in (torch.float32, torch.bfloat16):
                best[dtype] = max(best.get(dtype, 0.0), gemm_gflops(dtype))
            if args.fixed_cost:
                seconds = command_seconds("simclr-cpu", args.fixed_cost, "auto", Path(work) / "small.parquet")
                best["fixed"] = min(best.get("fixed", float("inf")), seconds)
            for model, precision in runs:
                seconds = command_seconds(model, args.data, precision, Path(work) / "codes.parquet")
                best[(model, precision)] = max(best.get((model, precision), 0.0), views / seconds)
    resnet_flops = flops_per_view(naive_resnet18())
    shipped_flops = flops_per_view(get_encoder("simclr-cpu", EmbedConfig(precision="fp32")).model)
    print(f"{args.data}: {images} images, {views} views; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"naive fp32 torchvision ResNet-18: {best['naive']:.1f} views/s, {resnet_flops / 1e9:.3f} GFLOP a view")
    print(f"simclr-cpu's backbone: {shipped_flops / 1e9:.3f} GFLOP a view")
    peak = {"fp32": best[torch.float32], "bf16": best[torch.bfloat16]}
    print(f"the cores' peak (2048^2 matrix product): fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f} GFLOP/s")
    naive_gflops = best["naive"] * resnet_flops / 1e9
    print(f"naive: {naive_gflops:.0f} GFLOP/s, {naive_gflops / peak['fp32']:.0%} of the fp32 peak")
    bf16_here = native_bf16()
    for model, precision in runs:
        rate = best[(model, precision)]
        line = f"embed --model {model} --precision {precision}: {rate:.1f} views/s, {rate / best['naive']:.2f}x naive"
        if model == "simclr-cpu":
            gflops = rate * shipped_flops / 1e9
            arithmetic = "bf16" if precision == "bf16" or (precision == "auto" and bf16_here) else "fp32"
            line += f", {gflops:.0f} GFLOP/s, {gflops / peak[arithmetic]:.0%} of the {arithmetic} peak"
        print(line)
    if "fixed" in best:
        small = 8 * len(model_input(args.fixed_cost))
        print(
            f"embed --model simclr-cpu --data {args.fixed_cost} ({small} views): {best['fixed']:.1f} s; "
            f"with that start-up alone, {views} views take at least {best['fixed']:.1f} s: "
            f"at most {views / best['fixed']:.0f} views/s, {views / best['fixed'] / best['naive']:.2f}x naive"
        )


if __name__ == "__main__":
    main()
