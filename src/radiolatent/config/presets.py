"""The named run presets of the VDVAE and the SSL methods: tiny (tests), cpu (the default)
and paper for each, and for the SSL methods [B]'s and [C]'s settings (`train byol --config
b-paper|c-mirabest`) and the cut study's default (`cut`); the one preset, `default`, of each
command whose settings have no other (`classify --config default`, ...); and `PRESETS`, every
named preset of every kind (the others are built beside their settings), which
`preset(kind, name)` looks up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, overload

from radiolatent.config.core import check_presets, override, settings_checked
from radiolatent.config.distil import DISTIL_CONFIGS, DistilRunConfig
from radiolatent.config.downstream import (
    CLUSTER_CONFIGS,
    DEFAULT_ACTIVE,
    DEFAULT_CLASSIFY,
    DEFAULT_IMPORTANCE,
    DEFAULT_MAP,
    DEFAULT_PREDICT,
    DEFAULT_SEARCH,
    DENSITY_CONFIGS,
    ActiveLearningConfig,
    ClassifyConfig,
    ClusterConfig,
    DensityConfig,
    ImportanceConfig,
    MapConfig,
    PredictConfig,
    SearchConfig,
)
from radiolatent.config.finetune import FINETUNE_CONFIGS, FinetuneRunConfig
from radiolatent.config.models import SSL_METHODS, EmbedConfig, SSLModelConfig, SSLViewConfig, VDVAEConfig
from radiolatent.config.study import DEFAULT_EXPLORE, REPRODUCE_CONFIGS, ExploreConfig, ReproduceConfig
from radiolatent.config.training import SSLRunConfig, SSLTrainConfig, TrainConfig, VDVAERunConfig


def more_presets(method: Any, heads: dict[str, Any]) -> list[Any]:
    """[B]'s, [C]'s and the cut study's settings for `method` ([B] and [C] trained BYOL)."""
    # [B]: ResNet-18, 100-d output layer, SGD lr 0.6, momentum 0.9, weight decay 5e-4,
    # cosine schedule, batch 256. Not given by [B] (reference.PROTOCOLS), our choice: the full 64x64
    # grid after the stem (as `paper`) and 100 epochs.
    b_paper = SSLRunConfig(
        "b-paper",
        SSLModelConfig(method=method, backbone="resnet18", stem_stride=1, **{**heads, "projection_dim": 100}),
        SSLViewConfig(),
        SSLTrainConfig(
            epochs=100, batch_size=256, optimizer="sgd", lr=0.6, momentum=0.9, weight_decay=5e-4, lr_schedule="cosine"
        ),
    )
    # [C] on MiraBest (`--train mirabest:all`): ResNet-18, Adam lr 1e-4, tau 0.99,
    # projection 100, batch 32, 50 epochs; views: flips p 0.5, resized crop scale >= 0.7,
    # rotation by any angle p 0.7, blur. The stem is the shipped checkpoints' (stride 2)
    # so `--init pretrained` can load them; no weight decay and a constant lr (Adam's
    # defaults, none published).
    c_mirabest = SSLRunConfig(
        "c-mirabest",
        SSLModelConfig(
            method=method, backbone="resnet18", stem_stride=2, momentum_start=0.99, **{**heads, "projection_dim": 100}
        ),
        SSLViewConfig(flip_p=0.5, rotate_p=0.7, crop_scale=(0.7, 1.0)),
        SSLTrainConfig(epochs=50, batch_size=32, optimizer="adam", lr=1e-4, weight_decay=0.0, lr_schedule="constant"),
    )
    # The cut study's default (`radiolatent cut-study`): the shipped encoders' ResNet-18 and
    # optimiser with a max-pool after the stem (16x16 maps after it instead of 32x32: a
    # quarter of the convolution work, as 4 cuts x 3 seeds = 12 runs) and 15 epochs, so
    # the kNN accuracy can move with training, where `tiny` (ResNet-10, 5 epochs) was flat.
    cut = SSLRunConfig(
        "cut",
        SSLModelConfig(method=method, backbone="resnet18", stem_stride=2, stem_max_pool=True, **heads),
        SSLViewConfig(),
        SSLTrainConfig(epochs=15, batch_size=64, optimizer="adamw", lr=1e-3, weight_decay=1e-6, lr_warmup_steps=30),
    )
    return [b_paper, c_mirabest, cut]


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
            aux_weight=0.0,
            aux_likelihood="same",
        ),
        TrainConfig(
            epochs=2,
            batch_size=16,
            eval_batch_size=64,
            lr=2e-3,
            lr_warmup_steps=5,
            kl_warmup_steps=20,
            skip_min_history=5,
            ema_decay=0.99,
            threads=1,
        ),
    )
    # The shipped checkpoint's setup (the bare VDVAEConfig() and TrainConfig()). z0 is the
    # 4x4x16 layer (256 numbers; a 1x1 z0 collapsed in every CPU trial): docs/vdvae.md.
    # Its training time on 2 cores: docs/defaults.md.
    cpu = VDVAERunConfig("cpu", VDVAEConfig(), TrainConfig())
    # Child's layout read in execution order: the decoder string starts at 1x1 with
    # 5 blocks, so the published {5,5,4,3,2,1} puts the cheap blocks at low resolution;
    # z0 is 1x1x256.
    paper = VDVAERunConfig(
        "paper",
        VDVAEConfig(
            encoder_blocks="64x3,64d2,32x3,32d2,16x2,16d2,8x2,8d2,4x2,4d4,1x1",
            decoder_blocks="1x5,4m1,4x5,8m4,8x4,16m8,16x3,32m16,32x2,64m32,64x1",
            widths="64:64,32:64,16:128,8:128,4:256,1:256",
            z0_channels=256,
            top_head_width=256,
            n_mixtures=10,
            aux_weight=0.0,
            aux_likelihood="same",
        ),
        TrainConfig(
            epochs=100,
            batch_size=32,
            optimizer="rmsprop",
            lr=2e-5,
            momentum=0.9,
            weight_decay=1e-4,
            lr_warmup_steps=0,
            kl_schedule="constant",
            ema_decay=0.9999,
        ),
    )
    return {c.name: c for c in (tiny, cpu, paper)}


