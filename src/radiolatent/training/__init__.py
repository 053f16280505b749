"""Training: one loop for the VDVAE and the SSL baselines, and the machinery around it.

    parts.py           model-agnostic parts: EMA, UpdateGuard, Plateau, MetricsLog, the
                       plateau lr, random flips and turns, optimisers, the split, precision
    recipes/           what the loop needs to know about one kind of model: the `Recipe`
                       protocol (its docstring lists each member), vdvae.py, ssl.py,
                       distil.py
    state.py           a run's folder: checkpoints, result, the checks before a resume
    loop.py            one process's loop (DDP included): epochs, steps, validation
    launch.py          the entry points `train_vdvae`, `train_ssl`, `train_distil`, `train`: one process,
                       or `world_size` spawned ones

`VDVAERecipe`: ELBO, plateau lr, the EMA exported. `SSLRecipe`: SimCLR / BYOL / SimSiam,
two augmented views, the method's loss, BYOL's target update after each accepted step,
cosine lr, the backbone exported. `DistilRecipe`: a trained VDVAE's encoder taught to
give its 8-view z0 codes in one pass.

Data parallelism (docs/gpu.md): under torchrun every process calls `train` itself; the
model is wrapped in DistributedDataParallel, `batch_size` is the global batch, rank 0
validates and writes. Precision (`train.precision`): "auto" is bf16 autocast on CUDA and
fp32 elsewhere; the KL and the likelihood are computed in float32 either way.
"""

from radiolatent.training.launch import train, train_distil, train_ssl, train_vdvae
from radiolatent.training.parts import (
    EMA,
    MetricsLog,
    Plateau,
    UpdateGuard,
    autocast,
    make_optimizer,
    random_flips_and_turns,
    resolved_precision,
    scheduled_lr,
    split_indices,
    validation_split,
    weight_checksum,
)
from radiolatent.training.recipes import Recipe, StepOutput
from radiolatent.training.recipes.ssl import SSLRecipe, evaluate_ssl
from radiolatent.training.recipes.vdvae import VDVAERecipe, evaluate, kl_weight, vdvae_objective
from radiolatent.training.state import (
    CHECKPOINT_DIR,
    CHECKPOINT_JSON,
    CHECKPOINT_STEM,
    METRICS_CSV,
    MODEL_DIR,
    RESULT_JSON,
    TrainResult,
    load_training_state,
    save_training_state,
)

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_JSON",
    "CHECKPOINT_STEM",
    "EMA",
    "METRICS_CSV",
    "MODEL_DIR",
    "RESULT_JSON",
    "MetricsLog",
    "Plateau",
    "Recipe",
    "SSLRecipe",
    "StepOutput",
    "TrainResult",
    "UpdateGuard",
    "VDVAERecipe",
    "autocast",
    "evaluate",
    "evaluate_ssl",
    "kl_weight",
    "load_training_state",
    "make_optimizer",
    "random_flips_and_turns",
    "resolved_precision",
    "save_training_state",
    "scheduled_lr",
    "split_indices",
    "train",
    "train_distil",
    "train_ssl",
    "train_vdvae",
    "validation_split",
    "vdvae_objective",
    "weight_checksum",
]
