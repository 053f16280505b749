"""Turn images into codes tables with any encoder: a trained model or a no-learning floor.

Floors (measurements.md): `pixels-pca` (the 64x64 model input, PCA to 256 fitted
on the pool) and `random-conv` (an untrained conv encoder with a fixed seed).
Every later table prints them beside the learned encoders, so a result that
does not beat them is visible as such.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_POOL, EmbedConfig, PoolConfig
from radiolatent.data.dataset import RadioDataset
from radiolatent.data.preprocess import to_unit_float
from radiolatent.errors import InputError

FLOORS = ("pixels-pca", "random-conv")
#: codes-table columns saying where each row's model input is kept, and at which row.
IMAGES_COLUMN = "images"
IMAGE_ROW_COLUMN = "image_row"

#: checkpoints shipped with the package, one folder each (vdvae-cpu, simclr-cpu, byol-cpu, simsiam-cpu).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: the VDVAE trained with the `cpu` config on the default pool, seed 0: the default encoder.
SHIPPED_MODEL = WEIGHTS_DIR / "vdvae-cpu"


class Encoder(Protocol):
    name: str

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, 64, 64) uint8 -> (N, d) float32."""


# ---------------------------------------------------------------------------
# Data: what each spec means as model input
# ---------------------------------------------------------------------------


def model_input(spec: str, pool_config: PoolConfig = DEFAULT_POOL) -> RadioDataset:
    """Preprocessed 64x64 images and metadata for a source ('pool', 'mbc', 'frdeep-n:test',
    'folder@/data/fits', 'myfits=folder@/data/fits', ...)."""
    return set_input(spec, pool_config)[0]


def set_input(spec: str, pool_config: PoolConfig = DEFAULT_POOL) -> tuple[RadioDataset, Path | None]:
    """model_input, and where the pool keeps these images already (None: not a pool)."""
    if spec == "pool":
        from radiolatent.data.pools import build_pool

        pool = build_pool(pool_config)
        return pool.as_dataset(), pool.path
    from radiolatent.data.preprocess import preprocess
    from radiolatent.data.registry import load_source

    ds = load_source(spec, pool_config.folder)
    images = preprocess(ds.images, ds.meta["pixel_scale_arcsec"].to_numpy(float), pool_config.preprocess)
    return RadioDataset(ds.name, images, ds.meta), None


def set_name(spec: str) -> str:
    """The canonical name stored in a codes table's `set` column."""
    if spec == "pool":
        return "pool"
    from radiolatent.data.registry import Source

    return Source.parse(spec).set_name


def keep_inputs(images: np.ndarray, pool_path: Path | None) -> Path:
    """Where a set's model inputs stay readable for pictures, search grids and the explorer:
    the pool's own cache, or a content-addressed .npy in the cache (written once)."""
    if pool_path is not None:
        return pool_path
    from radiolatent.data.archives import cache_dir
    from radiolatent.fileio import atomic_path

    images = np.ascontiguousarray(images)
    digest = hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest()
    path = cache_dir() / "inputs" / f"{digest}-{len(images)}x{images.shape[1]}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, images)
    return path


# ---------------------------------------------------------------------------
# Floors
# ---------------------------------------------------------------------------


@dataclass
class PixelsPCA:
    """Raw model-input pixels projected on the pool's first principal components."""

    pca: PCA
    name: str = "pixels-pca"

    @classmethod
    def fit(cls, pool_images: np.ndarray, config: EmbedConfig) -> PixelsPCA:
        x = _flat(pool_images)
        n = min(config.pca_components, *x.shape)
        return cls(PCA(n_components=n, svd_solver="full").fit(x))

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.pca.transform(_flat(images)).astype(np.float32)


def _flat(images: np.ndarray) -> np.ndarray:
    return to_unit_float(np.asarray(images)).reshape(len(images), -1)


