"""The distillation prototype behind `train distil` (docs/vdvae.md, issue 21): the shipped
VDVAE's bottom-up path fine-tuned so one pass gives its 8-view z0 codes, outside the
training loop (no validation split, no checkpoints), then scored as benchmarks/single_pass.py.

    python benchmarks/distil_prototype.py EPOCHS d8|any LR OUT

`d8`: each step sees a random flip / quarter turn; `any`: also a rotation by any angle.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from single_pass import SETS, scored

from radiolatent.config import DEFAULT_POOL, EmbedConfig
from radiolatent.data.pools import build_pool
from radiolatent.embedding import embed, encode_images, get_encoder
from radiolatent.models.checkpoint import load_model, save_model
from radiolatent.models.shipped import SHIPPED_MODEL


def views(x: torch.Tensor, rng: np.random.Generator, any_angle: bool) -> torch.Tensor:
    turns, flips = rng.integers(0, 4, len(x)), rng.integers(0, 2, len(x))
    out = torch.stack(
        [
            torch.rot90(i, int(k), (-2, -1)).flip(-1) if f else torch.rot90(i, int(k), (-2, -1))
            for i, k, f in zip(x, turns, flips)
        ]
    )
    if not any_angle:
        return out
    theta = torch.from_numpy(rng.uniform(0, 2 * math.pi, len(x))).float()
    cos, sin, zero = torch.cos(theta), torch.sin(theta), torch.zeros(len(x))
    affine = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(affine, list(out.shape), align_corners=False)
    return F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def main() -> None:
    epochs, mode, lr, out = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = np.asarray(build_pool(DEFAULT_POOL, progress=False).images)
    encoder = get_encoder(str(SHIPPED_MODEL), EmbedConfig(threads=1))
    target = torch.from_numpy(encode_images(encoder, images, EmbedConfig(dihedral_average=True, threads=1)))
    student = copy.deepcopy(load_model(SHIPPED_MODEL)).train()
    trained = [*student.encoder.parameters(), *student.top_block.posterior.parameters()]
    for p in student.parameters():
        p.requires_grad_(any(p is q for q in trained))
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0)
    spread, batch = target.var(0).sum(), 64
    steps, step, started = epochs * (len(images) // batch), 0, time.perf_counter()
    for epoch in range(epochs):
        order, total = rng.permutation(len(images)), 0.0
        for b in range(len(images) // batch):
            rows = order[b * batch : (b + 1) * batch]
            x = torch.from_numpy(images[rows]).float().div(255)[:, None]
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            loss = ((student.z0_mean(views(x, rng, mode == "any")) - target[rows]) ** 2).sum(1).mean() / spread
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step, total = step + 1, total + loss.item()
        seconds = time.perf_counter() - started
        print(f"epoch {epoch + 1}: unexplained {total / (len(images) // batch):.4f}, {seconds:.0f} s")
    save_model(out, student.eval())
    for view in ("single", "d8"):
        table = embed(out, list(SETS), EmbedConfig(dihedral_average=view == "d8", threads=1), progress=False)
        for name in SETS:
            print(f"RESULT {view} {name}: {scored(table, name)[0]}")


if __name__ == "__main__":
    main()
