"""Settings of the downstream tools: classification, search, maps, importance,
clustering, density estimation and active learning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from radiolatent.config.core import (
    CHECKS,
    MAX_THREADS,
    MAX_VDVAE_WIDTH,
    Settings,
    _Problems,
    check_presets,
)

# ---------------------------------------------------------------------------
# Downstream: classification
# ---------------------------------------------------------------------------

#: the classifier names of [A] Table 2, in the paper's order.
ClassifierName = Literal["knn", "rf", "svc", "lr", "grad", "ext"]
CLASSIFIER_NAMES: tuple[ClassifierName, ...] = get_args(ClassifierName)

#: labels of the binary FR task; FRII is the positive class for ROC-AUC and recall.
FRI_LABEL = 0
FRII_LABEL = 1


@dataclass(frozen=True)
class ClassifyConfig(Settings):
    """The six scikit-learn classifiers of [A] (only its non-default settings) and the kNN protocols.

    `standardise` (StandardScaler fitted on the train rows) is off by default, as in [A],
    which lists no scaling: scaling lifts inactive code dimensions to full weight. Turn it
    on for tiny-magnitude features (e.g. an untrained conv net), where unscaled svc and lr
    collapse instead (docs/defaults.md#classification-configdownstreampy-classifyconfig).
    Every result reports which was used.
    """

    knn_neighbors: int = 20
    rf_estimators: int = 260
    svc_kernel: Literal["linear", "poly", "rbf", "sigmoid"] = "rbf"
    svc_gamma: float = 0.2
    svc_c: float = 100.0
    lr_max_iter: int = 1000
    grad_estimators: int = 250
    ext_estimators: int = 400
    classifiers: tuple[ClassifierName, ...] = CLASSIFIER_NAMES
    seeds: tuple[int, ...] = (0, 1, 2)
    standardise: bool = False
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
#: spelt `standardize` before the project settled on British spelling


@dataclass(frozen=True)
class PredictConfig(Settings):
    """Classes for rows without labels (downstream/predict.py, `radiolatent predict`).

    The classifier is one of [A]'s six (ClassifyConfig's settings), chosen by
    `folds`-fold stratified cross-validation within the labelled rows (never on a test
    split); its cross-validated scores also fit the calibration (Platt's logistic map)
    that turns them into probabilities.
    """

    folds: int = 5
    seed: int = 0
    #: neighbours for the in-domain score and the nearest labelled ids.
    neighbours: int = 5
    #: nearest labelled training ids written per row.
    nearest_ids: int = 3
    #: rows whose in-domain score is below this are flagged `out_of_domain`: fewer than
    #: this fraction of the labelled sources are as far from their own neighbours.
    domain_threshold: float = 0.05


DEFAULT_PREDICT = PredictConfig()


# ---------------------------------------------------------------------------
# Downstream: search, maps, importance, clustering
# ---------------------------------------------------------------------------

#: the similarity-search metrics: [A] cosine on the raw codes; [C] Euclidean after PCA.
#: whitened-cosine (the default: cosine after PCA-whitening on the searched set), the
#: paper's raw cosine ([A]) and [C]'s Euclidean distance after PCA.
SearchMetric = Literal["whitened-cosine", "cosine", "euclidean-pca"]
SEARCH_METRICS: tuple[SearchMetric, ...] = get_args(SearchMetric)
#: the metrics `duplicates` can threshold (similarities in [-1, 1]).
DUPLICATE_METRICS: tuple[SearchMetric, ...] = ("whitened-cosine", "cosine")


@dataclass(frozen=True)
class SearchConfig(Settings):
    """FAISS similarity search ([A] cosine; [C] Euclidean on PCA-reduced codes, 8 neighbours).

    The default metric is whitened cosine: the codes share a large common direction and
    most of their variance lies in a few dimensions, so raw cosine ranks nearly everything
    alike. Centring on the searched set's mean and whitening (PCA, each component scaled
    to unit variance) before cosine puts the same source rendered twice first far more
    often (docs/defaults.md#search-configdownstreampy-searchconfig).

    Sets up to `exact_threshold` rows use an exact flat index; larger ones an IVF-Flat
    index with nlist = `nlist_per_sqrt_n` * sqrt(N) lists, of which `nprobe` are scanned
    per query (more = better recall, slower; see benchmarks/search_faiss.py).
    """

    metric: SearchMetric = "whitened-cosine"
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
    #: up into noise.
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
    #: duplicates also reports every pair of rows within duplicate_separation_arcsec of each
    #: other (one source observed twice), whatever their codes; False: codes alone ([B]).
    duplicates_by_position: bool = True
    #: a search whose query has a sky position looks this many matches deeper for the
    #: other observations of the query's source (listed first, whatever their rank).
    observation_depth: int = 1000
    #: arcsec/pixel assumed for an image-file query without a FITS WCS (FIRST's, as the
    #: shipped models saw).
    query_pixel_scale: float = 1.8
    seed: int = 0


@dataclass(frozen=True)
class MapConfig(Settings):
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
class ImportanceConfig(Settings):
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
class ClusterConfig(Settings):
    """[C]'s clustering: PCA keeping 95 % variance, then a Bayesian Gaussian mixture.

    The defaults are [C]'s (the study's setting). `FAST_CLUSTER` (`cluster --config fast`,
    the command's default) bounds the cost on any table: at most `max_pca_dims` PCA
    components, a diagonal covariance above `full_covariance_dims` of them, 3 inits.
    """

    pca_variance: float = 0.95
    n_components: int = 20
    weight_concentration_prior: float = 0.5
    n_init: int = 10
    max_iter: int = 1000
    montage_per_cluster: int = 8
    #: keep at most this many PCA components (None: as many as pca_variance needs, as [C]).
    max_pca_dims: int | None = None
    #: "full" ([C]), "diag", "tied", "spherical", or "auto": full up to full_covariance_dims, diag above.
    covariance_type: str = "full"
    full_covariance_dims: int = 16
    #: BLAS threads while fitting: the mixture's many small matrix operations run 20x slower
    #: (wall clock) with a thread pool on a busy 2-core machine (benchmarks/cluster_speed.py).
    threads: int = 1


DEFAULT_SEARCH = SearchConfig()
DEFAULT_MAP = MapConfig()
DEFAULT_IMPORTANCE = ImportanceConfig()
DEFAULT_CLUSTER = ClusterConfig()
FAST_CLUSTER = ClusterConfig(max_pca_dims=32, covariance_type="auto", n_init=3, max_iter=300)
#: `cluster --config NAME`: fast (bounded cost on any table) or paper ([C], the study's).
CLUSTER_CONFIGS = {"fast": FAST_CLUSTER, "paper": DEFAULT_CLUSTER}


# ---------------------------------------------------------------------------
# Discovery: density estimation (downstream/density.py) and anomaly search
# (downstream/anomaly.py)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DensityConfig(Settings):
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
    #: stop at once when the held-out log-likelihood falls this many nats per row below its
    #: best (a flow that diverges has never come back here: docs/discovery.md); 0: never.
    #: The best epoch's weights are kept either way.
    diverged_drop: float = 100.0
    #: gradient-norm clip (a flow's first steps on heavy-tailed codes can be wild).
    grad_clip: float = 10.0
    #: the fixed affine map before the flow: "whiten" (PCA whitening) or "scale"
    #: (each component by its spread). See downstream/density.py for why whitening.
    standardise: Literal["whiten", "scale"] = "whiten"
    #: whitening: covariance eigenvalues below this fraction of the largest are raised to
    #: it; only a guard against a singular covariance (constant components, fewer rows
    #: than components; use "scale" there). A real floor hurt:
    #: docs/defaults.md#density-configdownstreampy-densityconfig.
    min_eigen_fraction: float = 1e-12
    #: scaling: spreads below this fraction of the largest are raised to it, so
    #: near-constant (inactive) components do not become huge numbers.
    min_scale_fraction: float = 1e-3
    #: torch threads: one is fastest for these small matrices:
    #: docs/defaults.md#density-configdownstreampy-densityconfig.
    threads: int = 1


def _density_configs() -> dict[str, DensityConfig]:
    tiny = DensityConfig("tiny", transforms=2, hidden=(32, 32), epochs=40, batch_size=64, patience=10, threads=1)
    # Chosen on the shipped VDVAE's pool codes (docs/defaults.md#density-configdownstreampy-densityconfig).
    cpu = DensityConfig()
    # [A]: 48 MADE blocks of 2 x 512 units, Adam lr 5e-4, 600 epochs (denmarf kept the best
    # epoch on its validation split, which patience=0 reproduces).
    paper = DensityConfig("paper", transforms=48, hidden=(512, 512), lr=5e-4, epochs=600, patience=0, diverged_drop=0.0)
    return {c.name: c for c in (tiny, cpu, paper)}


DENSITY_CONFIGS = _density_configs()
DEFAULT_DENSITY = DENSITY_CONFIGS["cpu"]


@dataclass(frozen=True)
class ActiveLearningConfig(Settings):
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


def _density_problems(d: DensityConfig) -> list[str]:
    p = _Problems()
    p.finite(d)
    p.need(d.transforms >= 1, "transforms", "must be at least 1", d.transforms)
    p.need(
        len(d.hidden) >= 1 and all(1 <= h <= MAX_VDVAE_WIDTH for h in d.hidden),
        "hidden",
        f"must be one or more layer widths 1..{MAX_VDVAE_WIDTH}",
        d.hidden,
    )
    p.need(d.lr > 0, "lr", "must be > 0", d.lr)
    p.need(d.weight_decay >= 0, "weight_decay", "must be >= 0", d.weight_decay)
    p.need(d.epochs >= 1, "epochs", "must be at least 1", d.epochs)
    p.need(d.batch_size >= 1, "batch_size", "must be at least 1", d.batch_size)
    p.need(0 < d.valid_fraction < 1, "valid_fraction", "must lie in (0, 1)", d.valid_fraction)
    p.need(d.patience >= 0, "patience", "must be >= 0", d.patience)
    p.need(d.diverged_drop >= 0, "diverged_drop", "must be >= 0 (0: never stop on a drop)", d.diverged_drop)
    p.need(d.grad_clip > 0, "grad_clip", "must be > 0", d.grad_clip)
    p.need(
        0 < d.min_eigen_fraction < 1 and 0 < d.min_scale_fraction < 1,
        "min_eigen_fraction and min_scale_fraction",
        "must lie in (0, 1)",
    )
    p.need(1 <= d.threads <= MAX_THREADS, "threads", f"must be 1..{MAX_THREADS}", d.threads)
    return p


CHECKS[DensityConfig] = _density_problems

#: covariance types of the clustering's mixture (`auto`: full when few PCA components, else diag).
COVARIANCE_TYPES = ("full", "diag", "tied", "spherical", "auto")


def _cluster_problems(c: ClusterConfig) -> list[str]:
    p = _Problems()
    p.need(0 < c.pca_variance <= 1, "pca_variance", "must lie in (0, 1]", c.pca_variance)
    p.need(
        c.n_components >= 1 and c.n_init >= 1 and c.max_iter >= 1,
        "n_components, n_init and max_iter",
        "must be at least 1",
    )
    p.need(c.max_pca_dims is None or c.max_pca_dims >= 1, "max_pca_dims", "must be None or at least 1", c.max_pca_dims)
    p.need(
        c.covariance_type in COVARIANCE_TYPES,
        "covariance_type",
        f"must be one of {COVARIANCE_TYPES}",
        c.covariance_type,
    )
    p.need(1 <= c.threads <= MAX_THREADS, "threads", f"must be 1..{MAX_THREADS}", c.threads)
    return p


CHECKS[ClusterConfig] = _cluster_problems


def _predict_problems(c: PredictConfig) -> list[str]:
    p = _Problems()
    p.need(c.folds >= 2, "folds", "must be at least 2", c.folds)
    p.need(c.seed >= 0, "seed", "must be >= 0", c.seed)
    p.need(c.neighbours >= 1 and c.nearest_ids >= 1, "neighbours and nearest_ids", "must be at least 1")
    p.need(0 <= c.domain_threshold < 1, "domain_threshold", "must lie in [0, 1)", c.domain_threshold)
    return p


CHECKS[PredictConfig] = _predict_problems

check_presets(
    DEFAULT_CLASSIFY,
    DEFAULT_PREDICT,
    DEFAULT_SEARCH,
    DEFAULT_MAP,
    DEFAULT_IMPORTANCE,
    *CLUSTER_CONFIGS.values(),
    *DENSITY_CONFIGS.values(),
    DEFAULT_ACTIVE,
)
