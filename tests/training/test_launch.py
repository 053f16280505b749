"""Starting a run: the images are checked, and spawned processes read them from a file."""

import dataclasses

import numpy as np
import pytest
from synthetic import blobs

from radiolatent.config import preset
from radiolatent.core.errors import InputError
from radiolatent.training import train_vdvae
from radiolatent.training.launch import npy_file


def test_bad_images_are_refused(tmp_path):
    run = preset("vdvae", "tiny")
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=1))
    with pytest.raises(InputError, match="uint8"):
        train_vdvae(np.zeros((10, 32, 32), np.uint8), run, tmp_path, progress=False)
    assert not (tmp_path / "checkpoint").exists()


def test_spawned_processes_open_the_pool_file_not_a_pickled_copy(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, blobs(8, 0))
    pool = np.load(path, mmap_mode="r")
    with npy_file(pool) as source:
        assert source.path == str(path)  # the pool's own cache file, reopened by each process
    with npy_file(pool[2:5]) as source:  # a view of it: a temporary file of just those images
        assert source.path != str(path) and np.array_equal(source.open(), pool[2:5])
