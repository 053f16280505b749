"""Every setting of radiolatent, typed, in one place.

Each area owns one section below (data, preprocessing, pools, models, training,
downstream). Code elsewhere takes these objects as arguments instead of
hard-coding numbers, so a reader can see every default here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
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
# Data: user-supplied folders (RGZ DR1 batches, any folder of cutouts)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RGZConfig:
    """The published RGZ DR1 "rgz108k" batch folder layout."""

    #: each row of a batch's `data` is one side x side FIRST image, flattened.
    image_side: int = 150
    survey: str = "FIRST"
    train_prefix: str = "data_batch_"
    test_name: str = "test_batch"
    required_keys: tuple[str, ...] = ("data", "filenames", "src_ids", "mb_flag", "LAS")


@dataclass(frozen=True)
class SurveyImageConfig:
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


@dataclass(frozen=True)
class FolderConfig:
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
    #: True: a file that is not a readable image stops the load; False: skipped and counted.
    strict: bool = False
    survey_image: SurveyImageConfig = field(default_factory=SurveyImageConfig)
    catalogue_names: tuple[str, ...] = ("catalogue.csv", "catalogue.fits", "catalogue.vot", "catalogue.xml")
    fits_suffixes: tuple[str, ...] = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
    picture_suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")
    array_suffixes: tuple[str, ...] = (".npy",)
    #: when sizes differ: "pad" centre-pads every image with 0 to the largest height and
    #: width (pixel scale kept, so pixel crops stay right); "resize" centre-crops each to
    #: a square of its shorter side and resizes (bilinear) to the most common square side.
    mixed_sizes: str = "pad"
    #: catalogue columns copied into the metadata when present.
    catalogue_columns: tuple[str, ...] = (
        "ra", "dec", "las_arcsec", "label", "label_name", "redshift", "survey", "pixel_scale_arcsec",
    )


@dataclass(frozen=True)
class CutoutConfig:
    """Cutting catalogue sources out of survey mosaics (data/cutouts.py, `data cutouts`)."""

    #: a source whose cutout is not fully inside any mosaic: "skip" (listed, not written)
    #: or "fill" (written with NaN outside the mosaic, and still listed).
    edge: str = "skip"
    #: mosaic header keywords copied into every cutout: flux unit and restoring beam.
    keep_keywords: tuple[str, ...] = ("BUNIT", "BMAJ", "BMIN", "BPA")
    #: catalogue columns written to the cutouts' catalogue beside filename, id, ra, dec, mosaic.
    carry_columns: tuple[str, ...] = ("label", "label_name", "las_arcsec", "redshift", "survey")


# ---------------------------------------------------------------------------
# Data: archive loaders (archives.py, mirabest.py, frdeep.py, first_galaxy.py) and registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveConfig:
    """Where decoded archives are cached and how much one archive member may hold."""

    cache_env: str = "RADIOLATENT_CACHE"
    default_cache_dir: str = "~/.cache/radiolatent"
    #: bump when the cached arrays or metadata change shape, so stale caches are ignored.
    cache_version: int = 1
    #: refuse archive members larger than this once decompressed (zip/gzip bombs).
    max_member_bytes: int = 256 * 2**20


ARCHIVES = ArchiveConfig()

#: side of the square cutouts in the CIFAR-style batch files (MiraBest, FR-DEEP).
BATCH_IMAGE_SIDE = 150
#: side of the Griese FIRST Radio Galaxy Dataset PNGs.
FIRST_GALAXY_IMAGE_SIDE = 300

#: MiraBest batch label index -> MiraBest code (the batches.meta label_names).
MIRABEST_CODES = ("100", "102", "104", "110", "112", "200", "201", "210", "300", "310")
#: first digit of a MiraBest code -> (label, label_name).
MIRABEST_CLASSES = {"1": (0, "FRI"), "2": (1, "FRII"), "3": (2, "hybrid")}
#: second digit -> confidence.
MIRABEST_CONFIDENCE = {"0": "confident", "1": "uncertain"}
#: third digit -> morphology.
MIRABEST_MORPHOLOGY = {
    "0": "standard",
    "1": "double-double",
    "2": "wide-angle tail",
    "3": "diffuse",
    "4": "head-tail",
}
#: MiraBest subset -> the codes it holds (the `dataset` column names the subset).
MIRABEST_SUBSETS = {
    "confident": ("100", "102", "104", "200", "201"),
    "uncertain": ("110", "112", "210"),
    "hybrid": ("300", "310"),
}
MIRABEST_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 8))
FRDEEP_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 12))
BATCH_TEST_NAME = "test_batch"

#: FR-DEEP variant -> (archive, folder inside it, survey).
FRDEEP_VARIANTS = {
    "frdeep-n": ("NVSS_PNG_dataset.tar.gz", "NVSS_PNG_dataset", "NVSS"),
    "frdeep-f": ("FIRST_PNG_dataset.tar.gz", "FIRST_PNG_dataset", "FIRST"),
}
FRDEEP_LABEL_NAMES = ("FRI", "FRII")

FIRST_GALAXY_ARCHIVE = "galaxy_data.zip"
MIRABEST_ARCHIVE = "MiraBest_F_batches.tar.gz"
#: Griese class folder -> label (0 FRI, 1 FRII, 2 Compact, 3 Bent).
FIRST_GALAXY_CLASSES = {"FRI": 0, "FRII": 1, "Compact": 2, "Bent": 3}
FIRST_GALAXY_SPLITS = ("train", "valid", "test")

#: one line per shipped dataset, for `list_datasets()`.
DATASET_DESCRIPTIONS = {
    "mirabest": "MiraBest F (Porter & Scaife 2023), FIRST 150x150, FRI/FRII/hybrid",
    "frdeep-n": "FR-DEEP NVSS (Tang et al. 2019), 150x150, FRI/FRII",
    "frdeep-f": "FR-DEEP FIRST (Tang et al. 2019), 150x150, FRI/FRII",
    "first-galaxy": "FIRST Radio Galaxy Dataset (Griese et al. 2023), 300x300, FRI/FRII/Compact/Bent",
}


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
    #: the clipping level astropy uses while estimating the background median and sigma.
    sigma_clip_stats_sigma: float = 3.0


@dataclass(frozen=True)
class LASConfig:
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
    #: Tuned on MiraBest's catalogue LAS (Spearman 0.85 over 1,256 images, 150x150, 1.8"/px).
    companion_flux_fraction: float | None = 0.02
    #: ... and it comes within this fraction of the image half-width of the centre.
    companion_radius_fraction: float = 1.0
    #: keep detached components only in pairs on opposite sides of the centre (at least
    #: companion_pair_angle degrees apart, seen from the centre), as the lobes of a double are.
    companion_pairs: bool = True
    companion_pair_angle: float = 120.0


@dataclass(frozen=True)
class GridConfig:
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
    #: drop cutouts whose model input is blank (the source lies outside the central crop).
    drop_blank: bool = True
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    las: LASConfig = field(default_factory=LASConfig)
    #: how folder sources (folder@DIR, in the pool or embedded beside it) are read.
    folder: FolderConfig = field(default_factory=FolderConfig)


DEFAULT_POOL = PoolConfig()


# ---------------------------------------------------------------------------
# Downstream: classification
# ---------------------------------------------------------------------------

#: the classifier names of [A] Table 2, in the paper's order.
CLASSIFIER_NAMES = ("knn", "rf", "svc", "lr", "grad", "ext")

#: labels of the binary FR task; FRII is the positive class for ROC-AUC and recall.
FRI_LABEL = 0
FRII_LABEL = 1


@dataclass(frozen=True)
class ClassifyConfig:
    """The six scikit-learn classifiers of [A] (only its non-default settings) and the kNN protocols.

    `standardize` (StandardScaler fitted on the train rows) is off by default, as in [A],
    which lists no scaling. Checked on MBC (729/104): standardising 256-d features
    collapsed SVC(gamma=0.2) to ~0.53-0.56 accuracy for pixel-PCA, random-conv and
    VDVAE-like codes (16 active dims + 240 near-zero ones), and kNN/lr too for the last
    (0.53/0.56 vs 0.69/0.72 unscaled): scaling lifts inactive dimensions to full weight.
    Turn it on for tiny-magnitude features (e.g. an untrained conv net, ~1e-4), where
    unscaled svc and lr collapse instead. Every result reports which was used.
    """

    knn_neighbors: int = 20
    rf_estimators: int = 260
    svc_kernel: str = "rbf"
    svc_gamma: float = 0.2
    svc_c: float = 100.0
    lr_max_iter: int = 1000
    grad_estimators: int = 250
    ext_estimators: int = 400
    classifiers: tuple[str, ...] = CLASSIFIER_NAMES
    seeds: tuple[int, ...] = (0, 1, 2)
    standardize: bool = False
    #: [B]: kNN with k=20 trained on the train split, scored on the test split.
    knn_b_neighbors: int = 20
    #: [C]: kNN (k=5, Minkowski) over 50 stratified random 75/25 splits.
    knn_c_neighbors: int = 5
    knn_c_splits: int = 50
    knn_c_test_size: float = 0.25
    knn_metric: str = "minkowski"
    #: worker processes for the independent (classifier, seed) fits; results do not
    #: depend on it (every fit has its own seed).
    jobs: int = 2


DEFAULT_CLASSIFY = ClassifyConfig()


# ---------------------------------------------------------------------------
# Downstream: search, maps, importance, clustering
# ---------------------------------------------------------------------------

#: the similarity-search metrics: [A] cosine on the raw codes; [C] Euclidean after PCA.
#: whitened-cosine (the default: cosine after PCA-whitening on the searched set), the
#: paper's raw cosine ([A]) and [C]'s Euclidean distance after PCA.
SEARCH_METRICS = ("whitened-cosine", "cosine", "euclidean-pca")
#: the metrics `duplicates` can threshold (similarities in [-1, 1]).
DUPLICATE_METRICS = ("whitened-cosine", "cosine")


@dataclass(frozen=True)
class SearchConfig:
    """FAISS similarity search ([A] cosine; [C] Euclidean on PCA-reduced codes, 8 neighbours).

    The default metric is whitened cosine: the codes share a large common direction and
    most of their variance lies in a few dimensions, so raw cosine ranks nearly everything
    alike (282,978 pool pairs at >= 0.99). Centring on the searched set's mean and
    whitening (PCA, each component scaled to unit variance) before cosine puts the same
    source rendered twice first far more often; benchmarks/search_quality.py measures it
    (docs/results.md).

    Sets up to `exact_threshold` rows use an exact flat index; larger ones an IVF-Flat
    index with nlist = `nlist_per_sqrt_n` * sqrt(N) lists, of which `nprobe` are scanned
    per query (more = better recall, slower; see benchmarks/search_faiss.py).
    """

    metric: str = "whitened-cosine"
    k: int = 8
    exact_threshold: int = 250_000
    nlist_per_sqrt_n: float = 1.0
    #: IVF lists scanned per query: 64 of ~1000 lists at 1M rows.
    nprobe: int = 64
    #: k-means training sample per IVF list (FAISS warns below 39).
    train_points_per_list: int = 64
    #: [C]: keep this fraction of the variance before Euclidean search and clustering.
    pca_variance: float = 0.95
    #: whitened-cosine: each component's variance gets this fraction of the mean
    #: component variance added before scaling, so near-empty directions are not blown
    #: up into noise (0.01: best label agreement, top-1 within 0.02 of no shrinkage).
    whiten_shrink: float = 0.01
    #: whitened-cosine duplicates: a pair is one when each code is the other's nearest,
    #: their similarity is at least `duplicate_threshold`, and it beats either code's
    #: next-nearest by `duplicate_margin` (look-alikes, e.g. the many unresolved sources,
    #: have many near-equal neighbours; one source cut twice stands out).
    duplicate_threshold: float = 0.8
    duplicate_margin: float = 0.1
    #: raw cosine duplicates ([B]): every pair at or above this similarity, no margin.
    cosine_duplicate_threshold: float = 0.99
    #: a duplicate pair closer than this on the sky is the same object twice; farther
    #: apart it is a look-alike (unresolved compact sources all look like the beam).
    duplicate_separation_arcsec: float = 30.0
    seed: int = 0


@dataclass(frozen=True)
class MapConfig:
    """2-D maps: [A] t-SNE (scikit-learn defaults) and [C] UMAP for pictures."""

    umap_neighbors: int = 15
    umap_min_dist: float = 0.01
    tsne_perplexity: float = 30.0
    #: variance fractions marked on the PCA curve ([A]: 2 components hold 95 %, 4 hold 98 %).
    pca_levels: tuple[float, ...] = (0.95, 0.98)
    point_size: float = 4.0
    #: categorical colour columns with more values than this fall back to "other".
    max_categories: int = 20


@dataclass(frozen=True)
class ImportanceConfig:
    """[A]'s incremental random forest: one more tree per shuffled batch of 1,000 rows.

    With warm_start the forest gains one tree per batch, so n_estimators = number of
    batches (100 trees for RGZ DR1's ~100k rows). Small sets would get one or two trees,
    so the first batch grows `min_trees` trees instead; the paper's setting is min_trees=1.
    """

    batch_size: int = 1000
    min_trees: int = 50
    #: components shown in the plot (all when the code is shorter).
    plot_components: int = 256
    #: processes growing the trees (each tree has its own seed, so any count gives the same forest).
    jobs: int = 2


@dataclass(frozen=True)
class ClusterConfig:
    """[C]'s clustering: PCA keeping 95 % variance, then a Bayesian Gaussian mixture."""

    pca_variance: float = 0.95
    n_components: int = 20
    weight_concentration_prior: float = 0.5
    n_init: int = 10
    max_iter: int = 1000
    montage_per_cluster: int = 8


DEFAULT_SEARCH = SearchConfig()
DEFAULT_MAP = MapConfig()
DEFAULT_IMPORTANCE = ImportanceConfig()
DEFAULT_CLUSTER = ClusterConfig()


# ---------------------------------------------------------------------------
# Embedding: codes from any encoder, and the no-learning floors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedConfig:
    #: images per forward pass: 32-64 run 30-40 % faster than 256 on 2 CPU cores (cache-sized
    #: activations; measured for the VDVAE encoder and ResNet-18).
    batch_size: int = 64
    threads: int = 2
    #: "cpu", "cuda" (this process's GPU) or "auto" (CUDA when present); `embed --device`
    #: sets it. Codes on a GPU agree with the CPU's to ~1e-5, not bit for bit.
    device: str = "cpu"
    #: pixels-pca floor: components kept (the paper's code length).
    pca_components: int = 256
    #: random-conv floor: an untrained encoder of stride-2 stages (measurements.md).
    random_conv_seed: int = 0
    random_conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    #: average every encoder's codes over the 8 flips and quarter turns of each image:
    #: radio sources have no preferred orientation, so their codes should not either.
    #: Floors and models get the same treatment; False gives the paper's single pass.
    dihedral_average: bool = True


# ---------------------------------------------------------------------------
# Models: VDVAE (models/vdvae.py, models/likelihood.py)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VDVAEConfig:
    """Architecture and likelihood of the Very Deep VAE, as readable strings.

    `encoder_blocks` runs from the image resolution down: "RxN" is N residual blocks
    at resolution R, "RdK" average-pools by K. `decoder_blocks` runs from the lowest
    resolution up: "RxN" is N top-down blocks (each one latent layer) at R, "RmS"
    upsamples (nearest neighbour) from S to R. `widths` gives the channel width per
    resolution ("R:W,..."), shared by encoder and decoder so activations can be
    concatenated. The first decoder block is z0, the representation.
    """

    image_size: int = 64
    encoder_blocks: str = "64x1,64d2,32x1,32d2,16x1,16d2,8x1,8d2,4x1,4d4,1x1"
    decoder_blocks: str = "1x1,4m1,4x1,8m4,8x1,16m8,16x1,32m16,32x1,64m32,64x1"
    widths: str = "64:32,32:32,16:64,8:64,4:128,1:256"
    #: hidden width of residual blocks as a fraction of the stream width.
    bottleneck: float = 0.25
    #: latent channels of every layer except z0.
    z_channels: int = 16
    #: latent channels of z0 (1x1), i.e. the code length.
    z0_channels: int = 256
    #: hidden width of z0's posterior and prior heads; must be >= z0_channels so the
    #: posterior mean is not rank-limited by a narrow bottleneck (measurements.md).
    top_head_width: int = 256
    #: resolutions at or below this use 1x1 instead of 3x3 middle convolutions
    #: (a 3x3 kernel on a 1x1 or 2x2 map is mostly padding).
    max_res_1x1: int = 2
    #: "dmol" (discretised mixture of logistics) or "gaussian" (discretised Gaussian).
    likelihood: str = "dmol"
    n_mixtures: int = 5
    #: log-scale floor of the likelihood's components (stops the density collapsing).
    min_log_scale: float = -7.0
    #: latent log-std values are soft-clamped to +-this (tanh), for numerical safety.
    logstd_limit: float = 5.0
    #: weight of an auxiliary decoder reconstructing the image from z0's mean alone
    #: (pushes information into z0); 0 builds no auxiliary decoder.
    aux_weight: float = 0.0
    aux_width: int = 32
    #: the auxiliary decoder's loss: "same" (the main likelihood) or "mse" (squared
    #: error / 2 aux_sigma^2 on [0, 1] pixels). A learned-scale likelihood lets the
    #: auxiliary decoder settle for each pixel's marginal and leave z0 empty; a fixed
    #: scale makes z0's posterior mean an autoencoder bottleneck that must hold the source.
    aux_likelihood: str = "same"
    aux_sigma: float = 0.1
    #: probability, per training image, that every layer below z0 is sampled from the
    #: prior instead of the posterior (its KL then counts as 0), so the decoder must
    #: rely on z0 ("latent dropout"); 0 = off. Inactive in eval mode.
    latent_dropout: float = 0.0
    #: initialisation of the bottom-up path (encoder and posterior heads): "he" (unit
    #: gain through GELU) or "default" (PyTorch's, ~1/3 of the variance per layer). Sparse
    #: radio images differ in few pixels; with the default, image-to-image differences
    #: reach z0's posterior mean at ~1e-4 of its spread, and z0 took ~10 of 20 CPU epochs to
    #: wake up. The generative path keeps the default so first outputs stay near the mean image.
    bottom_up_init: str = "he"


# ---------------------------------------------------------------------------
# Training (training.py): optimiser, schedules, stability, collapse counter-measures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. `batch_size` is global (split across DDP processes)."""

    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 128
    #: "adamw", "adam" or "rmsprop" (the paper's).
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    adam_betas: tuple[float, float] = (0.9, 0.99)
    #: linear learning-rate warm-up over this many steps (0 = none).
    lr_warmup_steps: int = 100
    #: ReduceLROnPlateau on validation loss: multiply lr by `plateau_factor` after
    #: `plateau_patience` epochs without a relative improvement of `plateau_threshold`.
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_threshold: float = 1e-4
    min_lr: float = 0.0
    #: gradient-norm clip (the objective is in nats per pixel, so the scale is image-size free).
    grad_clip: float = 200.0
    #: skip an update when the grad norm exceeds skip_factor x the median of the last
    #: skip_window finite grad norms (skipped ones included, so the threshold follows a
    #: genuine rise and cannot end up skipping everything); no outlier skipping until
    #: skip_min_history norms are seen. NaN/Inf losses or grad norms are always skipped.
    skip_factor: float = 10.0
    skip_window: int = 200
    skip_min_history: int = 20
    #: EMA of weights, used for validation, checkpoints' exported model and codes. The
    #: decay ramps up as min(ema_decay, (1 + step) / (10 + step)) so short runs work.
    ema_decay: float = 0.999
    #: KL weight (beta-VAE) and its schedule: "constant", "linear" (0 -> beta over
    #: kl_warmup_steps) or "cyclic" (linear ramp repeated every kl_cycle_steps).
    beta: float = 1.0
    kl_schedule: str = "linear"
    kl_warmup_steps: int = 500
    kl_cycle_steps: int = 2000
    #: free bits: each layer's batch-mean KL counts as at least this many nats in the
    #: objective (0 = off); z0 has its own floor.
    free_bits: float = 0.0
    free_bits_top: float = 0.0
    #: random flips and 90-degree rotations (radio sources have no preferred orientation).
    augment: bool = True
    valid_fraction: float = 0.1
    valid_max: int = 1000
    #: z0 dims whose posterior-mean variance over the validation set exceeds this are active.
    active_threshold: float = 0.01
    #: "gloo" on CPU; "nccl" is used automatically when training on CUDA.
    backend: str = "gloo"
    #: "cpu" or "cuda" (this process's GPU, cuda:LOCAL_RANK under torchrun); `train
    #: --device` (default auto: CUDA when present) sets it.
    device: str = "cpu"
    #: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32". The KL and the
    #: likelihood are computed in float32 in every case (docs/gpu.md).
    precision: str = "auto"
    #: torch threads per process.
    threads: int = 2


@dataclass(frozen=True)
class VDVAERunConfig:
    """A named VDVAE setup: the model and how it is trained."""

    name: str
    model: VDVAEConfig
    train: TrainConfig


def _vdvae_configs() -> dict[str, VDVAERunConfig]:
    tiny = VDVAERunConfig(
        "tiny",
        VDVAEConfig(
            encoder_blocks="64x1,64d4,16x1,16d4,4x1,4d4,1x1",
            decoder_blocks="1x1,4m1,4x1,16m4,16x1,64m16,64x1",
            widths="64:8,16:16,4:32,1:32",
            z_channels=4,
            # tests only: a 32-d z0 keeps them fast (the head is still full width).
            z0_channels=32,
            top_head_width=32,
            n_mixtures=3,
        ),
        TrainConfig(epochs=2, batch_size=16, eval_batch_size=64, lr=2e-3,
                    lr_warmup_steps=5, kl_warmup_steps=20, skip_min_history=5,
                    ema_decay=0.99, threads=1),
    )
    # The shipped checkpoint's setup. z0 is the 4x4x16 layer (256 numbers; the issue
    # allows 1x1x256 or 4x4x16): a 1x1 z0 collapsed in every CPU trial, the 4x4 one
    # stays informative when an auxiliary decoder reads it with a fixed-scale (MSE) loss
    # and the bottom-up path is He-initialised (docs/vdvae.md).
    # Two threads train at ~35 img/s on 2 idle cores: 20 epochs of the pool in ~19 min.
    cpu = VDVAERunConfig(
        "cpu",
        VDVAEConfig(
            encoder_blocks="64x1,64d2,32x1,32d2,16x1,16d2,8x1,8d2,4x1",
            decoder_blocks="4x1,8m4,8x1,16m8,16x1,32m16,32x1,64m32,64x1",
            widths="64:32,32:32,16:64,8:64,4:128",
            z0_channels=16,
            top_head_width=128,
            aux_weight=1.0,
            aux_likelihood="mse",
        ),
        TrainConfig(epochs=20, threads=2),
    )
    # Child's layout read in execution order: the decoder string starts at 1x1 with
    # 5 blocks, so the published {5,5,4,3,2,1} puts the cheap blocks at low resolution.
    paper = VDVAERunConfig(
        "paper",
        VDVAEConfig(
            encoder_blocks="64x3,64d2,32x3,32d2,16x2,16d2,8x2,8d2,4x2,4d4,1x1",
            decoder_blocks="1x5,4m1,4x5,8m4,8x4,16m8,16x3,32m16,32x2,64m32,64x1",
            widths="64:64,32:64,16:128,8:128,4:256,1:256",
            n_mixtures=10,
        ),
        TrainConfig(epochs=100, batch_size=32, optimizer="rmsprop", lr=2e-5,
                    momentum=0.9, weight_decay=1e-4, lr_warmup_steps=0,
                    kl_schedule="constant", ema_decay=0.9999),
    )
    return {c.name: c for c in (tiny, cpu, paper)}


VDVAE_CONFIGS = _vdvae_configs()


def get_vdvae_config(name: str) -> VDVAERunConfig:
    """The named VDVAE setup: "tiny" (tests), "cpu" (default) or "paper"."""
    if name not in VDVAE_CONFIGS:
        raise KeyError(f"unknown VDVAE config {name!r}; choose from {sorted(VDVAE_CONFIGS)}")
    return VDVAE_CONFIGS[name]


def dataclass_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output (e.g. JSON).

    Unknown keys raise ValueError, so a config from another version is not silently
    misread; lists become tuples where the field is a tuple.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    import typing  # local: only this helper needs resolved annotations

    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = dataclass_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    obj = cls(**values)
    _raise_problems(obj, _own_problems(obj))
    return obj


def override(config: Any, assignments: list[str]) -> Any:
    """Apply "section.field=value" (or "field=value") strings to a frozen config.

    Values are parsed as the field's current type, so `train.epochs=20` or
    `model.aux_weight=1` work from the command line.
    """
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r}: expected name=value")
        config = _set_path(config, key.strip().split("."), raw.strip(), item)
    return check_config(config)


