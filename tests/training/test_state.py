"""A run's folder: refusing a resume that could not be exact, and saying when one is not bit for bit."""

import dataclasses

import pytest
import torch
from synthetic import blobs

from radiolatent.config import preset
from radiolatent.core.errors import InputError
from radiolatent.training import train_vdvae
from radiolatent.training.state import resume_note

torch.set_num_threads(1)


def _run(epochs):
    run = preset("vdvae", "tiny")
    return dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=epochs))


def test_resume_with_another_seed_or_config_is_refused(tmp_path):
    images = blobs(48, 0)
    train_vdvae(images, _run(1), tmp_path, seed=0, progress=False)
    with pytest.raises(InputError, match="another config or seed"):
        train_vdvae(images, _run(2), tmp_path, resume=True, seed=1, progress=False)
    other = _run(2)
    other = dataclasses.replace(other, train=dataclasses.replace(other.train, lr=1e-2))
    with pytest.raises(InputError, match="another config or seed"):
        train_vdvae(images, other, tmp_path, resume=True, seed=0, progress=False)


def test_resuming_on_another_world_size_says_so():
    meta = {"world_size": 2, "device": "cpu", "precision": "fp32"}
    assert resume_note(meta, 2, torch.device("cpu"), "fp32") is None
    note = resume_note(meta, 1, torch.device("cpu"), "fp32")
    assert "2 process(es)" in note and "not bit for bit" in note
