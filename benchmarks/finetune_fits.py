"""A fine-tuned classifier on raw survey FITS: does a raw FIRST cutout get the call its
curated MiraBest rendering gets, and how often is it right?

Usage: python benchmarks/finetune_fits.py [--model finetuned-mbc] [--fits ../shared/data/first_fits]

The FITS are MiraBest *uncertain* and hybrid sources (none in `mbc:train`); their labels
(docs/examples/first_fits_catalogue.csv, MiraBest's own) score the 40 FRI/FRII ones only.
Printed: accuracy on the FITS and on MiraBest's renderings of the same sources, the share
of sources given the same call both ways, the largest |p_frii| difference, and the share
flagged out of domain. No FITS of an MBC test source is available here.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_POOL, FolderConfig
from radiolatent.data.dataset import RadioDataset
from radiolatent.downstream.image_predict import ImagePredictor
from radiolatent.models.shipped import model_path
from radiolatent.training.runs import labelled_dataset

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "docs" / "examples" / "first_fits_catalogue.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="finetuned-mbc")
    parser.add_argument("--fits", type=Path, default=ROOT.parent / "shared" / "data" / "first_fits")
    args = parser.parse_args()
    predictor = ImagePredictor(model_path(args.model))
    pool = dataclasses.replace(DEFAULT_POOL, folder=FolderConfig(catalogue=str(CATALOGUE), survey="FIRST"))
    fits = labelled_dataset(f"fits=folder@{args.fits}", pool)
    keep = fits.meta["label"].isin([0, 1]).to_numpy()
    fits = RadioDataset(fits.name, fits.images[keep], fits.meta[keep].reset_index(drop=True))
    mirabest = labelled_dataset("mirabest:uncertain")
    stems = mirabest.meta["filename"].str.removesuffix(".png")
    at = pd.Index(stems).get_indexer(fits.meta["filename"].str.removesuffix(".fits"))
    assert (at >= 0).all(), "every FITS source has its MiraBest rendering"
    curated = RadioDataset("curated", mirabest.images[at], mirabest.meta.iloc[at].reset_index(drop=True))
    on_fits, on_curated = predictor.predict(fits), predictor.predict(curated)
    truth = np.where(fits.meta["label"] == 1, "FRII", "FRI")
    print(f"{args.model} on {len(fits)} raw FIRST FITS of MiraBest uncertain FRI/FRII sources:")
    print(
        f"  accuracy on the FITS {np.mean(on_fits['prediction'] == truth):.3f}, on MiraBest's renderings "
        f"{np.mean(on_curated['prediction'] == truth):.3f}"
    )
    print(
        f"  same call both ways {np.mean(on_fits['prediction'] == on_curated['prediction']):.3f}; largest "
        f"|p_frii| difference {np.abs(on_fits['p_frii'] - on_curated['p_frii']).max():.3f}"
    )
    print(
        f"  flagged out of domain: FITS {on_fits['out_of_domain'].mean():.3f}, renderings "
        f"{on_curated['out_of_domain'].mean():.3f}"
    )


if __name__ == "__main__":
    main()
