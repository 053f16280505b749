"""Settings of the data layer: folders, survey images, cutouts, archives, preprocessing, pools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from radiolatent.config.core import CHECKS, SPEED_ONLY, Settings, _Problems, check_presets

# ---------------------------------------------------------------------------
# Data: the metadata contract and dataset names. Facts about the shipped datasets (MD5s,
# MiraBest codes, class tables, pixel scales) live beside their loaders in data/.
# ---------------------------------------------------------------------------

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
# Data: user-supplied folders (RGZ DR1 batches, any folder of cutouts)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RGZConfig(Settings):
    """The published RGZ DR1 "rgz108k" batch folder layout."""

    #: each row of a batch's `data` is one side x side FIRST image, flattened.
    image_side: int = 150
    survey: str = "FIRST"
    train_prefix: str = "data_batch_"
    test_name: str = "test_batch"
    required_keys: tuple[str, ...] = ("data", "filenames", "src_ids", "mb_flag", "LAS")


@dataclass(frozen=True)
class SurveyImageConfig(Settings):
    """How a survey image becomes a cutout like the curated archives' (data/survey.py).

    The defaults are MiraBest's recipe for FIRST: a 270" field (150 pixels of 1.8"),
    background below 3 sigma set to zero, the rest stretched to 0..255.
    """

    #: side of the square field kept around the image centre; None keeps the whole image.
    field_arcsec: float | None = 270.0
    #: resample to this scale when the native one differs (the shipped models saw FIRST's
    #: 1.8"/px); None keeps native pixels.
    pixel_scale_arcsec: float | None = 1.8
    #: zero pixels below median + k sigma of the sigma-clipped background; None = no clip.
    clip_sigma: float | None = 3.0
    #: astropy sigma_clipped_stats settings for the background estimate.
    background_sigma: float = 3.0
    background_iters: int = 5
    #: images of unknown pixel scale larger than this are centre-cropped to it, so one
    #: mosaic dropped among cutouts cannot make the folder pad to its size.
    max_side: int = 512
    #: a beam wider than this many model pixels (10 x 1.8" = 18") is too coarse to be
    #: resampled to the model's pixels (NVSS's 45" beam would be 25 pixels: a featureless
    #: blob); such images, when their pixels are coarser than the model's, keep them,
    #: `native_field_pixels` across, as the shipped FR-DEEP NVSS set does. None always resamples.
    native_beam_pixels: float | None = 10.0
    native_field_pixels: int = 150
    #: without a beam in the header, the beam is taken as this many native pixels (surveys
    #: sample their beam with about 3: FIRST 5.4" / 1.8", NVSS 45" / 15").
    pixels_per_beam: float = 3.0
    #: a cutout is partial (cut at a tile or mosaic edge, so its source is off-centre) when
    #: the data in the field asked (NaN / BLANK borders excluded) span less than this
    #: fraction of one axis on the other.
    min_aspect: float = 0.9


@dataclass(frozen=True)
class FolderConfig(Settings):
    """A user's folder of cutouts (FITS / PNG / JPEG / .npy) and optional catalogue."""

    #: which files, a glob matched against paths relative to the folder ("**/*.fits").
    files: str = "**/*"
    #: the pixel scale of files that carry none (PNG, JPEG, .npy, FITS without WCS).
    pixel_scale_arcsec: float | None = None
    #: survey name written to the metadata of files that carry none (e.g. "FIRST").
    survey: str | None = None
    #: a catalogue (CSV, FITS table, VOTable); None looks for catalogue.{csv,fits,vot,xml}
    #: at the folder's top level.
    catalogue: str | None = None
    #: True: a file that is skipped (not a readable image, not sky brightness, partial)
    #: stops the load; False: skipped and counted.
    strict: bool = False
    #: keep partial cutouts (a tile edge cut the field, or the source is far off-centre).
    keep_partial: bool = False
    #: an image whose header declares more pixels is refused before its data is read
    #: (a 60-byte header can declare 40 billion: 149 GiB).
    max_image_pixels: int = 100_000_000
    survey_image: SurveyImageConfig = field(default_factory=SurveyImageConfig)
    catalogue_names: tuple[str, ...] = ("catalogue.csv", "catalogue.fits", "catalogue.vot", "catalogue.xml")
    fits_suffixes: tuple[str, ...] = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
    picture_suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")
    array_suffixes: tuple[str, ...] = (".npy",)
    #: when sizes differ: "pad" centre-pads every image with 0 to the largest height and
    #: width (pixel scale kept, so pixel crops stay right); "resize" centre-crops each to
    #: a square of its shorter side and resizes (bilinear) to the most common square side.
    mixed_sizes: Literal["pad", "resize"] = "pad"
    #: catalogue columns copied into the metadata when present.
    catalogue_columns: tuple[str, ...] = (
        "ra",
        "dec",
        "las_arcsec",
        "label",
        "label_name",
        "redshift",
        "survey",
        "pixel_scale_arcsec",
    )


