"""The SSL measurements behind docs/ssl.md's "What we tried for issue 21".

    python benchmarks/ssl_issue21.py layers simclr-cpu   # earlier ResNet stages' pools, single view
    python benchmarks/ssl_issue21.py radius              # emission radius: FR-DEEP N vs F, zoomed-out F
    python benchmarks/ssl_issue21.py view-cost           # time of the SSL views, with and without zoom-out
    python benchmarks/ssl_issue21.py untrained [single,d8] [STRIDE]  # the `cpu` backbone, seed 0, untrained
    python benchmarks/ssl_issue21.py metrics             # the shipped runs' training_metrics.csv, first/last epochs
    python benchmarks/ssl_issue21.py crop-flux [DRAWS]   # flux kept inside the `cpu` preset's views
    python benchmarks/ssl_issue21.py invariance          # code distances: jitter vs flip / turn vs other sources

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
from single_pass import scored

import radiolatent.data.ssl_views as ssl_views
import radiolatent.models.checkpoint as checkpoint
from radiolatent.config import DEFAULT_POOL, EmbedConfig, SSLViewConfig, preset
from radiolatent.data.ssl_views import random_view, two_views
from radiolatent.embedding import embed
from radiolatent.embedding.encoders import get_encoder
from radiolatent.embedding.tables import set_input
from radiolatent.models.shipped import WEIGHTS_DIR
from radiolatent.models.ssl import build_ssl

SSL_MODELS = ("simclr-cpu", "byol-cpu", "simsiam-cpu")

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
        cells = [best_scores(pd.concat([meta, part], axis=1), spec) for spec in ("mbc", "frdeep-n")]
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


def best_scores(table: pd.DataFrame, spec: str) -> str:
    """The study's protocol on one set (single_pass.scored): its best classifier's
    accuracy / ROC-AUC, and the best ROC-AUC of the six."""
    return f"{spec}: {scored(table, spec)[0]}"


def untrained_backbone(method: str = "simclr", stem_stride: int = 2) -> torch.nn.Module:
    """The `cpu` preset's ResNet-18 as `build_ssl(cfg, seed=0)` draws it: the shipped
    runs' starting weights (the backbone is drawn first, so all three methods share it).
    stem_stride=1: the same network with `paper`'s stem stride (full 64x64 grid)."""
    cfg = dataclasses.replace(preset(method, "cpu").model, stem_stride=stem_stride)
    return build_ssl(cfg, seed=0).backbone.eval()