def _ssl_heads(method: str) -> dict[str, Any]:
    """Head sizes per method. SimSiam's predictor is a bottleneck (its paper: 1/4 width)."""
    if method == "simclr":
        return {"projection_hidden": 512, "projection_dim": 128}
    if method == "byol":
        return {"projection_hidden": 1024, "projection_dim": 128, "prediction_hidden": 1024}
    return {"projection_hidden": 512, "projection_dim": 128, "prediction_hidden": 64}


def _ssl_configs(method: Any) -> dict[str, SSLRunConfig]:
    heads = _ssl_heads(method)
    tiny = SSLRunConfig(
        "tiny",
        # tests only: max-pool too (16x16 after the stem) keeps them to seconds.
        SSLModelConfig(
            method=method,
            backbone="resnet10",
            stem_stride=2,
            stem_max_pool=True,
            projection_hidden=64,
            projection_dim=32,
            prediction_hidden=16 if method == "simsiam" else 64,
        ),
        SSLViewConfig(),
        SSLTrainConfig(
            epochs=1, batch_size=16, eval_batch_size=64, lr=1e-3, skip_min_history=5, valid_fraction=0.1, threads=1
        ),
    )
    # The shipped checkpoints: ResNet-18 with a stride-2 stem (32x32 after it), AdamW with
    # a short warm-up and a cosine decay, which learns in a few hundred steps where the
    # paper's LARS at lr 5e-4..1e-3 would barely move. Batch 64 gives twice the updates of
    # 128 for the same compute. BYOL's dearer step gets fewer epochs (docs/defaults.md).
    cpu = SSLRunConfig(
        "cpu",
        SSLModelConfig(method=method, backbone="resnet18", stem_stride=2, **heads),
        SSLViewConfig(),
        SSLTrainConfig(
            epochs=8 if method == "byol" else 10,
            batch_size=64,
            optimizer="adamw",
            lr=1e-3,
            weight_decay=1e-6,
            lr_warmup_steps=30,
        ),
    )
    # [A]: ResNet-34, LARS, batch 1024, 1000 epochs, lr 1e-3 (SimCLR) / 5e-4 (BYOL, SimSiam).
    # Not published, our choice: momentum 0.9, weight decay 1e-6 (lightly's LARS examples),
    # cosine decay without warm-up, the heads above, stride-1 stem (full 64x64 grid).
    paper = SSLRunConfig(
        "paper",
        SSLModelConfig(method=method, backbone="resnet34", stem_stride=1, **heads),
        SSLViewConfig(),
        SSLTrainConfig(
            epochs=1000,
            batch_size=1024,
            eval_batch_size=1024,
            optimizer="lars",
            lr=1e-3 if method == "simclr" else 5e-4,
            momentum=0.9,
            weight_decay=1e-6,
        ),
    )
    return {c.name: c for c in (tiny, cpu, paper, *more_presets(method, heads))}


