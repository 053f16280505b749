"""The SSL recipe (SimCLR, BYOL, SimSiam) in the shared loop: training, BYOL's target
network, exact resume, refused resumes, gloo DDP. The runs are `ssl_runs` (conftest.py)."""

import numpy as np
import pytest
import torch
from synthetic import central_blobs, tiny_ssl

from radiolatent.config import SSL_METHODS, preset
from radiolatent.core.errors import InputError
from radiolatent.models.checkpoint import load_model, load_pair
from radiolatent.models.ssl import build_ssl
from radiolatent.training import train_ssl, weight_checksum

torch.set_num_threads(1)


@pytest.mark.parametrize("method", SSL_METHODS)
def test_each_method_trains_with_a_finite_loss(ssl_runs, method):
    folder, result = ssl_runs[method]
    row = result.history[-1]
    assert result.steps == 2 * result.epochs_completed and result.skipped_total == 0
    assert np.isfinite(row["loss"]) and np.isfinite(row["val_loss"]) and row["grad_norm"] > 0
    header = (folder / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "loss", "feature_spread", "lr", "images_per_s", "val_loss"} <= set(header)
    assert ("momentum" in header) == (method == "byol")
    initial = build_ssl(preset(method, "tiny").model, seed=0).backbone
    assert weight_checksum(load_model(folder)) != weight_checksum(initial), "the backbone learned something"


def test_byol_target_follows_the_online_network(ssl_runs):
    folder, _ = ssl_runs["byol"]
    _, tensors = load_pair(folder / "checkpoint", "state.json")
    online = tensors["model.backbone.net.conv1.weight"]
    target = tensors["model.target_backbone.net.conv1.weight"]
    start = build_ssl(preset("byol", "tiny").model, seed=0).backbone.net.conv1.weight.detach()
    assert not torch.equal(target, start), "the target moved"
    assert not torch.equal(target, online), "but lags the online network"


def test_resume_continues_exactly(ssl_runs, tmp_path):
    _, full = ssl_runs["byol"]
    train_ssl(central_blobs(), tiny_ssl("byol", 2), tmp_path, seed=0, progress=False, stop_after=1)
    resumed = train_ssl(central_blobs(), tiny_ssl("byol", 2), tmp_path, resume=True, seed=0, progress=False)
    assert resumed.weight_checksums == full.weight_checksums
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    assert resumed.epochs_completed == 2 and resumed.steps == full.steps


def test_resume_refuses_another_method_or_seed(ssl_runs):
    folder, _ = ssl_runs["simclr"]
    with pytest.raises(InputError, match="simclr run, not simsiam"):
        train_ssl(central_blobs(), tiny_ssl("simsiam"), folder, resume=True, progress=False)
    with pytest.raises(InputError, match="another config or seed"):
        train_ssl(central_blobs(), tiny_ssl("simclr"), folder, resume=True, seed=5, progress=False)


def test_two_process_gloo_ddp_gathers_negatives_and_stays_in_sync(tmp_path):
    """SimCLR under DDP: NT-Xent gathers both ranks' projections; validation (rank 0 only)
    must not wait for a gather; the ranks end with identical weights and buffers."""
    result = train_ssl(central_blobs(), tiny_ssl("simclr"), tmp_path, seed=0, world_size=2, progress=False)
    assert len(result.weight_checksums) == 2 and result.weight_checksums[0] == result.weight_checksums[1]
    assert result.steps == 2 and np.isfinite(result.final_val_loss)
