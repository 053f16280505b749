"""One command for a machine with GPUs: check the CUDA path end to end and print its speed.

    python benchmarks/gpu_check.py                 # everything; a few minutes on one GPU
    python benchmarks/gpu_check.py --steps 50 --out gpu_check.json

On each GPU check it trains a few steps of the `cpu` and `paper` VDVAE configs on one GPU
in fp32 and in bf16 (the library's train_vdvae: process group, device, autocast, update
guard, checkpoint, export), and, with 2 or more GPUs, the `cpu` config on 2 GPUs with
`torchrun --nproc-per-node 2 -m radiolatent train vdvae` (docs/gpu.md); it embeds with
the trained models (1024 images a batch) and fits and scores a density on a GPU. It
prints train img/s (second epoch: the first includes cuDNN's autotuning), embed img/s
(one view and 8-view averaged), and the peak GPU memory of each run.

Goals on one current data-centre GPU (issue 17): `paper` training >= 3,000 img/s in
bf16, embedding >= 20,000 img/s. Figures go in docs/results.md with the GPU's name.

On a machine without CUDA it says so, checks the same CPU path quickly (tiny config,
fp32 and bf16, embedding, density) and exits 0.

Images are synthetic blobs (no data download needed); the numbers are speeds, not results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from radiolatent.config import EmbedConfig, preset
from radiolatent.downstream.density import DensityModel
from radiolatent.embedding import VDVAEEncoder, encode_images
from radiolatent.training import train_vdvae

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import write_pool_cache


def blobs(n: int, seed: int = 0) -> np.ndarray:
    """(n, 64, 64) uint8: one or two Gaussian blobs each, peaking at 255 (vectorised)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    out = np.zeros((n, 64, 64), np.float32)
    for start in range(0, n, 4096):
        m = min(4096, n - start)
        for _ in range(2):
            cy, cx = rng.uniform(16, 48, (2, m, 1, 1)).astype(np.float32)
            width = rng.uniform(2, 6, (m, 1, 1)).astype(np.float32)
            keep = rng.random((m, 1, 1)) < 0.6 if _ else 1.0
            out[start : start + m] += keep * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return (255 * out / out.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def gib(n_bytes: int) -> float:
    return n_bytes / 2**30


def peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak(device: torch.device) -> float:
    return gib(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else float("nan")


def train_speed(config: str, precision: str, device: torch.device, steps: int, batch: int | None, folder: Path) -> dict:
    """Two epochs of `steps` steps each; img/s of the second (warm) epoch."""
    run = preset("vdvae", config)
    batch = batch or run.train.batch_size
    train = dataclasses.replace(
        run.train,
        epochs=2,
        batch_size=batch,
        precision=precision,
        device=device.type,
        valid_max=batch,
        eval_batch_size=max(batch, 64),
    )
    run = dataclasses.replace(run, train=train)
    n = steps * batch + batch  # `steps` training batches and one validation batch
    peak_reset(device)
    started = time.perf_counter()
    result = train_vdvae(blobs(n), run, folder / f"{config}-{precision}", seed=0, progress=False)
    row = {
        "what": "train",
        "config": config,
        "precision": precision,
        "gpus": 1 if device.type == "cuda" else 0,
        "batch": batch,
        "steps": result.steps,
        "skipped": result.skipped_total,
        "img_per_s": result.history[-1]["images_per_s"],
        "wall_s": time.perf_counter() - started,
        "peak_gib": peak(device),
        "final_loss": result.history[-1]["loss"],
        "model": result.model_dir,
    }
    if not np.isfinite(row["final_loss"]):
        raise SystemExit(f"FAILED: {config} {precision}: the training loss is not finite")
    return row


def embed_speed(model_dir: str, device: torch.device, n: int, dihedral: bool) -> dict:
    batch = 1024 if device.type == "cuda" else EmbedConfig.batch_size
    config = EmbedConfig(batch_size=batch, dihedral_average=dihedral, device=device.type)
    encoder = VDVAEEncoder.load(Path(model_dir), config)
    images = blobs(n, seed=1)
    encode_images(encoder, images[:batch], config)  # warm-up (cuDNN autotuning)
    peak_reset(device)
    started = time.perf_counter()
    codes = encode_images(encoder, images, config)
    seconds = time.perf_counter() - started
    if not np.isfinite(codes).all():
        raise SystemExit(f"FAILED: embedding {model_dir} gave non-finite codes")
    return {
        "what": "embed",
        "model": model_dir,
        "views": 8 if dihedral else 1,
        "images": n,
        "batch": batch,
        "img_per_s": n / seconds,
        "peak_gib": peak(device),
        "codes": codes,
    }


def density_check(codes: np.ndarray, device: torch.device, config_name: str) -> dict:
    config = dataclasses.replace(preset("density", config_name), epochs=20, patience=0)
    started = time.perf_counter()
    model = DensityModel(config, device).fit(codes, seed=0)
    fit_s = time.perf_counter() - started
    scores = model.score_samples(codes)
    if not np.isfinite(scores).all():
        raise SystemExit("FAILED: the density gave non-finite log-likelihoods")
    return {
        "what": "density",
        "config": config_name,
        "rows": len(codes),
        "epochs": len(model.history),
        "fit_s": fit_s,
        "valid_loglik": model.valid_loglik,
    }


def torchrun_two_gpus(steps: int, folder: Path) -> dict:
    """`torchrun --nproc-per-node 2 -m radiolatent train vdvae --config cpu` on 2 GPUs (bf16)."""
    batch = preset("vdvae", "cpu").train.batch_size
    cache = folder / "cache"
    write_pool_cache(cache, blobs(2 * steps * batch + batch, seed=2))
    torchrun = Path(sys.executable).with_name("torchrun")
    out = folder / "torchrun-2gpu"
    command = [
        str(torchrun),
        "--nproc-per-node",
        "2",
        "-m",
        "radiolatent",
        "train",
        "vdvae",
        "--config",
        "cpu",
        "--device",
        "cuda",
        "--set",
        "train.epochs=2",
        "--set",
        f"train.valid_max={batch}",
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=dict(os.environ, RADIOLATENT_CACHE=str(cache)), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit("FAILED: " + " ".join(command) + "\n" + done.stdout[-3000:] + done.stderr[-3000:])
    result = json.loads((out / "result.json").read_text())
    if len(set(result["weight_checksums"])) != 1:
        raise SystemExit("FAILED: the 2 GPUs ended with different weights")
    return {
        "what": "train",
        "config": "cpu",
        "precision": "bf16",
        "gpus": 2,
        "batch": batch,
        "steps": result["steps"],
        "img_per_s": result["history"][-1]["images_per_s"],
        "wall_s": time.perf_counter() - started,
        "peak_gib": float("nan"),
    }


def show(row: dict) -> None:
    shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k not in ("codes", "model")}
    print("  " + ", ".join(f"{k} {v}" for k, v in shown.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps per epoch and run (default 30)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: each config's)")
    parser.add_argument("--embed-images", type=int, default=50_000, help="images to embed (default 50000)")
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        folder = Path(tmp)
        if not torch.cuda.is_available():
            print(
                "no CUDA device on this machine: checking the CPU path quickly (tiny config); "
                "run this script on a GPU machine for the GPU figures"
            )
            cpu = torch.device("cpu")
            for precision in ("fp32", "bf16"):
                rows.append(train_speed("tiny", precision, cpu, 3, 16, folder))
                show(rows[-1])
            rows.append(embed_speed(rows[0]["model"], cpu, 512, dihedral=False))
            show(rows[-1])
            rows.append(density_check(rows[-1]["codes"], cpu, "tiny"))
            show(rows[-1])
            print("CPU path OK; no GPU figures")
            return 0
        device = torch.device("cuda", 0)
        torch.cuda.set_device(device)
        name = torch.cuda.get_device_name(device)
        print(
            f"GPU: {name} ({torch.cuda.device_count()} visible), torch {torch.__version__}, CUDA {torch.version.cuda}",
            flush=True,
        )
        models = {}
        for config in ("cpu", "paper"):
            for precision in ("fp32", "bf16"):
                rows.append(train_speed(config, precision, device, args.steps, args.batch_size, folder))
                models[config] = rows[-1]["model"]
                show(rows[-1])
        if torch.cuda.device_count() >= 2:
            rows.append(torchrun_two_gpus(args.steps, folder))
            show(rows[-1])
        else:
            print("  one GPU: the 2-GPU torchrun check is skipped")
        for config, model in models.items():
            for dihedral in (False, True):
                rows.append(embed_speed(model, device, args.embed_images, dihedral))
                show(dict(rows[-1], config=config))
        codes = next(r["codes"] for r in rows if r["what"] == "embed")
        rows.append(density_check(codes, device, "cpu"))
        show(rows[-1])
    goals = {
        "paper bf16 train img/s >= 3000": max(
            r["img_per_s"]
            for r in rows
            if r.get("config") == "paper" and r.get("precision") == "bf16" and r["what"] == "train"
        ),
        "embed img/s (1 view) >= 20000": max(r["img_per_s"] for r in rows if r["what"] == "embed" and r["views"] == 1),
    }
    print(f"goals on {name}: " + "; ".join(f"{k}: {v:,.0f}" for k, v in goals.items()))
    if args.out:
        plain = [{k: v for k, v in r.items() if k != "codes"} for r in rows]
        Path(args.out).write_text(json.dumps({"gpu": name, "torch": torch.__version__, "rows": plain}, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
