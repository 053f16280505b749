"""Training machinery: skip guard, resume, reproducibility, DDP, metrics, learning."""

import csv
import dataclasses
import math

import numpy as np
import pytest
import torch

from radiolatent.errors import InputError
from radiolatent.models.checkpoint import load_model
from radiolatent.models.vdvae import get_config
from radiolatent.training import (
    Plateau, UpdateGuard, augment, kl_weight, train_vdvae, weight_checksum,
)

from synthetic import blobs

torch.set_num_threads(1)


def _blobs(n=96, seed=0):
    return blobs(n, seed)


def _run(epochs):
    run = get_config("tiny")
    return dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("run3")
    return out, train_vdvae(_blobs(), _run(3), out, seed=0, progress=False)


def test_guard_skips_non_finite_steps():
    guard = UpdateGuard(factor=10.0, window=50, min_history=5)
    assert not guard.accept(math.nan, 1.0)
    assert not guard.accept(1.0, math.inf)
    assert guard.accept(1.0, 1.0)
    assert guard.skipped_nonfinite == 2


def test_guard_skips_an_outlier_but_never_everything():
    guard = UpdateGuard(factor=3.0, window=20, min_history=5)
    for _ in range(10):
        assert guard.accept(1.0, 1.0)
    assert not guard.accept(1.0, 100.0)          # a spike is an outlier
    assert guard.skipped_outlier == 1
    # Norms that genuinely rise 10x at once: the threshold follows them.
    accepted = [guard.accept(1.0, 50.0) for _ in range(40)]
    assert sum(accepted) >= 25 and all(accepted[-10:])
    # Steadily growing norms are never skipped wholesale.
    steady = UpdateGuard(factor=2.0, window=20, min_history=5)
    results = [steady.accept(1.0, 1.1 ** i) for i in range(200)]
    assert sum(results) > 80
    longest_skip_run = max(len(run) for run in "".join("s" if not r else "a" for r in results).split("a"))
    assert longest_skip_run <= 3


def test_plateau_and_schedules():
    plateau = Plateau(factor=0.5, patience=2, threshold=1e-4)
    for value in [10.0, 9.0, 9.0, 9.0, 9.0]:
        plateau.step(value)
    assert plateau.scale == 0.5
    cfg = _run(1).train
    assert kl_weight(cfg, 0) == 0.0 and kl_weight(cfg, cfg.kl_warmup_steps) == cfg.beta
    cyclic = dataclasses.replace(cfg, kl_schedule="cyclic", kl_cycle_steps=40, kl_warmup_steps=20)
    assert kl_weight(cyclic, 10) == kl_weight(cyclic, 50) == 0.5 * cfg.beta


def test_augment_is_a_dihedral_transform():
    x = torch.arange(2 * 64 * 64, dtype=torch.float32).view(2, 1, 64, 64)
    out = augment(x, np.random.default_rng(0))
    for i in range(2):
        candidates = [torch.rot90(x[i], k, dims=(-2, -1)) for k in range(4)]
        candidates += [torch.flip(c, dims=(-1,)) for c in candidates]
        assert any(torch.equal(out[i], c) for c in candidates)


def test_training_reduces_the_loss_and_writes_metrics(three_epochs):
    out, result = three_epochs
    losses = [row["val_loss"] for row in result.history]
    assert losses[-1] < losses[0] * 0.95
    assert result.epochs_completed == 3 and result.skipped_total == 0
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    required = {"epoch", "loss", "recon", "kl", "z0_active", "grad_norm", "skipped", "lr",
                "images_per_s", "val_loss"}
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


def test_resume_with_another_seed_is_refused(tmp_path):
    images = _blobs(48)
    train_vdvae(images, _run(1), tmp_path, seed=0, progress=False)
    with pytest.raises(InputError, match="another config or seed"):
        train_vdvae(images, _run(2), tmp_path, resume=True, seed=1, progress=False)


def test_same_seed_gives_same_codes(tmp_path):
    images = _blobs(48)
    codes = []
    for name in ("a", "b"):
        train_vdvae(images, _run(1), tmp_path / name, seed=3, progress=False)
        model = load_model(tmp_path / name)
        codes.append(model.encode_z0(torch.from_numpy(images[:8]).float() / 255.0))
    assert torch.equal(codes[0], codes[1])
    assert codes[0].shape == (8, get_config("tiny").model.z0_channels)


def test_bad_images_are_refused(tmp_path):
    with pytest.raises(InputError, match="uint8"):
        train_vdvae(np.zeros((10, 32, 32), np.uint8), _run(1), tmp_path, progress=False)


def test_two_process_gloo_ddp_ends_with_identical_weights(tmp_path):
    result = train_vdvae(_blobs(48), _run(1), tmp_path, seed=0, world_size=2, progress=False)
    assert len(result.weight_checksums) == 2
    assert result.weight_checksums[0] == result.weight_checksums[1]
    assert result.steps > 0
    # The weights moved away from the initialisation on both ranks alike.
    from radiolatent.models.vdvae import build_vdvae
    assert weight_checksum(build_vdvae(get_config("tiny").model, seed=0)) != result.weight_checksums[0]


def test_bf16_autocast_trains_with_float32_kl_and_likelihood(tmp_path):
    from radiolatent.models.vdvae import build_vdvae
    from radiolatent.training import autocast

    run = _run(1)
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, precision="bf16"))
    result = train_vdvae(_blobs(48), run, tmp_path, seed=0, progress=False)
    assert result.skipped_total == 0 and math.isfinite(result.final_val_loss)
    model = build_vdvae(run.model, seed=0)
    with autocast(torch.device("cpu"), "bf16"):
        out = model(torch.from_numpy(_blobs(4)).float() / 255.0)
    assert out["kl_per_layer"].dtype == torch.float32 and out["recon"].dtype == torch.float32
    assert model.encoder.parameters().__next__().dtype == torch.float32  # weights stay float32


def test_resuming_on_another_world_size_says_so():
    from radiolatent.training import _resume_note

    meta = {"world_size": 2, "device": "cpu", "precision": "fp32"}
    assert _resume_note(meta, 2, torch.device("cpu"), "fp32") is None
    note = _resume_note(meta, 1, torch.device("cpu"), "fp32")
    assert "2 process(es)" in note and "not bit for bit" in note


def test_spawned_processes_open_the_pool_file_not_a_pickled_copy(tmp_path):
    from radiolatent.training import _npy_file

    path = tmp_path / "images.npy"
    np.save(path, _blobs(8))
    pool = np.load(path, mmap_mode="r")
    with _npy_file(pool) as source:
        assert source.path == str(path)  # the pool's own cache file, reopened by each process
    with _npy_file(pool[2:5]) as source:  # a view of it: a temporary file of just those images
        assert source.path != str(path) and np.array_equal(source.open(), pool[2:5])
