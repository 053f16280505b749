"""Survey-aware reading on the shared real cutouts: the figures in docs/survey.md.

Usage: python benchmarks/survey_inputs.py [--shared ../shared/data]

* coarse beams: the FRII seen by FIRST, NVSS and VLASS (frii_three_surveys/) is read
  with the native-pixel rule and without it (native_beam_pixels=None); for each reading
  of the NVSS file, the best pixel correlation with a shipped FR-DEEP NVSS image. The 52
  FIRST FITS and 213 VLASS epochs must read the same either way, array for array.
* partial cutouts: none of the real cutouts is skipped; each VLASS epoch cut at a tile
  edge d arcsec past its source (the image centre) is skipped for small d;
* why the rule looks at the field, not at the emission: how many whole cutouts have their
  nearest component above 10 sigma far from the centre.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage

from radiolatent.config import FolderConfig, SurveyImageConfig
from radiolatent.data.preprocess import centre_crop
from radiolatent.data.registry import load_dataset
from radiolatent.data.sources.folder import load_folder, skipped_files
from radiolatent.data.survey import background, field_side, make_survey_cutout, partial_reason, resample

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RESAMPLE_ALL = FolderConfig(survey_image=SurveyImageConfig(native_beam_pixels=None))


def read_plane(file: Path) -> tuple[np.ndarray, float]:
    """(float plane, arcsec per pixel) of a 2-D FITS cutout with CDELT2 (all the shared ones)."""
    with fits.open(file) as hdus:
        return hdus[0].data.astype(np.float64), abs(hdus[0].header["CDELT2"]) * 3600


def best_correlation(image: np.ndarray, images: np.ndarray) -> tuple[float, int]:
    flat = images.reshape(len(images), -1).astype(float)
    flat -= flat.mean(axis=1, keepdims=True)
    one = image.astype(float).ravel() - image.mean()
    corr = flat @ one / (np.linalg.norm(flat, axis=1) * np.linalg.norm(one))
    return float(corr.max()), int(corr.argmax())


def coarse_beams(shared: Path) -> None:
    frdeep = load_dataset("frdeep-n")
    for name, config in (("native rule", FolderConfig()), ("resample all", RESAMPLE_ALL)):
        ds = load_folder(shared / "frii_three_surveys", config=config)
        row = int(np.flatnonzero(ds.meta["filename"].str.startswith("NVSS"))[0])
        corr, best = best_correlation(ds.images[row, :150, :150], frdeep.images)
        print(
            f"{name}: scales {dict(zip(ds.meta['filename'].str[:5], ds.meta['pixel_scale_arcsec'].round(2)))}; "
            f"NVSS best pixel correlation with FR-DEEP NVSS {corr:.2f} ({frdeep.meta['label_name'].iloc[best]})"
        )
    for folder in ("first_fits", "vlass_epochs"):
        ours, before = load_folder(shared / folder), load_folder(shared / folder, config=RESAMPLE_ALL)
        same = np.array_equal(ours.images, before.images)
        skipped = [item["file"] for item in skipped_files(ours)]
        print(f"{folder}: {len(ours)} read, skipped {skipped}, same arrays as before: {same}")


def partial_cuts(shared: Path, config: SurveyImageConfig) -> None:
    files = sorted((shared / "vlass_epochs").glob("*.fits.gz"))
    for past in (0, 40, 80, 100, 110, 140):
        skipped = 0
        for file in files:
            plane, scale = read_plane(file)
            centre = plane.shape[1] // 2
            cut = plane[:, : centre + round(past / scale)]
            skipped += partial_reason(make_survey_cutout(cut, scale, config, str(file)), scale, config) is not None
        print(f'VLASS epochs cut {past:3d}" past their source: {skipped}/{len(files)} skipped as partial')


def emission_offsets(shared: Path, config: SurveyImageConfig) -> None:
    offsets = []
    for file in sorted((shared / "first_fits").glob("*.fits")) + sorted((shared / "vlass_epochs").glob("*.fits.gz")):
        plane, scale = read_plane(file)
        field = centre_crop(plane[None], field_side(scale, config, plane.shape))[0]
        field = resample(field.astype(np.float32), scale, config)
        median, std = background(field, config)
        sigma = np.where(np.isfinite(field), (field - median) / std, 0.0)
        labels, count = ndimage.label(sigma >= 3, structure=np.ones((3, 3)))
        peaks = np.asarray(ndimage.maximum(sigma, labels, np.arange(1, count + 1)))
        rows, cols = np.nonzero(np.isin(labels, 1 + np.flatnonzero(peaks >= 10)))
        if len(rows):
            radius = np.hypot(rows - (field.shape[0] - 1) / 2, cols - (field.shape[1] - 1) / 2)
            offsets.append(radius.min() / (min(field.shape) / 2))
    far = np.asarray(offsets)
    print(
        f"{len(far)} whole cutouts with a component above 10 sigma; the nearest lies beyond half the "
        f"half-side in {(far > 0.5).sum()}, beyond three quarters in {(far > 0.75).sum()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    coarse_beams(args.shared)
    config = SurveyImageConfig()
    partial_cuts(args.shared, config)
    emission_offsets(args.shared, config)


if __name__ == "__main__":
    main()
