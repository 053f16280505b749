"""Raw FIRST FITS against their shipped MiraBest renderings: does a FITS code land on its own source?

Usage: python benchmarks/first_fits.py [--fits ../shared/data/first_fits] [--seeds 0 1 2]

The folder holds raw FIRST cutouts (300x300 float Jy/beam, WCS) of MiraBest uncertain and
hybrid sources; each source is also in the shipped MiraBest archive as a 150x150 uint8
image made by MiraBest's pipeline. Both are embedded with the shipped VDVAE (the default
encoder), single view and averaged over the 8 flips and turns, and compared:

* own-source rate: how often a FITS code's nearest shipped MiraBest code (cosine, over
  all 1,256) is the same source's;
* the median cosine between a FITS code and its counterpart's;
* FRI/FRII agreement: the paper's six classifiers, trained on shipped `mbc:train` codes,
  give the FITS and its counterpart the same prediction (and, for the uncertain FRI/FRII
  sources, accuracy against MiraBest's label for both).

Two readers are compared: `survey` (this package: field cut before scaling, 3-sigma
background clip; data/survey.py) and `stretch-all` (what the folder loader did before:
the whole 9' field stretched to 8 bits, then cropped, rows flipped).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_CLASSIFY, DEFAULT_POOL, EmbedConfig, FolderConfig, SurveyImageConfig
from radiolatent.data.inputs import model_input
from radiolatent.data.preprocess import preprocess
from radiolatent.data.sources.folder import load_folder
from radiolatent.downstream.classify import make_classifier
from radiolatent.embedding import encode_images, get_encoder

SHARED_FITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_fits"
OLD_READER = FolderConfig(survey_image=SurveyImageConfig(field_arcsec=None, pixel_scale_arcsec=None, clip_sigma=None))


def fits_inputs(folder: Path, reader: str) -> tuple[np.ndarray, pd.DataFrame]:
    """64x64 model inputs of the FITS folder as one reader makes them."""
    if reader == "survey":
        ds = model_input(f"folder@{folder}")
        return np.asarray(ds.images), ds.meta
    ds = load_folder(folder, config=OLD_READER)
    flipped = np.ascontiguousarray(ds.images[:, ::-1])
    return preprocess(flipped, ds.meta["pixel_scale_arcsec"].to_numpy(float), DEFAULT_POOL.preprocess), ds.meta


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def compare(fits_codes, fits_meta, mb_codes, mb_meta, seeds) -> dict:
    stems = mb_meta["filename"].str.removesuffix(".png")
    counterpart = pd.Index(stems).get_indexer(fits_meta["id"].str.removeprefix("folder:"))
    assert (counterpart >= 0).all(), "every FITS file has a shipped MiraBest counterpart"
    cos = unit(fits_codes) @ unit(mb_codes).T
    own = cos.argmax(axis=1) == counterpart
    train = (mb_meta["confidence"] == "confident") & (mb_meta["split"] == "train") & mb_meta["label"].isin([0, 1])
    labelled = mb_meta["label"].to_numpy()[counterpart]
    fr = np.isin(labelled, [0, 1])
    rows = []
    for name in DEFAULT_CLASSIFY.classifiers:
        for seed in seeds:
            model = make_classifier(name, seed).fit(mb_codes[train.to_numpy()], mb_meta["label"][train].to_numpy())
            ours, theirs = model.predict(fits_codes), model.predict(mb_codes[counterpart])
            rows.append(
                {
                    "classifier": name,
                    "seed": seed,
                    "agree": np.mean(ours == theirs),
                    "acc_fits": np.mean(ours[fr] == labelled[fr]),
                    "acc_shipped": np.mean(theirs[fr] == labelled[fr]),
                }
            )
    per = pd.DataFrame(rows).groupby("classifier")[["agree", "acc_fits", "acc_shipped"]].mean()
    return {
        "n": len(fits_codes),
        "own_source_rate": float(own.mean()),
        "median_cosine": float(np.median(cos[np.arange(len(cos)), counterpart])),
        "per_classifier": per,
    }


def figure(folder: Path, out: Path, n: int = 4) -> Path:
    """Rows of: the raw FITS field, what the old reader gave the model, what this package
    gives it, and the shipped MiraBest image of the same source (north up in all)."""
    import matplotlib.pyplot as plt
    from astropy.io import fits
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    from radiolatent.core.fileio import save_figure

    mirabest = model_input("mirabest")
    shipped = dict(zip(mirabest.meta["filename"].str.removesuffix(".png"), mirabest.images))
    new, meta = fits_inputs(folder, "survey")
    old, _ = fits_inputs(folder, "stretch-all")
    picks = np.linspace(0, len(meta) - 1, n).astype(int)
    fig, axes = plt.subplots(n, 4, figsize=(8, 2.1 * n))
    titles = ("raw FITS, 9' field", "before: whole field stretched", "now: field, 3-sigma clip", "shipped MiraBest")
    for row, i in zip(axes, picks):
        stem = meta["id"].iloc[i].removeprefix("folder:")
        raw = fits.getdata(folder / f"{stem}.fits").astype(float)
        norm = ImageNormalize(raw, interval=PercentileInterval(99.9), stretch=AsinhStretch())
        row[0].imshow(raw, origin="lower", cmap="inferno", norm=norm)
        # the old reader flipped rows; flip back so all four panels show north up
        for ax, image in zip(row[1:], (old[i][::-1], new[i], shipped[stem])):
            ax.imshow(image, origin="lower", cmap="inferno", vmin=0, vmax=255)
        row[0].set_ylabel(stem.split("_")[1], fontsize=7)
        for ax in row:
            ax.set_xticks([]), ax.set_yticks([])
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=8)
    return save_figure(fig, out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=Path, default=SHARED_FITS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--figure", type=Path, help="write the comparison figure here and stop")
    args = parser.parse_args()
    if args.figure:
        print(f"wrote {figure(args.fits, args.figure)}")
        return
    mirabest = model_input("mirabest")
    for views, average in (("single view", False), ("8 views", True)):
        config = EmbedConfig(dihedral_average=average)
        encoder = get_encoder(None, config)
        started = time.perf_counter()
        mb_codes = encode_images(encoder, np.asarray(mirabest.images), config)
        for reader in ("stretch-all", "survey"):
            images, meta = fits_inputs(args.fits, reader)
            result = compare(encode_images(encoder, images, config), meta, mb_codes, mirabest.meta, args.seeds)
            per = result["per_classifier"]
            print(
                f"\n{encoder.name}, {views}, reader {reader}: {result['n']} FITS files, "
                f"own source nearest {result['own_source_rate']:.1%}, median cosine {result['median_cosine']:.3f}, "
                f"FRI/FRII agreement {per['agree'].min():.1%}-{per['agree'].max():.1%} "
                f"(mean over classifiers {per['agree'].mean():.1%})"
            )
            print(per.round(3).to_string())
        print(f"({views}: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
