"""The flow on codes tables: fit one to a set's rows, refuse it for another encoder's
codes, score every set (and images decoded from the VDVAE prior), and read the scores
back (`density fit | score`, the study's density stages). The flow is `downstream.density`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from radiolatent.config import DensityConfig
from radiolatent.core.errors import InputError
from radiolatent.downstream.density import DensityModel

#: columns of a scores table (`density score`'s CSV; label_name added for captions).
SCORE_COLUMNS = ("id", "set", "split", "label", "label_name", "loglik")
#: the set name of images decoded from the VDVAE prior and scored beside the data.
GENERATED_SET = "generated"


def fit_table(
    rows,
    config: DensityConfig,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    source: str = "",
    on: str = "",
    progress: bool = False,
) -> DensityModel:
    """A MAF fitted to the codes of codes-table rows; its info records where they came from
    (the table `source`, the rows `on`, the model that made them), so scoring another
    encoder's codes with it is refused."""
    from radiolatent.data.codes import code_columns, code_matrix

    model = DensityModel(config, device)
    model.info.update(
        codes=str(source), on=on, model=str(rows["model"].iloc[0]), columns=len(code_columns(rows)), seed=seed
    )
    return model.fit(code_matrix(rows), seed=seed, progress=progress)


def check_same_encoder(model: DensityModel, table, source: str) -> None:
    """A density fitted on one encoder's codes means nothing for another's."""
    fitted_on = model.info.get("model")
    made_by = sorted(table["model"].astype(str).unique())
    if fitted_on and made_by != [fitted_on]:
        raise InputError(source, f"codes made by {made_by}, the density model was fitted on codes of {fitted_on!r}")


def load_for(path: str | Path, table, source: str, device: str | torch.device = "cpu") -> DensityModel:
    """The flow saved in `path`, refused unless it was fitted on codes of the table's encoder."""
    model = DensityModel.load(path, device)
    check_same_encoder(model, table, source)
    return model


def scored_rows(rows, set_name: str, loglik: np.ndarray):
    """A scores table (SCORE_COLUMNS) of codes-table rows and their log-likelihoods."""
    out = rows[["id", "split", "label", "label_name"]].reset_index(drop=True).copy()
    out.insert(1, "set", set_name)
    out["loglik"] = loglik
    return out[list(SCORE_COLUMNS)]


def score_table(
    table,
    model: DensityModel,
    sets: list[str] | None = None,
    *,
    generated: int = 0,
    vdvae: str | Path | None = None,
    encoder: str | None = None,
    temperature: float = 1.0,
    seed: int = 0,
):
    """Log-likelihood of every row of `sets` (specs; default every set of the table), and of
    `generated` images decoded from the VDVAE prior (`vdvae`, default the shipped one),
    embedded like the table's rows: [A]'s black curve."""
    import pandas as pd

    from radiolatent.data.codes import code_matrix, select

    if sets:
        parts = [(spec, select(table, spec)) for spec in sets]
    else:
        parts = [(name, table[table["set"] == name]) for name in table["set"].astype(str).unique()]
    frames = [scored_rows(rows, name, model.score_samples(code_matrix(rows))) for name, rows in parts]
    if generated > 0:
        frames.append(_generated_scores(table, model, generated, vdvae, encoder, temperature, seed))
    return pd.concat(frames, ignore_index=True)


def _generated_scores(table, model: DensityModel, n: int, vdvae, encoder, temperature: float, seed: int):
    import pandas as pd

    from radiolatent.embedding import encode_images, table_embed_config
    from radiolatent.models.checkpoint import load_model
    from radiolatent.models.shipped import SHIPPED_MODEL
    from radiolatent.models.vdvae.sampling import prior_samples

    sampler = load_model(vdvae or SHIPPED_MODEL)
    config = table_embed_config(table)
    coder = _generated_encoder(table, vdvae, encoder, config)
    torch.manual_seed(seed)
    images = prior_samples(sampler, n, temperature, config.batch_size)
    codes = encode_images(coder, images, config, progress=True)
    rows = pd.DataFrame(
        {
            "id": [f"generated-{i}" for i in range(len(codes))],
            "split": "all",
            "label": -1,
            "label_name": f"generated T={temperature:g}",
        }
    )
    return scored_rows(rows, GENERATED_SET, model.score_samples(codes))


def _generated_encoder(table, vdvae, encoder, config):
    """The encoder for generated images: `encoder`, else the `vdvae` model itself when it
    made the table (a freshly trained run cannot be rebuilt by name), else the table's own."""
    from radiolatent.embedding import encoder_for_table, load_encoder, table_model

    if encoder is None and vdvae:
        sampler_encoder = load_encoder(Path(vdvae), config)
        if sampler_encoder.name == table_model(table):
            return sampler_encoder
    return encoder_for_table(table, encoder, config)


def read_scores(path: str | Path):
    """A scores CSV written by `density score`, checked."""
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(path, "no such scores file")
    try:
        scores = pd.read_csv(path, dtype={"id": str, "set": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(path, f"not a readable CSV ({exc})") from None
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise InputError(path, f"lacks columns {missing}; write it with `density score`")
    if not np.isfinite(scores["loglik"].to_numpy(dtype=float)).all():
        raise InputError(path, "loglik holds NaN or infinite values")
    return scores


def lowest(scores, set_name: str, n: int, source: str = "scores"):
    """The n least likely rows of one set of a scores table, least likely first."""
    rows = scores[scores["set"] == set_name]
    if rows.empty:
        raise InputError(source, f"no rows of set '{set_name}' (sets: {sorted(scores['set'].unique())})")
    if n < 1:
        raise InputError("-n", f"must be at least 1, got {n}")
    return rows.sort_values("loglik", kind="stable").head(n).reset_index(drop=True)
