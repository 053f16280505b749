"""Score an encoder as the study's Table 2 stages do, single pass and +d8 (issue 21).

    python benchmarks/single_pass.py MODEL [--views single,d8] [--align]

MODEL is a shipped name (vdvae-cpu, vdvae-distil-cpu, simclr-cpu, ...), a run folder or a
floor. Prints, per set (MBC, FR-DEEP NVSS), the best of the six classifiers by accuracy
with its ROC-AUC and the best ROC-AUC, means over classifier seeds 0-2, then the table.
`--align` rotates each image to its principal axis first (flux-weighted second moments,
then the flips that make both third moments positive): a canonical orientation with no
training, tried for docs/vdvae.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

import radiolatent.embedding.tables as tables
from radiolatent.config import EmbedConfig
from radiolatent.downstream.classify import classify_codes
from radiolatent.embedding import embed

SETS = ("mbc", "frdeep-n")


def principal_axis(image: np.ndarray) -> np.ndarray:
    """`image` turned so its flux's major axis is horizontal, flipped so the third moments
    along both axes are positive (uint8 in, uint8 out)."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    flux = np.clip(image - np.median(image), 0, None).astype(np.float64)
    flux[flux < 0.1 * flux.max()] = 0  # the source, not the noise, sets the axis
    total = flux.sum() or 1.0
    my, mx = (flux * yy).sum() / total, (flux * xx).sum() / total
    mu20 = (flux * (xx - mx) ** 2).sum() / total
    mu02 = (flux * (yy - my) ** 2).sum() / total
    mu11 = (flux * (xx - mx) * (yy - my)).sum() / total
    angle = 0.5 * np.degrees(np.arctan2(2 * mu11, mu20 - mu02))
    turned = ndimage.rotate(image.astype(np.float32), angle, reshape=False, order=1, mode="constant")
    rest = np.clip(turned - np.median(turned), 0, None)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    if (rest * (xx - cx) ** 3).sum() < 0:
        turned = turned[:, ::-1]
    if (rest * (yy - cy) ** 3).sum() < 0:
        turned = turned[::-1, :]
    return np.clip(np.rint(turned), 0, 255).astype(image.dtype)


def scored(table, name: str) -> tuple[str, str]:
    """The study's protocol on one set (classifier seeds 0-2): a line with the classifier
    the study's summary picks (`ClassificationResult.best`: highest mean accuracy, ties by
    ROC-AUC), its accuracy / ROC-AUC and the best ROC-AUC of the six; and the whole table."""
    result = classify_codes(table, f"{name}:train", f"{name}:test", seeds=[0, 1, 2])
    scores = result.table.pivot(index="classifier", columns="metric", values="mean")[["accuracy", "roc_auc"]]
    best = result.best()
    line = (
        f"best acc {best} {result.value(best, 'accuracy')[0]:.3f} / {result.value(best, 'roc_auc')[0]:.3f}; "
        f"best ROC-AUC {scores['roc_auc'].idxmax()} {scores['roc_auc'].max():.3f}"
    )
    return line, scores.round(3).to_string()


def aligned_encoding() -> None:
    """Make `embed` encode principal-axis-aligned images."""
    encode = tables.encode_images

    def encode_aligned(encoder, images, config, progress=False):
        return encode(encoder, np.stack([principal_axis(i) for i in np.asarray(images)]), config, progress)

    tables.encode_images = encode_aligned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--views", default="single,d8")
    parser.add_argument("--align", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.align:
        aligned_encoding()
    for view in args.views.split(","):
        started = time.perf_counter()
        config = EmbedConfig(dihedral_average=view == "d8", threads=args.threads)
        table = embed(args.model, list(SETS), config, progress=False)
        for name in SETS:
            line, scores = scored(table, name)
            print(f"RESULT {args.model} {view}{' aligned' if args.align else ''} {name}: {line}", flush=True)
            print(scores, flush=True)
        print(f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