class RandomConv(torch.nn.Module):
    """An untrained conv encoder: stride-2 stages, then global average pooling.

    Its raw outputs are tiny (~1e-4), which collapses svc and lr (measurements.md),
    so codes are standardised with the pool's mean and spread, as the probe did.
    """

    name = "random-conv"

    def __init__(self, config: EmbedConfig):
        super().__init__()
        generator = torch.Generator().manual_seed(config.random_conv_seed)
        layers, c_in = [], 1
        for c_out in config.random_conv_channels:
            conv = torch.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            _reset(conv, generator)
            layers += [conv, torch.nn.ReLU()]
            c_in = c_out
        self.net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.batch_size = config.batch_size
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, pool_images: np.ndarray) -> RandomConv:
        raw = self._raw(pool_images)
        self.mean, self.std = raw.mean(axis=0), raw.std(axis=0) + 1e-12
        return self

    @torch.no_grad()
    def _raw(self, images: np.ndarray) -> np.ndarray:
        return batched(self.net, images, self.batch_size)

    def encode(self, images: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("RandomConv.fit(pool_images) must run before encode")
        return ((self._raw(images) - self.mean) / self.std).astype(np.float32)


def _reset(conv: torch.nn.Conv2d, generator: torch.Generator) -> None:
    """Kaiming-uniform weights drawn from our own generator, so the floor never changes."""
    bound = 1.0 / np.sqrt(conv.weight[0].numel())
    with torch.no_grad():
        conv.weight.uniform_(-bound * np.sqrt(3), bound * np.sqrt(3), generator=generator)
        conv.bias.uniform_(-bound, bound, generator=generator)


def batched(fn, images: np.ndarray, batch_size: int, progress: bool = False,
            device: torch.device | None = None, views: int = 1, name: str = "") -> np.ndarray:
    """Apply a torch function to uint8 images in batches, as float inputs in [0, 1], on
    `device` (default the CPU). Under torchrun the batches are shared out (batch b to rank
    b mod world size) and every process gets all outputs in order: each batch holds the
    same images as in one process, so the codes are the same numbers.

    views=8: each batch's 8 flips and quarter turns (`dihedral_views` order) go through
    `fn` as one batch and their outputs are averaged; `batch_size` counts views, so a
    batch holds batch_size // 8 images and 8 views cost 8 single views, not more.
    `progress`: a bar over images and, for a long run, a time estimate after the first
    batches (`time_estimate`), printed above the bar."""
    from radiolatent import distributed

    device = device or torch.device("cpu")
    where = distributed.place() if distributed.active() else distributed.Place()
    per_batch = max(1, batch_size // views)
    starts = list(range(0, len(images), per_batch))
    out = [None] * len(starts)
    mine = range(where.rank, len(starts), where.world)
    shown = progress and where.main
    n_mine = sum(min(per_batch, len(images) - starts[i]) for i in mine)
    clock = _EstimateClock(n_mine, views, name) if shown else None
    with tqdm(total=n_mine, unit="img", desc=name or "embedding", disable=not shown, leave=False) as bar:
        for i in mine:
            x = _unit_batch(images[starts[i] : starts[i] + per_batch], device)[:, None]
            out[i] = (fn(x) if views == 1 else _view_mean(fn, x, views)).float().cpu().numpy()
            bar.update(len(x))
            if clock is not None:
                clock.batch_done(len(x))
    out = distributed.gather_rows(out, len(starts))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _view_mean(fn, x: torch.Tensor, views: int) -> torch.Tensor:
    """fn's outputs for x's 8 flips and quarter turns (one batch), averaged per image."""
    if views != len(DIHEDRAL_ORDER):
        raise ValueError(f"views must be 1 or {len(DIHEDRAL_ORDER)}, got {views}")
    stacked = torch.cat([torch.rot90(x.flip(3) if flip else x, k, dims=(2, 3)) for flip, k in DIHEDRAL_ORDER])
    out = fn(stacked)
    return out.reshape(views, len(x), *out.shape[1:]).mean(0)


#: a time estimate is printed when an embedding run is expected to take at least this long.
LONG_EMBED_S = 60.0
#: image-views timed (after a first, warm-up batch), or seconds, before the estimate is made.
ESTIMATE_AFTER_VIEWS = 256
ESTIMATE_AFTER_S = 5.0


class _EstimateClock:
    """Times an embedding run's first batches and prints `time_estimate` if it is long."""

    def __init__(self, n_images: int, views: int, name: str):
        self.n_images, self.views, self.name = n_images, views, name
        self.started: float | None = None
        self.timed = 0
        self.done = False

    def batch_done(self, n: int) -> None:
        if self.done:
            return
        now = time.perf_counter()
        if self.started is None:  # the first batch sets up kernels and caches: not timed
            self.started = now
            return
        self.timed += n
        enough = self.timed * self.views >= ESTIMATE_AFTER_VIEWS or self.timed >= self.n_images // 4
        if enough or now - self.started > ESTIMATE_AFTER_S:
            self.done = True
            rate = self.timed * self.views / max(now - self.started, 1e-9)
            if self.n_images * self.views / rate >= LONG_EMBED_S:
                tqdm.write(time_estimate(self.n_images, self.views, rate, self.name), file=sys.stderr)


def time_estimate(n_images: int, views: int, views_per_s: float, name: str) -> str:
    """How long embedding `n_images` takes at a measured rate, e.g. "embedding 95,895 images
    x 8 views with vdvae-cpu: about 53 min at 240 views/s; --single-view takes about 7 min"."""
    plural = "views" if views > 1 else "view"
    text = (f"embedding {n_images:,d} images x {views} {plural} with {name or 'this encoder'}: "
            f"about {_duration(n_images * views / views_per_s)} at {views_per_s:,.0f} {'views' if views > 1 else 'img'}/s")
    if views > 1:
        text += f"; --single-view takes about {_duration(n_images / views_per_s)}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _unit_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 images as float32 in [0, 1] on `device` (on a GPU: sent as uint8, a quarter of
    the bytes, and divided there; the same float32 division either way)."""
    if device.type == "cpu":
        return torch.from_numpy(to_unit_float(np.asarray(images)))
    uint8 = torch.from_numpy(np.ascontiguousarray(images)).pin_memory()
    return uint8.to(device, non_blocking=True).float().div_(255.0)


def shipped_models() -> dict[str, Path]:
    """The shipped checkpoints by folder name ('byol-cpu' -> its folder)."""
    from radiolatent.models.checkpoint import MODEL_JSON

    if not WEIGHTS_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(WEIGHTS_DIR.iterdir()) if (p / MODEL_JSON).is_file()}


def get_encoder(model: str | None, config: EmbedConfig, pool_config: PoolConfig = DEFAULT_POOL) -> Encoder:
    """A floor by name, a trained model from its run or model folder (VDVAE or SSL, by the
    saved kind), a shipped checkpoint by name ('byol-cpu'), or (None) the shipped VDVAE."""
    if model is None:
        from radiolatent.models.checkpoint import MODEL_JSON

        if not (SHIPPED_MODEL / MODEL_JSON).is_file():
            raise InputError(SHIPPED_MODEL, "the shipped VDVAE checkpoint is missing from this installation")
        return VDVAEEncoder.load(SHIPPED_MODEL, config)
    if model == "pixels-pca":
        return PixelsPCA.fit(model_input("pool", pool_config).images, config)
    if model == "random-conv":
        return RandomConv(config).eval().fit(model_input("pool", pool_config).images)
    path = Path(model)
    if not path.exists() and model in shipped_models():
        path = shipped_models()[model]
    if not path.exists():
        names = ", ".join(FLOORS + tuple(shipped_models()))
        raise InputError(model, f"no such model: give a trained run folder or one of {names}")
    return load_encoder(path, config)


def load_encoder(path: Path, config: EmbedConfig) -> Encoder:
    """The encoder saved in a run or model folder: the checkpoint's kind picks the class."""
    from radiolatent.models.checkpoint import model_kind

    kind = model_kind(path)
    if kind == "vdvae":
        return VDVAEEncoder.load(path, config)
    return SSLEncoder.load(path, config, kind)


#: at most this many VDVAE forward passes a batch on the CPU: at 64 the 32x64x64 activations
#: (512 KiB an image, 32 MiB a batch) pass glibc's largest mmap threshold, so each is a
#: fresh mapping with page faults; 32 ran ~1.3x faster (benchmarks/vdvae_speed.py).
VDVAE_CPU_BATCH = 32


@dataclass
class VDVAEEncoder:
    """z0 of a trained VDVAE: the posterior mean of its lowest-resolution latent."""

    model: torch.nn.Module
    name: str
    batch_size: int
    device: torch.device = torch.device("cpu")

    @classmethod
    def load(cls, path: Path, config: EmbedConfig) -> VDVAEEncoder:
        from radiolatent.distributed import device
        from radiolatent.models.checkpoint import load_model

        # channels-last convolutions run the encoder ~1.5x faster on CPU (oneDNN's NHWC
        # kernels; measured 561 -> 875 img/s on 2 cores); codes move by ~1e-6
        where = device(config.device)
        model = load_model(path).to(where, memory_format=torch.channels_last)
        name = path.resolve().name
        batch = config.batch_size if where.type != "cpu" else min(config.batch_size, VDVAE_CPU_BATCH)
        return cls(model, name if name.startswith("vdvae") else f"vdvae-{name}", batch, where)

    def __post_init__(self):
        # only what z0's posterior mean needs, with fewer full-resolution tensors
        # (models/vdvae.Z0Encoder; the same codes as model.encode_z0 to ~1e-6)
        self.z0 = self.model.z0_encoder().to(memory_format=torch.channels_last)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.encode_views(images)

    def encode_views(self, images: np.ndarray, views: int = 1, progress: bool = False) -> np.ndarray:
        """Codes of images, averaged over their 8 orientations with views=8."""
        return batched(self.z0, images, self.batch_size, progress, self.device, views, self.name)


@dataclass
class SSLEncoder:
    """A SimCLR / BYOL / SimSiam backbone: its 512-d global-average-pooled output."""

    model: torch.nn.Module
    name: str
    batch_size: int
    device: torch.device = torch.device("cpu")

    @classmethod
    def load(cls, path: Path, config: EmbedConfig, kind: str) -> SSLEncoder:
        from radiolatent.distributed import device
        from radiolatent.models.checkpoint import load_model

        where = device(config.device)
        model = load_model(path).to(where)
        name = path.resolve().name
        # The kind leads the name, so tables and the reference lookup know the method.
        return cls(model, name if name.startswith(kind) else f"{kind}-{name}", config.batch_size, where)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.encode_views(images)

    @torch.inference_mode()
    def encode_views(self, images: np.ndarray, views: int = 1, progress: bool = False) -> np.ndarray:
        """Codes of images, averaged over their 8 orientations with views=8."""
        return batched(self.model, images, self.batch_size, progress, self.device, views, self.name)


#: model ids of codes averaged over the 8 orientations carry this suffix.
DIHEDRAL_SUFFIX = "+d8"
#: the 8 flips and quarter turns as (flip the width axis first, quarter turns k).
DIHEDRAL_ORDER = tuple((flip, k) for flip in (False, True) for k in range(4))
#: images per chunk when an encoder without `encode_views` is averaged over orientations:
#: 8 copies of a chunk are held, not of the whole set (a multiple of every batch size).
VIEW_CHUNK = 4096


def dihedral_views(images: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and quarter turns of (N, H, W) images."""
    images = np.asarray(images)
    return [np.ascontiguousarray(np.rot90(images[:, :, ::-1] if flip else images, k, axes=(1, 2)))
            for flip, k in DIHEDRAL_ORDER]


def encode_images(encoder: Encoder, images: np.ndarray, config: EmbedConfig, progress: bool = False) -> np.ndarray:
    """Codes of (N, 64, 64) uint8 images, averaged over their 8 orientations if configured.

    Torch encoders (`encode_views`) put each batch's 8 views through the model as one
    batch; others encode the views of a chunk of images in turn."""
    views = len(DIHEDRAL_ORDER) if config.dihedral_average else 1
    if hasattr(encoder, "encode_views"):
        return encoder.encode_views(images, views, progress)
    if views == 1:
        return encoder.encode(images)
    chunks = []
    with tqdm(total=len(images), unit="img", desc=encoder.name, disable=not progress, leave=False) as bar:
        for start in range(0, len(images), VIEW_CHUNK):
            chunk = images[start : start + VIEW_CHUNK]
            chunks.append(np.mean([encoder.encode(view) for view in dihedral_views(chunk)], axis=0).astype(np.float32))
            bar.update(len(chunk))
    return np.concatenate(chunks) if chunks else encoder.encode(images)


def model_id(encoder: Encoder, config: EmbedConfig) -> str:
    return encoder.name + (DIHEDRAL_SUFFIX if config.dihedral_average else "")


# ---------------------------------------------------------------------------
# Codes tables
# ---------------------------------------------------------------------------


def table_model(table: pd.DataFrame) -> str:
    """The name of the model that made a codes table, without the orientation suffix."""
    return str(table["model"].iloc[0]).removesuffix(DIHEDRAL_SUFFIX)


def table_embed_config(table: pd.DataFrame) -> EmbedConfig:
    """Embedding settings that match a codes table's (orientation averaging or not), so a
    new image's code is comparable with the table's."""
    return EmbedConfig(dihedral_average=str(table["model"].iloc[0]).endswith(DIHEDRAL_SUFFIX))


def encoder_for_table(table: pd.DataFrame, model: str | None, config: EmbedConfig | None = None) -> Encoder:
    """The encoder that made a codes table: `model` if given, else the table's own model
    when it can be rebuilt here (a floor or a shipped checkpoint)."""
    config = config or EmbedConfig()
    if model is not None:
        return get_encoder(model, config)
    made_by = table_model(table)
    if made_by in FLOORS:
        return get_encoder(made_by, config)
    if made_by == SHIPPED_MODEL.name:
        return get_encoder(None, config)
    if made_by in shipped_models():
        return get_encoder(made_by, config)
    raise InputError(made_by, "to embed a new image, name this table's model with --model PATH")


def checked_encoder_for_table(table: pd.DataFrame, model: str | Path, config: EmbedConfig) -> Encoder:
    """The encoder in `model`, refused unless it is the one that made the table: codes of
    another model would be searched against these as if they were comparable."""
    encoder = get_encoder(str(model), config)
    if encoder.name != table_model(table):
        raise InputError(model, f"this model is '{encoder.name}', but the codes table was made by '{table_model(table)}'")
    return encoder


def embed_file(path: str | Path, encoder: Encoder, pixel_scale_arcsec: float, config: EmbedConfig,
               pool_config: PoolConfig = DEFAULT_POOL) -> tuple[np.ndarray, np.ndarray]:
    """An image file (FITS, PNG, JPEG, .npy) as model input and its code, (64, 64) and (d,)."""
    from radiolatent.data.folder import read_cutout
    from radiolatent.data.preprocess import preprocess

    cutout = read_cutout(Path(path))
    scale = cutout.pixel_scale_arcsec if np.isfinite(cutout.pixel_scale_arcsec) else pixel_scale_arcsec
    image = preprocess(cutout.image[None], scale, pool_config.preprocess)
    return image[0], encode_images(encoder, image, config)[0]


def embed(
    model: str | None,
    specs: list[str],
    config: EmbedConfig | None = None,
    pool_config: PoolConfig = DEFAULT_POOL,
    progress: bool = True,
) -> pd.DataFrame:
    """One codes table holding every spec's rows, encoded by `model`. Specs naming the
    same set ('first-galaxy' and 'first-galaxy:all', 'mbc' and 'mirabest:confident') give
    its rows once."""
    from radiolatent.codes import make_codes_table

    config = config or EmbedConfig()
    torch.set_num_threads(config.threads)
    encoder = get_encoder(model, config, pool_config)
    by_set = {}
    for spec in specs:
        by_set.setdefault(set_name(spec), spec)
    tables, seen = [], {}
    for name, spec in by_set.items():  # the bar and the time estimate count images (`batched`)
        ds, pool_path = set_input(spec, pool_config)
        codes = encode_once(encoder, ds.images, config, seen, progress)
        table = make_codes_table(ds.meta, codes, name, model_id(encoder, config))
        table.insert(table.columns.get_loc("model") + 1, IMAGES_COLUMN, str(keep_inputs(ds.images, pool_path)))
        table.insert(table.columns.get_loc(IMAGES_COLUMN) + 1, IMAGE_ROW_COLUMN, np.arange(len(table)))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def encode_once(encoder: Encoder, images: np.ndarray, config: EmbedConfig, seen: dict[bytes, np.ndarray],
                progress: bool = False) -> np.ndarray:
    """`encode_images`, encoding each distinct image only once: `seen` maps an image's bytes
    digest to its code and is filled in (sets overlap, e.g. the pool and first-galaxy)."""
    keys = [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]
    new = {key: row for row, key in enumerate(keys) if key not in seen}
    if new:
        codes = encode_images(encoder, images[list(new.values())], config, progress)
        seen.update(zip(new, codes))
    return np.stack([seen[key] for key in keys]) if keys else encode_images(encoder, images, config)


def load_images_for(rows: pd.DataFrame, pool_config: PoolConfig = DEFAULT_POOL) -> np.ndarray:
    """The 64x64 model inputs of codes-table rows: read where `embed` kept them (the pool's
    cache or a .npy in the cache), or, for tables written before it kept them, rebuilt
    from their `set`."""
    size = pool_config.preprocess.size
    if IMAGES_COLUMN not in rows.columns:
        return _rebuild_images_for(rows, pool_config)
    out = np.zeros((len(rows), size, size), np.uint8)
    where = rows[IMAGES_COLUMN].astype(str).to_numpy()
    for source in np.unique(where):
        mine = np.flatnonzero(where == source)
        images = _kept_inputs(Path(source))
        index = rows[IMAGE_ROW_COLUMN].to_numpy(np.int64)[mine]
        if images.shape[1:] != (size, size) or index.max(initial=0) >= len(images):
            raise InputError(source, "does not hold these codes' images (changed since embedding); embed again")
        order = np.argsort(index)  # rows read in increasing order: a memory map reads forwards
        out[mine[order]] = images[index[order]]
    return out


def _kept_inputs(path: Path) -> np.ndarray:
    if path.is_dir():
        from radiolatent.data.pools import load_pool

        return load_pool(path).images
    if not path.is_file():
        raise InputError(path, "the images these codes were made from are gone from the cache; embed again")
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _rebuild_images_for(rows: pd.DataFrame, pool_config: PoolConfig) -> np.ndarray:
    out = np.zeros((len(rows), pool_config.preprocess.size, pool_config.preprocess.size), np.uint8)
    for set_value in rows["set"].unique():
        ds = model_input(set_value, pool_config)
        where = pd.Index(ds.meta["id"]).get_indexer(rows["id"][rows["set"] == set_value])
        if (where < 0).any():
            missing = rows["id"][rows["set"] == set_value].iloc[int(np.flatnonzero(where < 0)[0])]
            raise InputError(set_value, f"no image with id {missing!r}: the codes table is out of date")
        out[np.flatnonzero((rows["set"] == set_value).to_numpy())] = np.asarray(ds.images)[where]
    return out
