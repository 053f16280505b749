"""Encoders by name: the floors, a trained run or model folder, a shipped checkpoint, and
the encoder that made a given codes table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radiolatent.config import DEFAULT_POOL, EmbedConfig, PoolConfig
from radiolatent.core.errors import InputError
from radiolatent.data.inputs import model_input
from radiolatent.embedding.floors import FLOORS, PixelsPCA, RandomConv
from radiolatent.embedding.views import DIHEDRAL_SUFFIX, Encoder, ViewCodes, batched_views, embed_precision
from radiolatent.models.shipped import SHIPPED_MODEL, model_path, shipped_models
from radiolatent.models.vdvae.z0 import z0_encoder


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
    return load_encoder(model_path(model, FLOORS), config)


def load_encoder(path: Path, config: EmbedConfig) -> Encoder:
    """The encoder saved in a run or model folder: the checkpoint's kind picks the class."""
    from radiolatent.models.checkpoint import model_kind

    kind = model_kind(path)
    if kind == "vdvae":
        return VDVAEEncoder.load(path, config)
    if kind == "classifier":
        raise InputError(path, "is a fine-tuned classifier, not an encoder: run `radiolatent predict --model` with it")
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
    #: batches run at once on the CPU, one OpenMP thread each (`views.one_thread_per_batch`)
    workers: int = 1
    #: "bf16" or "fp32" (`EmbedConfig.precision`, resolved by `views.embed_precision`)
    precision: str = "fp32"

    @classmethod
    def load(cls, path: Path, config: EmbedConfig) -> VDVAEEncoder:
        from radiolatent.core.distributed import device
        from radiolatent.models.checkpoint import load_model

        where = device(config.device)
        model = _channels_last(load_model(path), where)
        name = path.resolve().name
        batch = config.batch_size if where.type != "cpu" else min(config.batch_size, VDVAE_CPU_BATCH)
        name = name if name.startswith("vdvae") else f"vdvae-{name}"
        # bf16 moves z0 by 2.3 % (median; 4.5 % at most) on MBC: it stays fp32 unless asked
        precision = embed_precision(config.precision, where, keeps_codes=False)
        return cls(model, name, batch, where, config.threads, precision)

    def __post_init__(self):
        # only what z0's posterior mean needs, with fewer full-resolution tensors
        # (models/vdvae/z0.Z0Encoder; the same codes as model.encode_z0 to ~1e-6)
        self.z0 = z0_encoder(self.model).to(memory_format=torch.channels_last)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.encode_views(images).mean

    def encode_views(self, images: np.ndarray, views: int = 1, progress: bool = False) -> ViewCodes:
        """Codes of images, averaged over their 8 orientations with views=8 (`batched_views`)."""
        return batched_views(
            self.z0, images, self.batch_size, progress, self.device, views, self.name, self.workers, self.precision
        )


@dataclass
class SSLEncoder:
    """A SimCLR / BYOL / SimSiam backbone: its 512-d global-average-pooled output."""

    model: torch.nn.Module
    name: str
    batch_size: int
    device: torch.device = torch.device("cpu")
    #: batches run at once on the CPU, one OpenMP thread each (`views.one_thread_per_batch`)
    workers: int = 1
    #: "bf16" or "fp32" (`EmbedConfig.precision`, resolved by `views.embed_precision`)
    precision: str = "fp32"

    @classmethod
    def load(cls, path: Path, config: EmbedConfig, kind: str) -> SSLEncoder:
        from radiolatent.core.distributed import device
        from radiolatent.models.checkpoint import load_model

        where = device(config.device)
        model = _channels_last(load_model(path), where)
        name = path.resolve().name
        # The kind leads the name, so tables and the reference lookup know the method.
        name = name if name.startswith(kind) else f"{kind}-{name}"
        return cls(model, name, config.batch_size, where, config.threads, embed_precision(config.precision, where))

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.encode_views(images).mean

    def encode_views(self, images: np.ndarray, views: int = 1, progress: bool = False) -> ViewCodes:
        """Codes of images, averaged over their 8 orientations with views=8 (`batched_views`)."""
        return batched_views(
            self.model, images, self.batch_size, progress, self.device, views, self.name, self.workers, self.precision
        )


def _channels_last(model: torch.nn.Module, where: torch.device) -> torch.nn.Module:
    """The model on `where` with channels-last weights: oneDNN's NHWC convolutions run the
    encoders faster on CPU (benchmarks/ssl_speed.py --compare-embed and
    benchmarks/vdvae_speed.py; docs/results.md, "Benchmarks"). Codes move by ~1e-5 at most."""
    return model.to(where).to(memory_format=torch.channels_last)


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
    raise InputError(made_by, "to embed a new image, name this table's model with {model}", ("model",))


def checked_encoder_for_table(table: pd.DataFrame, model: str | Path, config: EmbedConfig) -> Encoder:
    """The encoder in `model`, refused unless it is the one that made the table: codes of
    another model would be searched against these as if they were comparable."""
    encoder = get_encoder(str(model), config)
    if encoder.name != table_model(table):
        raise InputError(
            model, f"this model is '{encoder.name}', but the codes table was made by '{table_model(table)}'"
        )
    return encoder