@dataclass(frozen=True)
class CutoutConfig(Settings):
    """Cutting catalogue sources out of survey mosaics (data/cutouts.py, `data cutouts`)."""

    #: a source whose cutout is not fully inside any mosaic: "skip" (listed, not written)
    #: or "fill" (written with NaN outside the mosaic, and still listed).
    edge: Literal["skip", "fill"] = "skip"
    #: mosaic header keywords copied into every cutout: flux unit and restoring beam.
    keep_keywords: tuple[str, ...] = ("BUNIT", "BMAJ", "BMIN", "BPA")
    #: catalogue columns written to the cutouts' catalogue beside filename, id, ra, dec, mosaic.
    carry_columns: tuple[str, ...] = ("label", "label_name", "las_arcsec", "redshift", "survey")


# ---------------------------------------------------------------------------
# Data: the archive cache (data/archives.py)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveConfig(Settings):
    """Where decoded archives are cached and how much one archive member may hold."""

    cache_env: str = "RADIOLATENT_CACHE"
    default_cache_dir: str = "~/.cache/radiolatent"
    #: bump when the cached arrays or metadata change shape, so stale caches are ignored.
    cache_version: int = 1
    #: refuse archive members larger than this once decompressed (zip/gzip bombs).
    max_member_bytes: int = 256 * 2**20


ARCHIVES = ArchiveConfig()


# ---------------------------------------------------------------------------
# Preprocessing: what the models see
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessConfig(Settings):
    """Centre crop, resize to `size`, scale to [0, 1] (stored as uint8 0..255).

    The paper centre-crops 64x64 pixels from 150x150 FIRST cutouts (1.8"/px),
    so the default crop is 64 native pixels and the resize is a no-op.
    `crop_arcsec`, when set, overrides `crop_pixels` using each image's pixel scale.
    """

    size: int = 64
    crop_pixels: int | None = 64
    crop_arcsec: float | None = None
    #: "minmax": per-image min-max after cropping; "none": keep the stored 0..255 values.
    scale: Literal["minmax", "none"] = "minmax"
    #: zero pixels below median + k * sigma (astropy sigma_clipped_stats); None = off.
    sigma_clip: float | None = None
    sigma_clip_iters: int = 5
    #: the clipping level astropy uses while estimating the background median and sigma.
    sigma_clip_stats_sigma: float = 3.0


@dataclass(frozen=True)
class LASConfig(Settings):
    """Angular-size estimator for cutouts with no catalogue LAS."""

    k_sigma: float = 3.0
    #: components touching this radius (fraction of the image half-width) count as central.
    central_fraction: float = 0.25
    #: components smaller than this many pixels are noise.
    min_pixels: int = 3
    #: background statistics: astropy sigma_clipped_stats(sigma=clip_sigma, maxiters=clip_iters).
    clip_sigma: float = 3.0
    clip_iters: int = 5
    #: a detached component (e.g. the far lobe of a double) joins the source when its flux is at
    #: least this fraction of the central components' flux; None = central components only.
    #: Tuned on MiraBest's catalogue LAS (docs/defaults.md#data-configdatapy).
    companion_flux_fraction: float | None = 0.02
    #: ... and it comes within this fraction of the image half-width of the centre.
    companion_radius_fraction: float = 1.0
    #: keep detached components only in pairs on opposite sides of the centre (at least
    #: companion_pair_angle degrees apart, seen from the centre), as the lobes of a double are.
    companion_pairs: bool = True
    companion_pair_angle: float = 120.0
    #: worker processes for a set of at least `parallel_from` images (each image's size is
    #: its own: the sizes do not depend on it, and a pool's cache key leaves it out).
    jobs: int = field(default=2, metadata=SPEED_ONLY)
    parallel_from: int = field(default=1000, metadata=SPEED_ONLY)


@dataclass(frozen=True)
class GridConfig(Settings):
    """Image grids (data show, search results, galleries): exact PNG size = panels x dpi."""

    panel_inches: float = 1.6
    caption_inches: float = 0.25
    title_inches: float = 0.4
    caption_fontsize: float = 7.0
    title_fontsize: float = 10.0
    dpi: int = 100


# ---------------------------------------------------------------------------
# Pools: unlabelled pre-training sets with every evaluation source removed
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolConfig(Settings):
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
    #: drop cutouts whose model input is blank (the source lies outside the central crop).
    drop_blank: bool = True
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    las: LASConfig = field(default_factory=LASConfig)
    #: how folder sources (folder@DIR, in the pool or embedded beside it) are read.
    folder: FolderConfig = field(default_factory=FolderConfig)


def _survey_image_problems(c: SurveyImageConfig) -> list[str]:
    p = _Problems()
    p.need(
        c.native_beam_pixels is None or c.native_beam_pixels > 0,
        "native_beam_pixels",
        "must be positive or None",
        c.native_beam_pixels,
    )
    p.need(c.native_field_pixels >= 1, "native_field_pixels", "must be at least 1", c.native_field_pixels)
    p.need(c.pixels_per_beam > 0, "pixels_per_beam", "must be positive", c.pixels_per_beam)
    p.need(0 < c.min_aspect <= 1, "min_aspect", "must be in (0, 1]", c.min_aspect)
    return p


CHECKS[SurveyImageConfig] = _survey_image_problems


def _las_problems(c: LASConfig) -> list[str]:
    p = _Problems()
    p.need(c.jobs >= 1, "jobs", "must be at least 1", c.jobs)
    p.need(c.parallel_from >= 1, "parallel_from", "must be at least 1", c.parallel_from)
    return p


CHECKS[LASConfig] = _las_problems

DEFAULT_POOL = PoolConfig()

check_presets(ARCHIVES, DEFAULT_POOL)
