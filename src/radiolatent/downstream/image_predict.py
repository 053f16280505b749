"""Classes straight from images, by a fine-tuned classifier (`predict --model`): the
same columns as predictions from codes (downstream/predict.py), where

* `p_<class>` is the mean over the image's 8 flips and quarter turns of the classifier's
  probabilities at its fitted temperature (training/finetune.py);
* `agreement` is the share of the 8 orientations whose own call is the prediction;
* `in_domain`, `out_of_domain` and `nearest_train` compare the classifier's features of
  the image with those of its labelled training images, kept in the saved model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radiolatent.config import DEFAULT_PREDICT, PredictConfig
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset
from radiolatent.downstream.predict import CARRIED_COLUMNS, ID_COLUMNS, Domain, outcome_lines, probability_column
from radiolatent.models.checkpoint import CLASSIFIER_KIND, MODEL_JSON, load_model, model_dir, model_kind, read_json
from radiolatent.models.classifier import Classifier
from radiolatent.training.finetune import orientation_outputs, probabilities


class ImagePredictor:
    """A saved fine-tuned classifier, ready to predict datasets (`predict(ds)`)."""

    def __init__(self, path: str | Path, name: str | None = None, config: PredictConfig = DEFAULT_PREDICT):
        directory = model_dir(path)
        kind = model_kind(directory)
        if kind != CLASSIFIER_KIND:
            raise InputError(
                path, f"holds a {kind} encoder, not a fine-tuned classifier: embed with it and predict from its codes"
            )
        self.model: Classifier = load_model(directory)
        self.meta = read_json(directory / MODEL_JSON)
        # a shipped model by its folder's name, a run by its run folder's
        self.name = name or (directory.parent.name if directory.name == "model" else directory.name)
        ids = np.asarray(self.meta.get("domain_ids", []), dtype=str)
        if self.model.cfg.domain_rows == 0 or len(ids) != self.model.cfg.domain_rows:
            raise InputError(
                path, "was not finished (no training features): resume its run with `train finetune --resume`"
            )
        self.train_ids = ids
        self.domain = Domain(self.model.domain_features.numpy(), ids, config)

    @property
    def classes(self) -> list[str]:
        return list(self.model.cfg.classes)

    def predict(self, ds: RadioDataset, batch_size: int = 128) -> pd.DataFrame:
        """One row per image of `ds` (module doc); `attrs` hold classifier, classes, n_train, train."""
        side = self.model.cfg.image_size
        if ds.images.ndim != 3 or ds.images.shape[1:] != (side, side):
            raise InputError(ds.name, f"images are {ds.images.shape[1:]}, the classifier takes {side}x{side}")
        features, logits = orientation_outputs(self.model, ds.images, batch_size)
        p = probabilities(logits, float(self.model.temperature))
        prediction = p.argmax(dim=1)
        meta = ds.meta.reset_index(drop=True)
        out = meta[list(ID_COLUMNS)].copy()
        for k, name in enumerate(self.classes):
            out[probability_column(name)] = p[:, k].numpy().astype(np.float64)
        out["prediction"] = np.asarray(self.classes, dtype=object)[prediction.numpy()]
        out["classifier"] = self.name
        out["agreement"] = (logits.argmax(-1) == prediction).to(torch.float64).mean(0).numpy()
        out = out.join(self.domain.scores(features.numpy()))
        out["in_training"] = meta["id"].astype(str).isin(set(self.train_ids)).to_numpy()
        for column in CARRIED_COLUMNS:
            if column in meta.columns:
                out[column] = meta[column].to_numpy()
        out.attrs.update(
            classifier=self.name,
            classes=self.classes,
            n_train=len(self.train_ids),
            train=str(self.meta.get("trained_on", "")),
        )
        return out


def image_summary_lines(predictions: pd.DataFrame) -> list[str]:
    """What a fine-tuned classifier's predictions say, in a few lines for the terminal."""
    attrs = predictions.attrs
    head = (
        f"classifier {attrs['classifier']}, fine-tuned on {attrs['n_train']} labelled images of "
        f"{attrs['train']} ({', '.join(attrs['classes'])}); probabilities averaged over 8 orientations, "
        "temperature-calibrated"
    )
    return [head, *outcome_lines(predictions, "the orientations")]
