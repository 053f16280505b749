"""A codes table's rows shown again: the model inputs kept where `embed` put them."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from radiolatent.config import EmbedConfig
from radiolatent.core.errors import InputError
from radiolatent.data.inputs import load_images_for, model_input
from radiolatent.embedding import embed

FIRST_FITS = Path(__file__).parents[1] / "data" / "first_fits"


def test_load_images_for_returns_the_model_input(tmp_path):
    # two names of one set: its rows appear once
    table = embed("pixels-pca", ["mbc:test", "mirabest:confident:test"], EmbedConfig(pca_components=8), progress=False)
    assert len(table) == 104 and not table["id"].duplicated().any()
    rows = table.iloc[[5, 2]]
    expected = model_input("mbc:test").images[[5, 2]]
    assert np.array_equal(load_images_for(rows), expected)
    # a table written before embed kept its inputs: rebuilt from the set, checked by id
    old = rows.drop(columns=["images", "image_row"])
    assert np.array_equal(load_images_for(old), expected)
    with pytest.raises(InputError, match="not-an-id"):
        load_images_for(old.assign(id=["not-an-id", rows["id"].iloc[1]]))
    gone = rows.assign(images=str(tmp_path / "cleared-cache.npy"))
    with pytest.raises(InputError, match=r"cleared-cache\.npy: the images these codes were made from are gone"):
        load_images_for(gone)


def test_a_folder_table_shows_its_images_without_the_folder(tmp_path):
    """Real FIRST FITS embedded from a folder: pictures come from the kept inputs, even
    after the folder is gone, and the set has the name the user chose."""
    folder = tmp_path / "fits"
    shutil.copytree(FIRST_FITS, folder)
    table = embed("pixels-pca", ["mbc:test", f"mine=folder@{folder}"], EmbedConfig(pca_components=8), progress=False)
    mine = table[table["set"] == "mine"]
    assert len(mine) == 4 and set(mine["dataset"]) == {"folder"}
    expected = model_input(f"folder@{folder}").images
    shutil.rmtree(folder)
    assert np.array_equal(load_images_for(mine), expected)
    assert np.array_equal(load_images_for(table.iloc[[3]]), model_input("mbc:test").images[[3]])
