"""The shared loop (with the VDVAE recipe, and with a recipe written outside the package):
learning, metrics, exact resume, reproducibility, gloo DDP, bf16."""

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import blobs

from radiolatent.config import TrainConfig, preset
from radiolatent.models.checkpoint import load_model
from radiolatent.models.vdvae import build_vdvae
from radiolatent.training import (
    StepOutput,
    autocast,
    make_optimizer,
    scheduled_lr,
    train,
    train_vdvae,
    weight_checksum,
)

torch.set_num_threads(1)


def _blobs(n=96, seed=0):
    return blobs(n, seed)


def _run(epochs):
    run = preset("vdvae", "tiny")
    return dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("run3")
    return out, train_vdvae(_blobs(), _run(3), out, seed=0, progress=False)


def test_training_reduces_the_loss_and_writes_metrics(three_epochs):
    out, result = three_epochs
    losses = [row["val_loss"] for row in result.history]
    assert losses[-1] < losses[0] * 0.95
    assert result.epochs_completed == 3 and result.skipped_total == 0
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    required = {"epoch", "loss", "recon", "kl", "z0_active", "grad_norm", "skipped", "lr", "images_per_s", "val_loss"}
    assert required <= set(rows[0])
    model = load_model(out)
    assert {f"kl_{name}" for name in model.layer_names} <= set(rows[0])
    assert float(rows[0]["images_per_s"]) > 0


def test_resume_matches_an_uninterrupted_run(three_epochs, tmp_path):
    _, full = three_epochs
    images = _blobs()
    train_vdvae(images, _run(1), tmp_path, seed=0, progress=False)
    resumed = train_vdvae(images, _run(3), tmp_path, resume=True, seed=0, progress=False)
    assert resumed.weight_checksums == full.weight_checksums
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    with open(tmp_path / "metrics.csv", newline="") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [1, 2, 3]


def test_resume_drops_metric_rows_after_the_checkpoint(tmp_path):
    images = _blobs()
    train_vdvae(images, _run(1), tmp_path, seed=0, progress=False)
    # A row written after the checkpoint (as if killed between CSV and checkpoint).
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(tmp_path / "metrics.csv", "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(rows[0])).writerow(dict(rows[0], epoch=2))
    train_vdvae(images, _run(2), tmp_path, resume=True, seed=0, progress=False)
    with open(tmp_path / "metrics.csv", newline="") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [1, 2]


def test_same_seed_gives_same_codes(tmp_path):
    images = _blobs(48)
    codes = []
    for name in ("a", "b"):
        train_vdvae(images, _run(1), tmp_path / name, seed=3, progress=False)
        model = load_model(tmp_path / name)
        codes.append(model.encode_z0(torch.from_numpy(images[:8]).float() / 255.0))
    assert torch.equal(codes[0], codes[1])
    assert codes[0].shape == (8, preset("vdvae", "tiny").model.z0_channels)


def test_two_process_gloo_ddp_ends_with_identical_weights(tmp_path):
    result = train_vdvae(_blobs(48), _run(1), tmp_path, seed=0, world_size=2, progress=False)
    assert len(result.weight_checksums) == 2
    assert result.weight_checksums[0] == result.weight_checksums[1]
    assert result.steps > 0
    # The weights moved away from the initialisation on both ranks alike.
    assert weight_checksum(build_vdvae(preset("vdvae", "tiny").model, seed=0)) != result.weight_checksums[0]


def test_bf16_autocast_trains_with_float32_kl_and_likelihood(tmp_path):
    run = _run(1)
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, precision="bf16"))
    result = train_vdvae(_blobs(48), run, tmp_path, seed=0, progress=False)
    assert result.skipped_total == 0 and math.isfinite(result.final_val_loss)
    model = build_vdvae(run.model, seed=0)
    with autocast(torch.device("cpu"), "bf16"):
        out = model(torch.from_numpy(_blobs(4)).float() / 255.0)
    assert out["kl_per_layer"].dtype == torch.float32 and out["recon"].dtype == torch.float32
    assert model.encoder.parameters().__next__().dtype == torch.float32  # weights stay float32


# ---------------------------------------------------------------------------
# A recipe from outside the package (the `Recipe` protocol): labels looked up by row
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ToyRun:
    name: str
    train: TrainConfig


class _ToyRecipe:
    """A linear autoencoder on 8x8 images that also logs the mean label of each batch."""

    kind = "toy"
    config_class = _ToyRun
    image_size = 8

    def __init__(self, labels):
        cfg = TrainConfig(epochs=2, batch_size=12, lr_warmup_steps=0, ema_decay=0.0, threads=1)
        self.run, self.cfg, self.labels = _ToyRun("toy", cfg), cfg, labels

    def build(self, seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4), torch.nn.Linear(4, 64))

    def optimizer(self, model):
        return make_optimizer(self.cfg, model.parameters())

    def inputs(self, x, rows, rng):
        return x, torch.from_numpy(self.labels[rows])

    def objective(self, net, batch, step):
        x, labels = batch
        loss = (net(x) - x.flatten(1)).pow(2).mean()
        return StepOutput(loss, {"loss": loss.detach(), "label_mean": labels.mean()})

    def learning_rate(self, step, plateau, total_steps):
        return scheduled_lr(self.cfg, "plateau", step, plateau, total_steps)

    def after_update(self, model, step, total_steps):
        pass

    def schedule_row(self, step, total_steps):
        return {}

    def train_row(self, epoch, means, grad_norm, model):
        return {"epoch": epoch, **means, "grad_norm": grad_norm}

    def columns(self, model):
        return ["epoch", "step", "loss", "label_mean", "grad_norm", "lr", "val_loss", "val_label_mean"]

    @torch.no_grad()
    def evaluate(self, model, images, rows, seed, device):
        x = torch.from_numpy(images).float().div(255).unsqueeze(1)
        return {"loss": float((model(x) - x.flatten(1)).pow(2).mean()), "label_mean": float(self.labels[rows].mean())}

    def val_row(self, val, model):
        return {"val_loss": val["loss"], "val_label_mean": val["label_mean"]}

    def export(self, directory, model, ema, extra):
        Path(directory).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(directory) / "toy.pt")


def test_a_recipe_from_outside_the_package_trains_and_logs_its_named_stats(tmp_path):
    images = np.ascontiguousarray(_blobs(40)[:, ::8, ::8])
    labels = np.arange(40, dtype=np.float32)  # label = row in the pool
    result = train(images, _ToyRecipe(labels), tmp_path, seed=0, progress=False)
    valid = result.valid_indices
    trained = np.setdiff1d(np.arange(40), valid)
    assert result.steps == 6 and len(trained) == 36  # 3 batches of 12 per epoch: every train image once
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == _ToyRecipe(labels).columns(None)
    for row in rows:  # the loop handed the recipe each batch's rows
        assert float(row["label_mean"]) == pytest.approx(trained.mean())
        assert float(row["val_label_mean"]) == pytest.approx(labels[valid].mean())
    assert float(rows[1]["val_loss"]) < float(rows[0]["val_loss"])
    assert (tmp_path / "model" / "toy.pt").is_file()
