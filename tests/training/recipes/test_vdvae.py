"""The VDVAE recipe: its KL weight schedules and its named step statistics."""

import dataclasses

import torch
from synthetic import blobs

from radiolatent.config import preset
from radiolatent.training import VDVAERecipe, kl_weight


def test_kl_weight_schedules():
    cfg = preset("vdvae", "tiny").train
    assert kl_weight(cfg, 0) == 0.0 and kl_weight(cfg, cfg.kl_warmup_steps) == cfg.beta
    cyclic = dataclasses.replace(cfg, kl_schedule="cyclic", kl_cycle_steps=40, kl_warmup_steps=20)
    assert kl_weight(cyclic, 10) == kl_weight(cyclic, 50) == 0.5 * cfg.beta


def test_step_statistics_are_named_and_become_the_epoch_row():
    recipe = VDVAERecipe(preset("vdvae", "tiny"))
    model = recipe.build(seed=0)
    out = recipe.objective(model, (torch.from_numpy(blobs(4)).float().div(255).unsqueeze(1),), step=0)
    layers = [f"kl_{name}" for name in model.layer_names]
    assert list(out.stats) == ["loss", "recon", "kl", "aux_recon", "objective", *layers]
    assert torch.equal(out.stats["objective"], out.objective.detach())
    assert torch.allclose(sum(out.stats[k] for k in layers), out.stats["kl"])
    row = recipe.train_row(1, {k: float(v) for k, v in out.stats.items()}, 2.0, model)
    assert row["loss"] == float(out.stats["loss"]) and row["grad_norm"] == 2.0
    assert set(row) <= set(recipe.columns(model))
