"""Settings of the study (`radiolatent reproduce`) and the explorer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from radiolatent.config.core import Settings, check_presets
from radiolatent.config.data import DEFAULT_POOL, PoolConfig
from radiolatent.config.downstream import (
    CLASSIFIER_NAMES,
    DEFAULT_CLUSTER,
    ClassifierName,
    ClusterConfig,
    SearchMetric,
)
from radiolatent.config.models import EmbedPrecision

# ---------------------------------------------------------------------------
# The study: `radiolatent reproduce` (reproduce.py, report.py)
# ---------------------------------------------------------------------------

StudyEncoder = Literal["vdvae", "simclr", "byol", "simsiam", "pixels-pca", "random-conv"]
#: encoder name -> shipped checkpoint folder under src/radiolatent/weights/ (learned
#: encoders) or the floor's name (no-learning floors).
STUDY_ENCODERS: dict[StudyEncoder, str] = {
    "vdvae": "vdvae-cpu",
    "simclr": "simclr-cpu",
    "byol": "byol-cpu",
    "simsiam": "simsiam-cpu",
    "pixels-pca": "pixels-pca",
    "random-conv": "random-conv",
}
#: encoder -> the shipped checkpoint its single-pass codes come from when
#: `ReproduceConfig.distilled_single_pass`: the VDVAE's encoder taught to give its 8-view
#: codes in one pass (`train distil`, docs/vdvae.md).
STUDY_DISTILLED: dict[StudyEncoder, str] = {"vdvae": "vdvae-distil-cpu"}
#: the no-learning floors among them (embedding/floors.py makes their codes); here, where
#: the report can read them without importing torch.
FLOORS: tuple[StudyEncoder, ...] = ("pixels-pca", "random-conv")


@dataclass(frozen=True)
class ReproduceConfig(Settings):
    """What `radiolatent reproduce` runs; every figure in the report comes from here.

    The VDVAE's codes feed the pictures, search, density and anomaly stages as in [A];
    every encoder gets Table 2, the kNN protocols and clustering.
    """

    encoders: tuple[StudyEncoder, ...] = tuple(STUDY_ENCODERS)
    #: sets every encoder embeds; the VDVAE also embeds `vdvae_extra_sets`.
    sets: tuple[str, ...] = ("mbc", "frdeep-n")
    vdvae_extra_sets: tuple[str, ...] = ("pool", "first-galaxy")
    #: Table 2's (dataset, train spec, test spec).
    table2: tuple[tuple[str, str, str], ...] = (("mbc", "mbc:train", "mbc:test"), ("nvss", "nvss:train", "nvss:test"))
    #: seeds of every multi-seed result: two, as Table 2's 24 tables take ~7 minutes of the
    #: study on 2 cores (docs/defaults.md#the-study-configstudypy-reproduceconfig); `--seeds 3`
    #: gives docs/results.md's 3-seed summary.
    seeds: int = 2
    classifiers: tuple[ClassifierName, ...] = CLASSIFIER_NAMES
    #: False averages every code over the 8 orientations (EmbedConfig.dihedral_average)
    single_view: bool = False
    #: the learned encoders' arithmetic (`EmbedConfig.precision`): "fp32", or "auto" (bf16
    #: for the SSL backbones where the CPU has it natively: `--set embed_precision=auto`).
    embed_precision: EmbedPrecision = "fp32"
    #: single-pass VDVAE codes from its distilled encoder (STUDY_DISTILLED; trained from
    #: the VDVAE under --retrain); False: one pass of the VAE's own encoder.
    distilled_single_pass: bool = True
    #: the supervised ceiling's rows in the summary (the shipped table, or trained now)
    ceiling: bool = True
    #: train the ceiling now (`--retrain-ceiling`: `seeds` seeds x MBC, NVSS at the shipped
    #: table's settings, the `ceiling` fine-tuning preset) instead of showing the shipped
    #: table. Not part of `--retrain`, which retrains the encoders the study compares: the
    #: ceiling is a reference line, like the papers' numbers, and training it would take
    #: `--retrain` past its 90 minutes (docs/reproduce.md).
    retrain_ceiling: bool = False
    cluster: ClusterConfig = DEFAULT_CLUSTER
    #: t-SNE / UMAP draw at most this many pool rows (None: all)
    map_max_rows: int | None = None
    #: pictures
    reconstructions: int = 8
    samples_per_temperature: int = 8
    temperatures: tuple[float, ...] = (0.6, 0.8, 1.0)
    map_methods: tuple[Literal["tsne", "umap"], ...] = ("tsne", "umap")
    #: similarity search from MBC test sources into the pool ([A] Figs. 8, 9)
    search_k: int = 8
    #: density: MAF preset, generated images scored beside the data, MBC gallery size
    density_preset: Literal["tiny", "cpu", "paper"] = "cpu"
    #: torch threads for the density and anomaly stages' flows, each fitted alone
    #: (docs/defaults.md#the-study-configstudypy-reproduceconfig).
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
    encoders=("vdvae", "pixels-pca"),
    vdvae_extra_sets=("pool",),
    seeds=1,
    classifiers=("knn", "lr"),
    single_view=True,
    ceiling=False,
    cluster=ClusterConfig(n_init=1, max_iter=200),
    map_max_rows=400,
    reconstructions=4,
    samples_per_temperature=4,
    temperatures=(1.0,),
    map_methods=("tsne",),
    density_preset="tiny",
    generated=32,
    ood_gallery=4,
    anomaly_set="mirabest:all",
    anomaly_interesting="hybrid",
    anomaly_recall_at=20,
    anomaly_budget=30,
)


# ---------------------------------------------------------------------------
# Explorer: the browser tool (explore/)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreConfig(Settings):
    """`radiolatent explore`: a local web server over one codes table.

    The map is [C]'s UMAP (its n_neighbors and min_dist), computed once per codes table
    and cached beside it. Similarity search defaults to whitened cosine, as `search`
    does; [A]'s raw cosine and [C]'s Euclidean distance after PCA are one click away.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    #: neighbours shown for a clicked or dropped source ([C] shows 8).
    k: int = 8
    metric: SearchMetric = "whitened-cosine"
    #: thumbnails: side in pixels (the 64x64 model input, upscaled without smoothing so
    #: pixels stay visible), matplotlib colour map, and how many PNGs are kept in memory.
    thumb_size: int = 128
    thumb_cmap: str = "inferno"
    thumb_cache: int = 4096
    umap_neighbors: int = 15
    umap_min_dist: float = 0.01
    #: a larger table's UMAP is fitted on this many random rows and the rest are placed
    #: among their nearest fitted codes (a full UMAP's cost grows with the rows: docs/explore.md).
    umap_fit_rows: int = 10_000
    seed: int = 0
    #: rows returned by a ranking list.
    list_length: int = 200
    #: arcsec/pixel assumed for a dropped image without a FITS WCS (FIRST).
    upload_pixel_scale: float = 1.8
    #: refuse dropped files larger than this.
    max_upload_bytes: int = 20 * 2**20
    #: refuse any other request body larger than this (a label is a few dozen bytes).
    max_body_bytes: int = 64 * 2**10
    #: string columns with more distinct values than this cannot colour the map.
    max_categories: int = 30


DEFAULT_EXPLORE = ExploreConfig()

#: the study with the SSL backbones in bfloat16 where the CPU has it natively: about 3
#: minutes shorter on two AMX cores, and some Table 2 cells move by more than a test image
#: (docs/results.md, "Embedding in bfloat16"); `full` keeps fp32.
FAST_REPRODUCE = ReproduceConfig(embed_precision="auto")

#: `reproduce --config NAME`: full (the study), fast (full in bf16 where it is native) or
#: quick (a smoke test).
REPRODUCE_CONFIGS = {"full": ReproduceConfig(), "fast": FAST_REPRODUCE, "quick": QUICK_REPRODUCE}
check_presets(*REPRODUCE_CONFIGS.values(), DEFAULT_EXPLORE)