def _set_path(obj: Any, path: list[str], raw: str, item: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in names:
        raise ValueError(f"override {item!r}: no setting {path[0]!r} (choose from {sorted(names)})")
    current = getattr(obj, path[0])
    if len(path) > 1:
        value = _set_path(current, path[1:], raw, item)
    else:
        value = _parse_like(current, raw, item)
    return dataclasses.replace(obj, **{path[0]: value})


def _parse_like(current: Any, raw: str, item: str) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(type(current[0])(v) for v in raw.split(",")) if current else tuple(raw.split(","))
        if current is None:
            return None if raw.lower() == "none" else json.loads(raw)
        return type(current)(raw)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValueError(f"override {item!r}: cannot read {raw!r} as {type(current).__name__}") from None


# ---------------------------------------------------------------------------
# Validation: every setting of the model and training configs is checked when a config
# is built from the command line (`override`) or from a saved file (`dataclass_from_dict`),
# so a bad value is refused in one line before any work (e.g. train.epochs=-3).
# ---------------------------------------------------------------------------

#: widest channel count accepted in VDVAEConfig.widths: the paper's widest is 256; a typo
#: such as 64:100000 would otherwise allocate gigabytes before anything else is checked.
MAX_VDVAE_WIDTH = 4096
#: largest image side (pixels) a model config may ask for.
MAX_IMAGE_SIZE = 1024
VDVAE_OPTIMIZERS = ("adamw", "adam", "rmsprop")
KL_SCHEDULES = ("constant", "linear", "cyclic")
LIKELIHOODS = ("dmol", "gaussian")
DDP_BACKENDS = ("gloo", "nccl", "mpi")
DEVICES = ("cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")


def check_config(config: Any) -> Any:
    """Return `config` if every setting in it (nested configs included) is valid; else
    raise InputError naming the config and every bad setting."""
    problems = []
    _walk_problems(config, "", problems)
    _raise_problems(config, problems)
    return config


def _raise_problems(config: Any, problems: list[str]) -> None:
    if problems:
        from radiolatent.errors import InputError  # local: errors imports nothing from here

        name = getattr(config, "name", None)
        source = f"config {name!r}" if isinstance(name, str) else type(config).__name__
        raise InputError(source, "; ".join(problems))


def _walk_problems(obj: Any, prefix: str, problems: list[str]) -> None:
    problems.extend(f"{prefix}{p}" for p in _own_problems(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            _walk_problems(value, f"{prefix}{f.name}.", problems)


def _own_problems(obj: Any) -> list[str]:
    check = _CHECKS.get(type(obj))
    return check(obj) if check else []


class _Problems(list):
    """Collects "setting: requirement" messages."""

    def need(self, ok: bool, setting: str, requirement: str, value: Any = None) -> None:
        if not ok:
            self.append(f"{setting} {requirement}" + ("" if value is None else f" (got {value!r})"))

    def finite(self, obj: Any) -> None:
        import math

        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                self.append(f"{f.name} must be finite (got {value!r})")


def _vdvae_problems(m: VDVAEConfig) -> list[str]:
    p = _Problems()
    p.finite(m)
    p.need(1 <= m.image_size <= MAX_IMAGE_SIZE, "image_size", f"must be 1..{MAX_IMAGE_SIZE}", m.image_size)
    for name in ("encoder_blocks", "decoder_blocks"):
        value = getattr(m, name)
        p.need(isinstance(value, str) and re.fullmatch(r"\d+[xdm]\d+(,\d+[xdm]\d+)*", value.replace(" ", "")) is not None,
               name, "must be tokens like 64x2,64d2 (encoder) or 4m1,4x2 (decoder)", value)
    widths = re.fullmatch(r"\d+:\d+(,\d+:\d+)*", str(m.widths).replace(" ", ""))
    p.need(widths is not None, "widths", "must be R:W pairs like 64:32,32:64", m.widths)
    if widths is not None:
        channels = [int(t.split(":")[1]) for t in m.widths.replace(" ", "").split(",")]
        p.need(all(1 <= c <= MAX_VDVAE_WIDTH for c in channels), "widths",
               f"must give 1..{MAX_VDVAE_WIDTH} channels per resolution", m.widths)
    p.need(0 < m.bottleneck <= 4, "bottleneck", "must lie in (0, 4]", m.bottleneck)
    for name in ("z_channels", "z0_channels", "top_head_width", "n_mixtures", "aux_width"):
        value = getattr(m, name)
        p.need(1 <= value <= MAX_VDVAE_WIDTH, name, f"must be 1..{MAX_VDVAE_WIDTH}", value)
    p.need(m.top_head_width >= m.z0_channels, "top_head_width", "must be >= z0_channels")
    p.need(m.max_res_1x1 >= 0, "max_res_1x1", "must be >= 0", m.max_res_1x1)
    p.need(m.likelihood in LIKELIHOODS, "likelihood", f"must be one of {list(LIKELIHOODS)}", m.likelihood)
    p.need(m.logstd_limit > 0, "logstd_limit", "must be > 0", m.logstd_limit)
    p.need(m.aux_weight >= 0, "aux_weight", "must be >= 0", m.aux_weight)
    p.need(m.aux_likelihood in ("same", "mse"), "aux_likelihood", "must be 'same' or 'mse'", m.aux_likelihood)
    p.need(m.aux_sigma > 0, "aux_sigma", "must be > 0", m.aux_sigma)
    p.need(0 <= m.latent_dropout <= 1, "latent_dropout", "must lie in [0, 1]", m.latent_dropout)
    p.need(m.bottom_up_init in ("he", "default"), "bottom_up_init", "must be 'he' or 'default'", m.bottom_up_init)
    return p


def _loop_problems(t: TrainConfig | SSLTrainConfig, optimizers: tuple[str, ...]) -> _Problems:
    """Settings the VDVAE and SSL training configs share (the same training loop)."""
    p = _Problems()
    p.finite(t)
    p.need(t.epochs >= 1, "epochs", "must be at least 1", t.epochs)
    p.need(t.batch_size >= 1, "batch_size", "must be at least 1", t.batch_size)
    p.need(t.eval_batch_size >= 1, "eval_batch_size", "must be at least 1", t.eval_batch_size)
    p.need(t.optimizer in optimizers, "optimizer", f"must be one of {list(optimizers)}", t.optimizer)
    p.need(t.lr > 0, "lr", "must be > 0", t.lr)
    p.need(t.weight_decay >= 0, "weight_decay", "must be >= 0", t.weight_decay)
    p.need(0 <= t.momentum < 1, "momentum", "must lie in [0, 1)", t.momentum)
    p.need(len(t.adam_betas) == 2 and all(0 <= b < 1 for b in t.adam_betas), "adam_betas",
           "must be two numbers in [0, 1)", t.adam_betas)
    p.need(t.lr_warmup_steps >= 0, "lr_warmup_steps", "must be >= 0", t.lr_warmup_steps)
    p.need(0 < t.plateau_factor <= 1, "plateau_factor", "must lie in (0, 1]", t.plateau_factor)
    p.need(t.plateau_patience >= 0 and t.plateau_threshold >= 0, "plateau_patience and plateau_threshold",
           "must be >= 0")
    p.need(t.min_lr >= 0, "min_lr", "must be >= 0", t.min_lr)
    p.need(t.grad_clip > 0, "grad_clip", "must be > 0", t.grad_clip)
    p.need(t.skip_factor > 1, "skip_factor", "must be > 1", t.skip_factor)
    p.need(t.skip_window >= 1 and t.skip_min_history >= 0, "skip_window and skip_min_history",
           "must be >= 1 and >= 0")
    p.need(0 <= t.ema_decay < 1, "ema_decay", "must lie in [0, 1)", t.ema_decay)
    p.need(0 < t.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", t.valid_fraction)
    p.need(t.valid_max >= 1, "valid_max", "must be at least 1", t.valid_max)
    p.need(t.backend in DDP_BACKENDS, "backend", f"must be one of {list(DDP_BACKENDS)}", t.backend)
    p.need(t.device in DEVICES, "device", f"must be one of {list(DEVICES)}", t.device)
    precision = getattr(t, "precision", "auto")
    p.need(precision in PRECISIONS, "precision", f"must be one of {list(PRECISIONS)}", precision)
    p.need(t.threads >= 1, "threads", "must be at least 1", t.threads)
    return p


def _train_problems(t: TrainConfig) -> list[str]:
    p = _loop_problems(t, VDVAE_OPTIMIZERS)
    p.need(t.beta >= 0, "beta", "must be >= 0", t.beta)
    p.need(t.kl_schedule in KL_SCHEDULES, "kl_schedule", f"must be one of {list(KL_SCHEDULES)}", t.kl_schedule)
    p.need(t.kl_warmup_steps >= 0 and t.kl_cycle_steps >= 1, "kl_warmup_steps and kl_cycle_steps",
           "must be >= 0 and >= 1")
    p.need(t.free_bits >= 0 and t.free_bits_top >= 0, "free_bits and free_bits_top", "must be >= 0")
    p.need(t.active_threshold >= 0, "active_threshold", "must be >= 0", t.active_threshold)
    return p


# ---------------------------------------------------------------------------
# Discovery: density estimation (downstream/density.py) and anomaly search
# (downstream/anomaly.py)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DensityConfig:
    """A Masked Autoregressive Flow (zuko) on standardised codes, [A] section 5.

    `transforms` MADE blocks, each an MLP with `hidden` layers whose output gives the
    shift and log-scale of a Gaussian conditional per component. Training holds out
    `valid_fraction` of the rows, keeps the weights of the epoch with the best held-out
    log-likelihood and stops after `patience` epochs without improvement (0 = run all
    `epochs`, as [A] did).
    """

    name: str = "cpu"
    transforms: int = 6
    hidden: tuple[int, ...] = (256, 256)
    #: reorder the components randomly between blocks (else alternate ascending/descending).
    randperm: bool = True
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 300
    batch_size: int = 256
    valid_fraction: float = 0.2
    patience: int = 20
    #: gradient-norm clip (a flow's first steps on heavy-tailed codes can be wild).
    grad_clip: float = 10.0
    #: the fixed affine map before the flow: "whiten" (PCA whitening) or "scale"
    #: (each component by its spread). See downstream/density.py for why whitening.
    standardise: str = "whiten"
    #: whitening: covariance eigenvalues below this fraction of the largest are raised to
    #: it; only a guard against a singular covariance (constant components, fewer rows
    #: than components; use "scale" there). A real floor (1e-6) hurt: the flow then saw
    #: directions of spread 0.03 in which held-out rows reached ~1, and its conditioners
    #: extrapolated to log-likelihoods of -1e17 (measured on the pool codes).
    min_eigen_fraction: float = 1e-12
    #: scaling: spreads below this fraction of the largest are raised to it, so
    #: near-constant (inactive) components do not become huge numbers.
    min_scale_fraction: float = 1e-3
    #: torch threads: one is fastest for these small matrices, and many times faster than
    #: two when the cores are shared (measured: 0.4 s vs 2.7-17 s per epoch on a busy 2-core box).
    threads: int = 1


def _density_configs() -> dict[str, DensityConfig]:
    tiny = DensityConfig("tiny", transforms=2, hidden=(32, 32), epochs=40, batch_size=64,
                         patience=10, threads=1)
    # Chosen on the shipped VDVAE's pool codes (2,214 x 256; 10 % test rows held out, one
    # seed; whitened; test log-likelihood in nats/row, fit time on one thread): 4 x 128 at
    # lr 5e-4: 1656 (50 s); 4 x 256: 1647 (39 s); 6 x 256 at lr 5e-4: 1659 (76 s);
    # 6 x 512: 1642; 6 x 512 at 5e-4: 1605; 8 x 256 at 5e-4: 1572 (stopped at epoch 49).
    # Per-component scaling instead of whitening: 1251-1343 at best. docs/discovery.md.
    # Then lr 1e-3 over 5e-4 for 6 x 256 on the current checkpoint's pool codes (20 %
    # held out, seed 0): 1040.1 in 37 s (best epoch 75) against 1047.6 in 79 s (191);
    # on the FIRST Radio Galaxy Dataset the same Bent recall in the top 100 in half the time.
    cpu = DensityConfig()
    # [A]: 48 MADE blocks of 2 x 512 units, Adam lr 5e-4, 600 epochs (denmarf kept the best
    # epoch on its validation split, which patience=0 reproduces).
    paper = DensityConfig("paper", transforms=48, hidden=(512, 512), lr=5e-4, epochs=600,
                          patience=0)
    return {c.name: c for c in (tiny, cpu, paper)}


DENSITY_CONFIGS = _density_configs()
DEFAULT_DENSITY = DENSITY_CONFIGS["cpu"]


def get_density_config(name: str) -> DensityConfig:
    """The named flow setup: "tiny" (tests), "cpu" (default) or "paper"."""
    if name not in DENSITY_CONFIGS:
        raise KeyError(f"unknown density config {name!r}; choose from {sorted(DENSITY_CONFIGS)}")
    return DENSITY_CONFIGS[name]


@dataclass(frozen=True)
class ActiveLearningConfig:
    """[C]'s active-learning anomaly search (Astronomaly's "protege").

    Codes are reduced by PCA to `pca_variance` of their variance ([C]); a Gaussian
    process (Matern + white noise, hyperparameters fitted by maximum likelihood) is fit
    to the 0..5 interest scores; each round labels the `batch_size` rows of highest
    expected improvement with trade-off `ei_tradeoff`, up to `budget` labels.
    """

    n_initial: int = 10
    batch_size: int = 10
    budget: int = 200
    ei_tradeoff: float = 0.5
    #: Matern smoothness (scikit-learn's and Astronomaly's default 1.5).
    matern_nu: float = 1.5
    #: extra random restarts of the kernel-hyperparameter optimiser.
    n_restarts: int = 2
    #: scale the scores to zero mean / unit variance inside the GP (Astronomaly: off).
    normalize_y: bool = False
    #: multiply the Matern kernel by a fitted constant (its variance); Astronomaly has none.
    amplitude: bool = False
    #: None keeps every component.
    pca_variance: float | None = 0.95
    #: the score range a person gives (0 = boring, 5 = most interesting).
    min_score: float = 0.0
    max_score: float = 5.0
    #: isolation forest (label-free ranking).
    iforest_estimators: int = 300
    #: worker processes for the benchmark's independent (method, seed) rankings.
    jobs: int = 2


DEFAULT_ACTIVE = ActiveLearningConfig()


# ---------------------------------------------------------------------------
# The study: `radiolatent reproduce` (reproduce.py, report.py)
# ---------------------------------------------------------------------------

#: encoder name -> shipped checkpoint folder under src/radiolatent/weights/ (learned
#: encoders) or the floor's name (no-learning floors).
STUDY_ENCODERS = {
    "vdvae": "vdvae-cpu",
    "simclr": "simclr-cpu",
    "byol": "byol-cpu",
    "simsiam": "simsiam-cpu",
    "pixels-pca": "pixels-pca",
    "random-conv": "random-conv",
}


@dataclass(frozen=True)
class ReproduceConfig:
    """What `radiolatent reproduce` runs; every figure in the report comes from here.

    The VDVAE's codes feed the pictures, search, density and anomaly stages as in [A];
    every encoder gets Table 2, the kNN protocols and clustering.
    """

    encoders: tuple[str, ...] = tuple(STUDY_ENCODERS)
    #: sets every encoder embeds; the VDVAE also embeds `vdvae_extra_sets`.
    sets: tuple[str, ...] = ("mbc", "frdeep-n")
    vdvae_extra_sets: tuple[str, ...] = ("pool", "first-galaxy")
    #: Table 2's (dataset, train spec, test spec).
    table2: tuple[tuple[str, str, str], ...] = (("mbc", "mbc:train", "mbc:test"),
                                                 ("nvss", "nvss:train", "nvss:test"))
    #: seeds of every multi-seed result. Two keep the study within its 10-minute budget on
    #: 2 cores (Table 2's third seed costs ~65 s, nearly all gradient boosting); the seed sd
    #: of Table 2's cells is mostly one test source. `--seeds 3` gives docs/results.md's tables.
    seeds: int = 2
    classifiers: tuple[str, ...] = CLASSIFIER_NAMES
    #: False averages every code over the 8 orientations (EmbedConfig.dihedral_average)
    single_view: bool = False
    cluster: ClusterConfig = DEFAULT_CLUSTER
    #: t-SNE / UMAP draw at most this many pool rows (None: all)
    map_max_rows: int | None = None
    #: pictures
    reconstructions: int = 8
    samples_per_temperature: int = 8
    temperatures: tuple[float, ...] = (0.6, 0.8, 1.0)
    map_methods: tuple[str, ...] = ("tsne", "umap")
    #: similarity search from MBC test sources into the pool ([A] Figs. 8, 9)
    search_k: int = 8
    #: density: MAF preset, generated images scored beside the data, MBC gallery size
    density_preset: str = "cpu"
    #: torch threads for the density and anomaly stages' flows, each fitted alone: 2 threads
    #: fit one 1.7x faster than 1 on an idle 2-core machine (measured, 25 epochs on the
    #: pool's codes: 5.3 s against 9.1 s).
    density_threads: int = 2
    generated: int = 512
    ood_gallery: int = 16
    #: anomaly search: (set, interesting label name) as in [C]'s Figure 8
    anomaly_set: str = "first-galaxy"
    anomaly_interesting: str = "Bent"
    anomaly_recall_at: int = 100
    anomaly_budget: int = 200
    seed: int = 0
    #: the pre-training pool every stage runs on (`reproduce --add SOURCE --min-las A`):
    #: the shipped pool by default, or RGZ DR1 / a user's folders added to it.
    pool: PoolConfig = DEFAULT_POOL


#: a quick profile for tests: two floors and the shipped VDVAE, one seed, two classifiers.
QUICK_REPRODUCE = ReproduceConfig(
    encoders=("vdvae", "pixels-pca"), vdvae_extra_sets=("pool",), seeds=1, classifiers=("knn", "lr"),
    single_view=True, cluster=ClusterConfig(n_init=1, max_iter=200), map_max_rows=400,
    reconstructions=4, samples_per_temperature=4, temperatures=(1.0,), map_methods=("tsne",),
    density_preset="tiny", generated=32, ood_gallery=4,
    anomaly_set="mirabest:all", anomaly_interesting="hybrid", anomaly_recall_at=20, anomaly_budget=30,
)


# ---------------------------------------------------------------------------
# Explorer: the browser tool (explore/)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreConfig:
    """`radiolatent explore`: a local web server over one codes table.

    The map is [C]'s UMAP (its n_neighbors and min_dist), computed once per codes table
    and cached beside it. Similarity search defaults to whitened cosine, as `search`
    does; [A]'s raw cosine and [C]'s Euclidean distance after PCA are one click away.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    #: neighbours shown for a clicked or dropped source ([C] shows 8).
    k: int = 8
    metric: str = "whitened-cosine"
    #: thumbnails: side in pixels (the 64x64 model input, upscaled without smoothing so
    #: pixels stay visible), matplotlib colour map, and how many PNGs are kept in memory.
    thumb_size: int = 128
    thumb_cmap: str = "inferno"
    thumb_cache: int = 4096
    umap_neighbors: int = 15
    umap_min_dist: float = 0.01
    seed: int = 0
    #: rows returned by a ranking list.
    list_length: int = 200
    #: arcsec/pixel assumed for a dropped image without a FITS WCS (FIRST).
    upload_pixel_scale: float = 1.8
    #: refuse dropped files larger than this.
    max_upload_bytes: int = 20 * 2**20
    #: string columns with more distinct values than this cannot colour the map.
    max_categories: int = 30


DEFAULT_EXPLORE = ExploreConfig()


# ---------------------------------------------------------------------------
# Models: the SSL baselines (models/ssl.py, data/augment.py, training.py): SimCLR, BYOL, SimSiam
# ---------------------------------------------------------------------------

SSL_METHODS = ("simclr", "byol", "simsiam")
#: torchvision ResNets with BasicBlocks; "resnet10" ([1, 1, 1, 1] blocks) is for tests.
SSL_BACKBONES = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
SSL_OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
SSL_LR_SCHEDULES = ("cosine", "constant", "plateau")


@dataclass(frozen=True)
class SSLModelConfig:
    """Backbone and heads of one SSL method. The representation is the backbone's
    global-average-pooled output: 512-d for every backbone here.

    The stem reads one channel. torchvision's 7x7 stride-2 convolution + max-pool would
    leave a 16x16 map of a 64x64 image before the first block; a 3x3 stride-1 stem and no
    max-pool keeps all 64x64 (`paper`), stride 2 keeps 32x32 at a quarter of the cost (`cpu`).
    """

    method: str = "byol"
    backbone: str = "resnet18"
    image_size: int = 64
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_max_pool: bool = False
    #: projection head: one hidden layer (lightly heads), then `projection_dim`.
    projection_hidden: int = 512
    projection_dim: int = 128
    #: prediction head (BYOL, SimSiam): one hidden layer.
    prediction_hidden: int = 512
    #: NT-Xent temperature (SimCLR).
    temperature: float = 0.5
    #: BYOL target network momentum, cosine from start to end over the run.
    momentum_start: float = 0.99
    momentum_end: float = 1.0


@dataclass(frozen=True)
class SSLAugmentConfig:
    """Views for sparse radio images (data/augment.py): keep the source, blur weakly ([B])."""

    #: horizontal and vertical flips, each with this probability.
    flip_p: float = 0.5
    #: rotation by a uniform angle in [0, 360) degrees with this probability.
    rotate_p: float = 1.0
    #: crop area fraction, resized back to the image size ([B]: crops must not cut off jets).
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 4.0 / 3.0)
    #: Gaussian blur: [B] found it must be weak for sparse images (3 px kernel, p 0.05).
    blur_p: float = 0.05
    blur_kernel: int = 3
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    #: brightness (x [1-b, 1+b]) and contrast jitter, applied together with probability jitter_p.
    jitter_p: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3


@dataclass(frozen=True)
class SSLTrainConfig:
    """How an SSL model is trained (the same loop as the VDVAE, training.py).

    Field names match `TrainConfig` where the meaning is the same, so the shared
    machinery (UpdateGuard, Plateau, EMA, checkpoints) reads either.
    """

    epochs: int = 10
    #: global batch (split across DDP processes); each image gives two views.
    batch_size: int = 128
    eval_batch_size: int = 256
    #: "adam", "adamw", "sgd" or "lars" (lightly's LARS; bias and BN parameters get no
    #: weight decay and no layer-wise scaling, as in SimCLR and BYOL).
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-6
    momentum: float = 0.9
    adam_betas: tuple[float, float] = (0.9, 0.999)
    #: "cosine" (to min_lr over the run, after the warm-up), "constant" or "plateau"
    #: (ReduceLROnPlateau on the validation loss, as the VDVAE).
    lr_schedule: str = "cosine"
    lr_warmup_steps: int = 0
    min_lr: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_threshold: float = 1e-4
    grad_clip: float = 100.0
    skip_factor: float = 10.0
    skip_window: int = 200
    skip_min_history: int = 20
    #: EMA of the weights for validation and export; 0 = off (the online network is
    #: exported, as SSL papers evaluate it; BYOL's target network is its own EMA).
    ema_decay: float = 0.0
    valid_fraction: float = 0.05
    valid_max: int = 1000
    #: store the exported model's conv / linear weights as float16 (half the size; codes
    #: move by ~1e-3 relative). Norm layers and buffers stay float32.
    export_half: bool = True
    backend: str = "gloo"
    device: str = "cpu"
    #: as TrainConfig.precision: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32".
    precision: str = "auto"
    threads: int = 2


@dataclass(frozen=True)
class SSLRunConfig:
    """A named SSL setup: method + backbone + heads, views, and training."""

    name: str
    model: SSLModelConfig
    augment: SSLAugmentConfig
    train: SSLTrainConfig


def _ssl_heads(method: str) -> dict:
    """Head sizes per method. SimSiam's predictor is a bottleneck (its paper: 1/4 width)."""
    if method == "simclr":
        return {"projection_hidden": 512, "projection_dim": 128}
    if method == "byol":
        return {"projection_hidden": 1024, "projection_dim": 128, "prediction_hidden": 1024}
    return {"projection_hidden": 512, "projection_dim": 128, "prediction_hidden": 64}


def _ssl_configs(method: str) -> dict[str, SSLRunConfig]:
    heads = _ssl_heads(method)
    tiny = SSLRunConfig(
        "tiny",
        # tests only: max-pool too (16x16 after the stem) keeps them to seconds.
        SSLModelConfig(method=method, backbone="resnet10", stem_stride=2, stem_max_pool=True,
                       projection_hidden=64, projection_dim=32,
                       prediction_hidden=16 if method == "simsiam" else 64),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=1, batch_size=16, eval_batch_size=64, lr=1e-3, skip_min_history=5,
                       valid_fraction=0.1, threads=1),
    )
    # The shipped checkpoints: ResNet-18 with a stride-2 stem (32x32 after it; stride 1
    # trains ~6x slower on two cores), AdamW with a short warm-up and a cosine decay,
    # which learns in a few hundred steps where the paper's LARS at lr 5e-4..1e-3 would
    # barely move. Batch 64 gives twice the updates of 128 for the same compute. Epochs:
    # ~15 minutes each on two idle cores (benchmarks/ssl_speed.py: BYOL's target network
    # makes its step ~1.3x dearer, so it gets fewer epochs).
    cpu = SSLRunConfig(
        "cpu",
        SSLModelConfig(method=method, backbone="resnet18", stem_stride=2, **heads),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=8 if method == "byol" else 10, batch_size=64, optimizer="adamw",
                       lr=1e-3, weight_decay=1e-6, lr_warmup_steps=30),
    )
    # [A]: ResNet-34, LARS, batch 1024, 1000 epochs, lr 1e-3 (SimCLR) / 5e-4 (BYOL, SimSiam).
    # Not published, our choice: momentum 0.9, weight decay 1e-6 (lightly's LARS examples),
    # cosine decay without warm-up, the heads above, stride-1 stem (full 64x64 grid).
    paper = SSLRunConfig(
        "paper",
        SSLModelConfig(method=method, backbone="resnet34", stem_stride=1, **heads),
        SSLAugmentConfig(),
        SSLTrainConfig(epochs=1000, batch_size=1024, eval_batch_size=1024, optimizer="lars",
                       lr=1e-3 if method == "simclr" else 5e-4, momentum=0.9, weight_decay=1e-6),
    )
    return {c.name: c for c in (tiny, cpu, paper)}


SSL_CONFIGS = {method: _ssl_configs(method) for method in SSL_METHODS}


def get_ssl_config(method: str, name: str) -> SSLRunConfig:
    """The named setup of an SSL method: "tiny" (tests), "cpu" (default) or "paper"."""
    if method not in SSL_CONFIGS:
        raise KeyError(f"unknown SSL method {method!r}; choose from {list(SSL_METHODS)}")
    if name not in SSL_CONFIGS[method]:
        raise KeyError(f"unknown {method} config {name!r}; choose from {sorted(SSL_CONFIGS[method])}")
    return SSL_CONFIGS[method][name]


def check_ssl_config(run: SSLRunConfig) -> SSLRunConfig:
    """Refuse settings that cannot work, with a message naming the setting (InputError,
    a ValueError). `override` and `dataclass_from_dict` already call this through
    `check_config`; it stays for code that builds a config with `dataclasses.replace`."""
    return check_config(run)


def _ssl_model_problems(m: SSLModelConfig) -> list[str]:
    p = _Problems()
    p.finite(m)
    p.need(m.method in SSL_METHODS, "method", f"must be one of {list(SSL_METHODS)}", m.method)
    p.need(m.backbone in SSL_BACKBONES, "backbone", f"must be one of {sorted(SSL_BACKBONES)}", m.backbone)
    p.need(1 <= m.image_size <= MAX_IMAGE_SIZE, "image_size", f"must be 1..{MAX_IMAGE_SIZE}", m.image_size)
    p.need(m.stem_stride in (1, 2) and m.stem_kernel >= 1 and m.stem_kernel % 2 == 1,
           "stem_stride and stem_kernel", "must be 1 or 2, and odd")
    for name in ("projection_hidden", "projection_dim", "prediction_hidden"):
        p.need(1 <= getattr(m, name) <= MAX_VDVAE_WIDTH, name, f"must be 1..{MAX_VDVAE_WIDTH}", getattr(m, name))
    p.need(m.temperature > 0, "temperature", "must be > 0", m.temperature)
    p.need(0 <= m.momentum_start <= m.momentum_end <= 1, "momentum_start and momentum_end",
           "need 0 <= momentum_start <= momentum_end <= 1")
    return p


def _ssl_augment_problems(a: SSLAugmentConfig) -> list[str]:
    p = _Problems()
    p.finite(a)
    p.need(len(a.crop_scale) == 2 and 0 < a.crop_scale[0] <= a.crop_scale[1] <= 1, "crop_scale",
           "needs 0 < crop_scale[0] <= crop_scale[1] <= 1", a.crop_scale)
    p.need(len(a.crop_ratio) == 2 and 0 < a.crop_ratio[0] <= a.crop_ratio[1], "crop_ratio",
           "must be a positive range", a.crop_ratio)
    p.need(a.blur_kernel >= 1 and a.blur_kernel % 2 == 1, "blur_kernel", "must be odd", a.blur_kernel)
    p.need(len(a.blur_sigma) == 2 and 0 < a.blur_sigma[0] <= a.blur_sigma[1], "blur_sigma",
           "must be a positive range", a.blur_sigma)
    for name in ("flip_p", "rotate_p", "blur_p", "jitter_p"):
        p.need(0 <= getattr(a, name) <= 1, name, "is a probability and must lie in [0, 1]", getattr(a, name))
    p.need(0 <= a.brightness < 1 and 0 <= a.contrast < 1, "brightness and contrast", "must lie in [0, 1)")
    return p


def _ssl_train_problems(t: SSLTrainConfig) -> list[str]:
    p = _loop_problems(t, SSL_OPTIMIZERS)
    p.need(t.batch_size >= 2, "batch_size", "must be >= 2 (BatchNorm, negatives)", t.batch_size)
    p.need(t.lr_schedule in SSL_LR_SCHEDULES, "lr_schedule", f"must be one of {list(SSL_LR_SCHEDULES)}",
           t.lr_schedule)
    return p


def _density_problems(d: DensityConfig) -> list[str]:
    p = _Problems()
    p.finite(d)
    p.need(d.transforms >= 1, "transforms", "must be at least 1", d.transforms)
    p.need(len(d.hidden) >= 1 and all(1 <= h <= MAX_VDVAE_WIDTH for h in d.hidden), "hidden",
           f"must be one or more layer widths 1..{MAX_VDVAE_WIDTH}", d.hidden)
    p.need(d.lr > 0, "lr", "must be > 0", d.lr)
    p.need(d.weight_decay >= 0, "weight_decay", "must be >= 0", d.weight_decay)
    p.need(d.epochs >= 1, "epochs", "must be at least 1", d.epochs)
    p.need(d.batch_size >= 1, "batch_size", "must be at least 1", d.batch_size)
    p.need(0 < d.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", d.valid_fraction)
    p.need(d.patience >= 0, "patience", "must be >= 0", d.patience)
    p.need(d.grad_clip > 0, "grad_clip", "must be > 0", d.grad_clip)
    p.need(d.standardise in ("whiten", "scale"), "standardise", "must be 'whiten' or 'scale'", d.standardise)
    p.need(0 < d.min_eigen_fraction < 1 and 0 < d.min_scale_fraction < 1,
           "min_eigen_fraction and min_scale_fraction", "must lie in (0, 1)")
    p.need(d.threads >= 1, "threads", "must be at least 1", d.threads)
    return p


#: the configs `check_config` knows how to check, each with its own settings' checks.
_CHECKS = {
    DensityConfig: _density_problems,
    VDVAEConfig: _vdvae_problems,
    TrainConfig: _train_problems,
    SSLModelConfig: _ssl_model_problems,
    SSLAugmentConfig: _ssl_augment_problems,
    SSLTrainConfig: _ssl_train_problems,
}
