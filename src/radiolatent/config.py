"""Every setting of radiolatent, typed, in one place.

Each area owns one section below (data, preprocessing, pools, models, training,
downstream). Code elsewhere takes these objects as arguments instead of
hard-coding numbers, so a reader can see every default here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def config_hash(*objs: Any) -> str:
    """Short stable hash of dataclass configs (and plain values), for cache keys."""
    payload = [dataclasses.asdict(o) if dataclasses.is_dataclass(o) else o for o in objs]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------
# Data: the shipped archives and their published checksums
# ---------------------------------------------------------------------------

#: archive file name -> the authors' MD5 (see the data README).
ARCHIVE_MD5 = {
    "MiraBest_F_batches.tar.gz": "7d4e3a623d29db7204bce81676ee8ce2",
    "NVSS_PNG_dataset.tar.gz": "2584ed1e174ea71f581d0e0d6f32ef38",
    "FIRST_PNG_dataset.tar.gz": "2f39461e6c62fb45289559915106013a",
    "galaxy_data.zip": "79bc5dfae745fce0186a7e686e99dac8",
}

#: arcsec per pixel of each survey's cutouts.
PIXEL_SCALE_ARCSEC = {"FIRST": 1.8, "NVSS": 15.0}

#: the metadata columns every dataset provides (NaN / -1 / "" where unknown).
META_COLUMNS = (
    "id",
    "dataset",
    "split",
    "label",
    "label_name",
    "ra",
    "dec",
    "las_arcsec",
    "redshift",
    "survey",
    "pixel_scale_arcsec",
)

#: short names users type for the evaluation sets.
DATASET_ALIASES = {"mbc": "mirabest:confident", "nvss": "frdeep-n", "mb": "mirabest:all"}


# ---------------------------------------------------------------------------
# Preprocessing: what the models see
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessConfig:
    """Centre crop, resize to `size`, scale to [0, 1] (stored as uint8 0..255).

    The paper centre-crops 64x64 pixels from 150x150 FIRST cutouts (1.8"/px),
    so the default crop is 64 native pixels and the resize is a no-op.
    `crop_arcsec`, when set, overrides `crop_pixels` using each image's pixel scale.
    """

    size: int = 64
    crop_pixels: int | None = 64
    crop_arcsec: float | None = None
    #: "minmax": per-image min-max after cropping; "none": keep the stored 0..255 values.
    scale: str = "minmax"
    #: zero pixels below median + k * sigma (astropy sigma_clipped_stats); None = off.
    sigma_clip: float | None = None
    sigma_clip_iters: int = 5


@dataclass(frozen=True)
class LASConfig:
    """Angular-size estimator for cutouts with no catalogue LAS."""

    k_sigma: float = 3.0
    #: components touching this radius (fraction of the image half-width) count as central.
    central_fraction: float = 0.25
    #: components smaller than this many pixels are noise.
    min_pixels: int = 3


# ---------------------------------------------------------------------------
# Pools: unlabelled pre-training sets with every evaluation source removed
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolConfig:
    """A pre-training pool: a union of dataset specs minus evaluation sources."""

    sources: tuple[str, ...] = (
        "first-galaxy:all",
        "frdeep-f:train",
        "mirabest:uncertain",
        "mirabest:hybrid",
    )
    #: evaluation sets no pool source may match, by position or by image. FR-DEEP N and F
    #: show the same objects; only the FIRST images can be matched against a FIRST pool,
    #: so frdeep-f:test stands for the NVSS test set too.
    exclude: tuple[str, ...] = ("mirabest:confident", "frdeep-f:test")
    match_radius_arcsec: float = 30.0
    #: pixel correlation above which two images count as the same source (FR-DEEP has no positions).
    image_match_threshold: float = 0.99
    #: drop sources below this largest angular size (catalogue LAS, else the estimator's); 0 = keep all.
    min_las_arcsec: float = 0.0
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    las: LASConfig = field(default_factory=LASConfig)


DEFAULT_POOL = PoolConfig()