VDVAE_CONFIGS = _vdvae_configs()
SSL_CONFIGS: dict[str, dict[str, SSLRunConfig]] = {method: _ssl_configs(method) for method in SSL_METHODS}
check_presets(*VDVAE_CONFIGS.values(), *(run for runs in SSL_CONFIGS.values() for run in runs.values()))

#: `embed --config default`: the command's settings. As EmbedConfig() (the Python API's),
#: but on this process's GPU when CUDA is present (`embed --device auto`, its default).
EMBED_DEFAULT = EmbedConfig(device="auto")
check_presets(EMBED_DEFAULT)

#: the kinds of settings whose one preset is its command's defaults (`--config default`).
_DEFAULT_ONLY: dict[str, Any] = {
    "classify": DEFAULT_CLASSIFY,
    "predict": DEFAULT_PREDICT,
    "search": DEFAULT_SEARCH,
    "map": DEFAULT_MAP,
    "importance": DEFAULT_IMPORTANCE,
    "active": DEFAULT_ACTIVE,
    "explore": DEFAULT_EXPLORE,
    "embed": EMBED_DEFAULT,
}

#: every named preset, by the kind of settings it holds: `preset(kind, name)` looks one up.
PRESETS: dict[str, Mapping[str, Any]] = {
    "vdvae": VDVAE_CONFIGS,
    **SSL_CONFIGS,
    "distil": DISTIL_CONFIGS,
    "finetune": FINETUNE_CONFIGS,
    "density": DENSITY_CONFIGS,
    "cluster": CLUSTER_CONFIGS,
    "reproduce": REPRODUCE_CONFIGS,
    **{kind: {"default": settings} for kind, settings in _DEFAULT_ONLY.items()},
}


@overload
def preset(kind: Literal["vdvae"], name: str) -> VDVAERunConfig: ...
@overload
def preset(kind: Literal["simclr", "byol", "simsiam"], name: str) -> SSLRunConfig: ...
@overload
def preset(kind: Literal["distil"], name: str) -> DistilRunConfig: ...
@overload
def preset(kind: Literal["finetune"], name: str) -> FinetuneRunConfig: ...
@overload
def preset(kind: Literal["density"], name: str) -> DensityConfig: ...
@overload
def preset(kind: Literal["cluster"], name: str) -> ClusterConfig: ...
@overload
def preset(kind: Literal["reproduce"], name: str) -> ReproduceConfig: ...
@overload
def preset(kind: Literal["classify"], name: str) -> ClassifyConfig: ...
@overload
def preset(kind: Literal["predict"], name: str) -> PredictConfig: ...
@overload
def preset(kind: Literal["search"], name: str) -> SearchConfig: ...
@overload
def preset(kind: Literal["map"], name: str) -> MapConfig: ...
@overload
def preset(kind: Literal["importance"], name: str) -> ImportanceConfig: ...
@overload
def preset(kind: Literal["active"], name: str) -> ActiveLearningConfig: ...
@overload
def preset(kind: Literal["explore"], name: str) -> ExploreConfig: ...
@overload
def preset(kind: Literal["embed"], name: str) -> EmbedConfig: ...
@overload
def preset(kind: str, name: str) -> Any: ...
def preset(kind: str, name: str) -> Any:
    """The named settings of `kind` (a model to train, 'density', 'cluster', 'reproduce', or
    a command's own: 'classify', 'predict', 'search', 'map', 'importance', 'active',
    'explore', 'embed', each with one preset, 'default'):
    the one lookup behind every command's `--config NAME`. KeyError names the choices."""
    if kind not in PRESETS:
        raise KeyError(f"unknown kind of settings {kind!r}; choose from {sorted(PRESETS)}")
    if name not in PRESETS[kind]:
        raise KeyError(f"unknown {kind} config {name!r}; choose from {sorted(PRESETS[kind])}")
    return PRESETS[kind][name]


def configured(kind: str, name: str, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """`preset(kind, name)` with NAME=VALUE overrides applied and every setting checked:
    what `--config NAME --set NAME=VALUE ...` means on every command. A bad name or value is
    a SettingError naming the settings."""
    with settings_checked():
        return override(preset(kind, name), list(overrides))