def untrained(views: str, stem_stride: int = 2) -> None:
    same = [untrained_backbone(m).state_dict() for m in ("simclr", "byol", "simsiam")]
    print("same initial backbone for the three methods:", all(torch.equal(same[0][k], s[k]) for s in same for k in s))
    checkpoint.load_model = lambda path, *a, **k: untrained_backbone(stem_stride=stem_stride)
    for view in views.split(","):
        config = EmbedConfig(dihedral_average=view == "d8", threads=1)
        started = time.perf_counter()
        table = embed("simclr-cpu", ["mbc", "frdeep-n"], config, progress=False)
        cells = " | ".join(best_scores(table, spec) for spec in ("mbc", "frdeep-n"))
        print(
            f"RESULT untrained, stem stride {stem_stride}, {view}: {cells} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


def metrics() -> None:
    for model in SSL_MODELS:
        m = pd.read_csv(WEIGHTS_DIR / model / "training_metrics.csv")
        cols = ["epoch", "step", "loss", "val_loss", "feature_spread", "val_feature_spread", "grad_norm", "lr"]
        print(f"== {model}: {len(m)} epochs, {int(m['step'].iloc[-1])} steps")
        print(m[cols].iloc[[0, 1, -3, -2, -1]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for col in ("loss", "val_loss", "lr"):
            print(f"  {col} by epoch: " + " ".join(f"{v:.4g}" for v in m[col]))


def geometric_kept(x: torch.Tensor, rng_seed: int, cfg: SSLViewConfig) -> np.ndarray:
    """Fraction of each image's summed pixel values inside one view (geometric step only:
    crop, rotation, flips as the views draw them), the crop's zoom undone by its area."""
    grab: list[torch.Tensor] = []
    affine_grid = ssl_views.F.affine_grid
    ssl_views.F.affine_grid = lambda theta, *a, **k: grab.append(theta) or affine_grid(theta, *a, **k)
    try:
        view = ssl_views._geometric(x, np.random.default_rng(rng_seed), cfg)
    finally:
        ssl_views.F.affine_grid = affine_grid
    theta = grab[0].double()
    # output pixel area in input pixels: |det| of the affine map (width x height of the crop)
    det = (theta[:, 0, 0] * theta[:, 1, 1] - theta[:, 0, 1] * theta[:, 1, 0]).abs()
    return (view.double().sum((1, 2, 3)) * det / x.double().sum((1, 2, 3)).clamp_min(1e-12)).numpy()


def crop_flux(draws: int) -> None:
    views = preset("simclr", "cpu").views
    variants = {
        "cpu views (crop+rotation+flips)": preset,
        "crop only (no rotation)": dataclasses.replace(preset, rotate_p=0.0),
        "rotation only (full crop)": dataclasses.replace(preset, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)),
        "stronger crop, 50-100 % of the area (no preset)": dataclasses.replace(preset, crop_scale=(0.5, 1.0)),
        "identity (check)": dataclasses.replace(
            views, rotate_p=0.0, flip_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)
        ),
    }
    for spec in ("pool", "mbc", "frdeep-n"):
        images = np.asarray(set_input(spec, DEFAULT_POOL)[0].images)
        x = torch.from_numpy(images.astype(np.float32) / 255)[:, None]
        source = x * (x >= 0.1 * x.amax((2, 3), keepdim=True))  # pixels above 10 % of the peak
        for name, cfg in variants.items():
            for label, inp in (("all pixels", x), ("source >10% peak", source)):
                kept = np.concatenate([geometric_kept(inp, seed, cfg) for seed in range(draws)])
                print(
                    f"RESULT {spec} ({len(images)} images x {draws} draws) {name}, {label}: "
                    f"median {np.median(kept):.3f}, "
                    f"5th pct {np.percentile(kept, 5):.3f}, 1st pct {np.percentile(kept, 1):.3f}, "
                    f"lose >5% {np.mean(kept < 0.95):.3f}, lose >20% {np.mean(kept < 0.8):.3f}",
                    flush=True,
                )


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return 1.0 - (a * b).sum(1)


def invariance() -> None:
    """Median cosine distance between an image's code and the code of a changed copy, and
    between the codes of two different images (a random pairing), single pass; in brackets
    each as a fraction of the two-sources distance."""
    torch.set_num_threads(1)
    views = preset("simclr", "cpu").views
    always = dataclasses.replace(views, jitter_p=1.0)
    for spec in ("mbc:test", "frdeep-n:test"):
        images = np.asarray(set_input(spec, DEFAULT_POOL)[0].images)
        x = torch.from_numpy(images.astype(np.float32) / 255)[:, None]
        changed = {
            "jitter (b, c in [0.7, 1.3])": ssl_views._jitter(x, np.random.default_rng(0), always).clamp(0, 1),
            "horizontal flip": x.flip(3),
            "quarter turn": x.rot90(1, (2, 3)),
            "one cpu view": random_view(x, np.random.default_rng(0), preset),
        }
        # a 45-degree turn (no crop, no flip): the corners fall outside, as in the views
        theta = torch.tensor([[[0.7071, -0.7071, 0.0], [0.7071, 0.7071, 0.0]]]).repeat(len(x), 1, 1)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        changed["45 deg rotation"] = torch.nn.functional.grid_sample(x, grid, align_corners=False)
        pairs = np.random.default_rng(0).permutation(len(x))
        pairs = np.where(pairs == np.arange(len(x)), np.roll(pairs, 1), pairs)
        encoders = {"untrained": untrained_backbone()}
        for model in SSL_MODELS:
            encoders[model] = get_encoder(model, EmbedConfig(dihedral_average=False, threads=1)).model
        for name, net in encoders.items():
            with torch.inference_mode():
                base = net(x).numpy()
                moved = {k: net(v).numpy() for k, v in changed.items()}
            # raw: the pooled ReLU features as embedded; centred: less the set's mean code, so
            # the direction all non-negative codes share does not hide the differences
            for how, mean in (("raw", 0.0), ("centred", base.mean(0))):
                other = np.median(cosine_distance(base - mean, base[pairs] - mean))
                cells = {k: np.median(cosine_distance(base - mean, v - mean)) for k, v in moved.items()}
                row = ", ".join(f"{k} {v:.4f} ({v / other:.2f})" for k, v in cells.items())
                print(f"RESULT {spec} ({len(x)} images) {name} {how}: two sources {other:.4f}; {row}", flush=True)


if __name__ == "__main__":
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task == "layers":
        layers(sys.argv[2])
    elif task == "radius":
        radius()
    elif task == "view-cost":
        view_cost()
    elif task == "untrained":
        untrained(sys.argv[2] if len(sys.argv) > 2 else "single,d8", int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    elif task == "metrics":
        metrics()
    elif task == "crop-flux":
        crop_flux(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    elif task == "invariance":
        invariance()
    else:
        sys.exit(__doc__)
