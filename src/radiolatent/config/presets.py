"""More SSL run presets, beside config/training.py's tiny / cpu / paper: [B]'s and [C]'s
settings (`train byol --config b-paper|c-mirabest`) and the cut study's default (`cut`).
Imported by `_ssl_configs` when it builds SSL_CONFIGS (the run config classes exist by then)."""

from __future__ import annotations

from typing import Any

from radiolatent.config.models import SSLModelConfig, SSLViewConfig


def more_presets(method: Any, heads: dict[str, Any]) -> list[Any]:
    """[B]'s, [C]'s and the cut study's settings for `method` ([B] and [C] trained BYOL)."""
    from radiolatent.config.training import SSLRunConfig, SSLTrainConfig

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
    # [C] on MiraBest (`--train-on mirabest:all`): ResNet-18, Adam lr 1e-4, tau 0.99,
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
