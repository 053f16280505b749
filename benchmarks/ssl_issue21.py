"""The SSL measurements behind docs/ssl.md's "What we tried for issue 21".

    python benchmarks/ssl_issue21.py layers simclr-cpu   # earlier ResNet stages' pools, single view
    python benchmarks/ssl_issue21.py radius              # emission radius: FR-DEEP N vs F, zoomed-out F
    python benchmarks/ssl_issue21.py view-cost           # time of the SSL views, with and without zoom-out

Scores are the study's protocol (benchmarks/single_pass.py): six classifiers, seeds 0-2,
the best by mean accuracy with its ROC-AUC and the best ROC-AUC of the six.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np
import pandas as pd
import torch

import radiolatent.models.checkpoint as checkpoint
from radiolatent.config import DEFAULT_POOL, EmbedConfig, SSLViewConfig
from radiolatent.data.ssl_views import random_view, two_views
from radiolatent.downstream.classify import classify_codes
from radiolatent.embedding import embed
from radiolatent.embedding.tables import set_input

#: column ranges of the concatenated layer2 | layer3 | layer4 pools (128 + 256 + 512)
LAYERS = {"layer4": (384, 896), "layer3": (128, 384), "layer2": (0, 128), "layer3+layer4": (128, 896)}


class StagePools(torch.nn.Module):
    """A ResNet backbone's global-average pools after layer2, layer3 and layer4."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone.net
        x = net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))
        l2 = net.layer2(x)
        l3 = net.layer3(l2)
        l4 = net.layer4(l3)
        return torch.cat([l2.mean((2, 3)), l3.mean((2, 3)), l4.mean((2, 3))], 1)


def layers(model: str) -> None:
    load = checkpoint.load_model
    checkpoint.load_model = lambda path, *a, **k: StagePools(load(path, *a, **k))
    table = embed(model, ["mbc", "frdeep-n"], EmbedConfig(dihedral_average=False, threads=1), progress=False)
    codes = [c for c in table.columns if c.startswith("z") and c[1:].isdigit()]
    meta = table.drop(columns=codes)
    for name, (a, b) in LAYERS.items():
        part = table[codes[a:b]].set_axis([f"z{i:03d}" for i in range(b - a)], axis=1)
        cells = []
        for spec in ("mbc", "frdeep-n"):
            result = classify_codes(pd.concat([meta, part], axis=1), f"{spec}:train", f"{spec}:test", seeds=[0, 1, 2])
            scores = result.table.pivot(index="classifier", columns="metric", values="mean")
            best = scores["accuracy"].idxmax()
            cells.append(
                f"{spec} {best} {scores['accuracy'][best]:.3f} / {scores['roc_auc'][best]:.3f} "
                f"(best ROC-AUC {scores['roc_auc'].max():.3f})"
            )
        print(f"RESULT {model} {name}: " + " | ".join(cells), flush=True)


def emission_radius(image: np.ndarray, level: float = 0.1) -> float:
    """Flux-weighted rms radius (pixels) of the emission above `level` of the peak."""
    flux = np.clip(image.astype(float) - np.median(image), 0, None)
    if flux.max() <= 0:
        return np.nan
    flux[flux < level * flux.max()] = 0
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    total = flux.sum()
    my, mx = (flux * yy).sum() / total, (flux * xx).sum() / total
    return float(np.sqrt((flux * ((yy - my) ** 2 + (xx - mx) ** 2)).sum() / total))


def radius() -> None:
    quartiles = lambda images: np.nanpercentile([emission_radius(i) for i in images], [25, 50, 75]).round(2)  # noqa: E731
    nvss, first = set_input("frdeep-n:train", DEFAULT_POOL)[0], set_input("frdeep-f:train", DEFAULT_POOL)[0]
    print("FR-DEEP N radius quartiles (px):", quartiles(nvss.images))
    print("FR-DEEP F radius quartiles (px):", quartiles(first.images))
    x = torch.from_numpy(np.asarray(first.images).astype(np.float32) / 255)[:, None]
    for zoom in (1.5, 2.0, 3.0, 4.0):
        for beam in (0.6, 1.2):
            cfg = dataclasses.replace(
                SSLViewConfig(), zoom_out_p=1.0, zoom_out=(zoom, zoom), zoom_out_beam=beam, crop_scale=(1.0, 1.0)
            )
            cfg = dataclasses.replace(cfg, jitter_p=0.0, blur_p=0.0)
            views = random_view(x, np.random.default_rng(0), cfg).numpy()[:, 0]
            print(f"FR-DEEP F zoomed out x{zoom}, beam {beam} px:", quartiles(views))


def view_cost() -> None:
    torch.set_num_threads(1)
    x = torch.rand(64, 1, 64, 64)
    zoom = dataclasses.replace(SSLViewConfig(), zoom_out_p=0.5, zoom_out=(1.5, 4.0), zoom_out_beam=1.0)
    for name, cfg in (("shipped views", SSLViewConfig()), ("with zoom-out", zoom)):
        rng = np.random.default_rng(0)
        two_views(x, rng, cfg)
        started = time.perf_counter()
        for _ in range(20):
            two_views(x, rng, cfg)
        print(f"{name}: {(time.perf_counter() - started) / 20 * 1000:.1f} ms per batch of 64 pairs (1 thread)")


if __name__ == "__main__":
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task == "layers":
        layers(sys.argv[2])
    elif task == "radius":
        radius()
    elif task == "view-cost":
        view_cost()
    else:
        sys.exit(__doc__)
