"""[C]'s MiraBest protocol: an SSL method trained on a labelled set itself (not the pool),
from random or pretrained weights, scored by kNN over random splits of the confident subset.

[C] trained BYOL on all 1,256 MiraBest images (batch 32, 50 epochs: the `c-mirabest`
config) and found that starting from pretrained weights beat a random start. Here
"pretrained" is the shipped checkpoint of the same method (`<method>-cpu`, trained on the
pool): its backbone weights (and BYOL's target backbone) replace the random draw before
the first step; the heads start fresh. The run is otherwise the shared training loop, so
checkpoints, metrics.csv, --resume and the exported backbone behave as for any SSL run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from radiolatent.config import EmbedConfig, SSLRunConfig
from radiolatent.core.errors import InputError, SettingError
from radiolatent.training import SSLRecipe, TrainResult, train

INITS = ("random", "pretrained")
#: where [C] scored the representation: the confident subset, kNN k=5 over 50 random 75/25 splits.
EVAL_SET = "mbc"


class PretrainedSSLRecipe(SSLRecipe):
    """SSLRecipe whose backbone starts from a trained one (a shipped checkpoint or run folder)."""

    def __init__(self, run: SSLRunConfig, source: str | Path):
        super().__init__(run)
        self.source = Path(source)

    def build(self, seed: int):
        from radiolatent.models.checkpoint import load_model

        model = super().build(seed)
        trained = load_model(self.source)
        try:
            model.backbone.load_state_dict(trained.state_dict())
        except RuntimeError:
            raise InputError(
                self.source,
                f"its backbone does not fit the '{self.run.name}' config's "
                f"({self.run.model.backbone}, stem stride {self.run.model.stem_stride})",
            ) from None
        if hasattr(model, "target_backbone"):  # BYOL: the target starts where the online network does
            model.target_backbone.load_state_dict(trained.state_dict())
        return model


def pretrained_source(method: str) -> Path:
    """The shipped checkpoint of `method` (e.g. weights/byol-cpu)."""
    from radiolatent.models.shipped import shipped_models

    shipped = shipped_models()
    if f"{method}-cpu" not in shipped:
        raise SettingError("init", f"no shipped {method} checkpoint to start from")
    return shipped[f"{method}-cpu"]


def recipe_for(run: SSLRunConfig, init: str) -> SSLRecipe:
    """The loop's recipe for a random or pretrained start."""
    if init not in INITS:
        raise SettingError("init", f"{init!r}: choose from {', '.join(INITS)}")
    try:
        if init == "random":
            return SSLRecipe(run)
        return PretrainedSSLRecipe(run, pretrained_source(run.model.method))
    except ValueError as exc:
        raise InputError("config", str(exc)) from None


def set_images(spec: str) -> np.ndarray:
    """The preprocessed 64x64 images of a dataset spec ('mirabest', 'mirabest:all', 'mbc:train')."""
    from radiolatent.data.inputs import model_input

    return model_input(spec).images


def train_on_set(
    run: SSLRunConfig,
    spec: str,
    out: str | Path,
    init: str = "random",
    *,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train `run` (its method) on the images of `spec` into the run folder `out`."""
    recipe = recipe_for(run, init)
    images = set_images(spec)
    log(
        f"training {run.model.method} '{run.name}' ({run.model.backbone}, {init} start) on {spec} "
        f"({len(images)} images) into {out}"
    )
    started = time.perf_counter()
    result = train(images, recipe, out, resume=resume, seed=seed, progress=progress)
    log(
        f"done in {(time.perf_counter() - started) / 60:.1f} min: {result.epochs_completed} epochs, final "
        f"validation loss {result.final_val_loss:.4f}; model in {result.model_dir}"
    )
    return result


def knn_c_score(model: str | Path, spec: str = EVAL_SET, single_view: bool = True) -> dict:
    """[C]'s score of a trained run: kNN (k=5) over 50 random stratified 75/25 splits of the
    codes of `spec`; {'mean', 'sd', 'n_splits', 'k', 'accuracies'}."""
    from radiolatent.data.codes import code_matrix
    from radiolatent.downstream.classify import knn_protocol_c
    from radiolatent.embedding import embed

    table = embed(str(model), [spec], EmbedConfig(dihedral_average=not single_view), progress=False)
    return knn_protocol_c(code_matrix(table), table["label"].to_numpy())
