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
class FolderConfig:
    """A user's folder of cutouts (FITS / PNG / JPEG / .npy) and optional CSV catalogue."""

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


DEFAULT_CLASSIFY = ClassifyConfig()


# ---------------------------------------------------------------------------
# Downstream: search, maps, importance, clustering
# ---------------------------------------------------------------------------

#: the similarity-search metrics: [A] cosine on the raw codes; [C] Euclidean after PCA.
SEARCH_METRICS = ("cosine", "euclidean-pca")


@dataclass(frozen=True)
class SearchConfig:
    """FAISS similarity search ([A] cosine; [C] Euclidean on PCA-reduced codes, 8 neighbours).

    Sets up to `exact_threshold` rows use an exact flat index; larger ones an IVF-Flat
    index with nlist = `nlist_per_sqrt_n` * sqrt(N) lists, of which `nprobe` are scanned
    per query (more = better recall, slower; see benchmarks/search_faiss.py).
    """

    metric: str = "cosine"
    k: int = 8
    exact_threshold: int = 250_000
    nlist_per_sqrt_n: float = 1.0
    #: IVF lists scanned per query: 64 of ~1000 lists at 1M rows.
    nprobe: int = 64
    #: k-means training sample per IVF list (FAISS warns below 39).
    train_points_per_list: int = 64
    #: [C]: keep this fraction of the variance before Euclidean search and clustering.
    pca_variance: float = 0.95
    #: cosine similarity above which two codes count as duplicates ([B]).
    duplicate_threshold: float = 0.99
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
    batch_size: int = 256
    threads: int = 2
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
    device: str = "cpu"
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
    # woke up once an auxiliary decoder read it with a fixed-scale (MSE) loss.
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
    return cls(**values)


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
    return config


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
