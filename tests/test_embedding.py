"""Codes from the no-learning floors and from a trained model, and the embed/search commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radiolatent.cli import main
from radiolatent.codes import code_matrix, read_codes, select
from radiolatent.config import EmbedConfig
from radiolatent.errors import InputError
from radiolatent.embedding import (
    PixelsPCA,
    RandomConv,
    embed,
    embed_file,
    encoder_for_table,
    load_images_for,
    model_input,
)


@pytest.fixture(scope="module")
def pool_images():
    return np.asarray(model_input("pool").images)

FIRST_FITS = Path(__file__).parent / "data" / "first_fits"


def test_pixels_pca_is_the_pool_pca(pool_images):
    enc = PixelsPCA.fit(pool_images, EmbedConfig(pca_components=16))
    codes = enc.encode(pool_images[:50])
    assert codes.shape == (50, 16) and codes.dtype == np.float32
    # the pool's own codes are centred: PCA was fitted on it
    assert np.abs(enc.encode(pool_images).mean(axis=0)).max() < 1e-3
    x = pool_images[:50].reshape(50, -1) / 255.0
    back = enc.pca.inverse_transform(codes)
    assert np.mean((back - x) ** 2) < np.mean((x - x.mean(axis=0)) ** 2)


def test_random_conv_is_fixed_and_standardised(pool_images):
    a = RandomConv(EmbedConfig()).fit(pool_images)
    b = RandomConv(EmbedConfig()).fit(pool_images)
    codes = a.encode(pool_images)
    assert codes.shape == (len(pool_images), 256)
    assert np.array_equal(codes, b.encode(pool_images)), "same seed, same floor"
    live = codes.std(axis=0) > 0
    assert np.allclose(codes.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(codes.std(axis=0)[live], 1, atol=1e-2)
    with pytest.raises(RuntimeError):
        RandomConv(EmbedConfig()).encode(pool_images[:2])


def test_embed_writes_one_row_per_image_with_metadata(tmp_path):
    assert main(["embed", "--model", "pixels-pca", "--data", "mbc,frdeep-n:test", "--out", str(tmp_path / "c.parquet")]) == 0
    table = read_codes(tmp_path / "c.parquet")
    assert len(select(table, "mbc:train")) == 729 and len(select(table, "mbc:test")) == 104
    assert len(select(table, "nvss:test")) == 50
    assert set(table["model"]) == {"pixels-pca+d8"}, "codes are averaged over orientations by default"
    assert code_matrix(table).shape[1] == 256
    assert table["las_arcsec"].notna().sum() == 833, "MiraBest rows keep their catalogue LAS"


def test_load_images_for_returns_the_model_input(tmp_path):
    # two names of one set: its rows appear once
    table = embed("pixels-pca", ["mbc:test", "mirabest:confident:test"], EmbedConfig(pca_components=8),
                  progress=False)
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
    with pytest.raises(InputError, match="cleared-cache.npy: the images these codes were made from are gone"):
        load_images_for(gone)


def test_a_folder_table_shows_its_images_without_the_folder(tmp_path):
    """Real FIRST FITS embedded from a folder: pictures come from the kept inputs, even
    after the folder is gone, and the set has the name the user chose."""
    folder = tmp_path / "fits"
    shutil.copytree(FIRST_FITS, folder)
    table = embed("pixels-pca", ["mbc:test", f"mine=folder@{folder}"], EmbedConfig(pca_components=8),
                  progress=False)
    mine = table[table["set"] == "mine"]
    assert len(mine) == 4 and set(mine["dataset"]) == {"folder"}
    expected = model_input(f"folder@{folder}").images
    shutil.rmtree(folder)
    assert np.array_equal(load_images_for(mine), expected)
    assert np.array_equal(load_images_for(table.iloc[[3]]), model_input("mbc:test").images[[3]])


def test_image_file_query_finds_its_own_source(tmp_path):
    """A PNG of an MBC test image, embedded on the fly, finds that image first."""
    table = embed("pixels-pca", ["mbc:test"], progress=False)
    image = model_input("mbc:test").images[7]
    Image.fromarray(image).save(tmp_path / "query.png")
    encoder = encoder_for_table(table, None)
    shown, code = embed_file(tmp_path / "query.png", encoder, 1.8, EmbedConfig())
    assert np.array_equal(shown, image)
    assert np.allclose(code, code_matrix(table)[7], atol=1e-4)
    with pytest.raises(Exception, match="--model"):
        encoder_for_table(table.assign(model="vdvae-someone-elses"), None)


def test_search_command_with_an_image_file(tmp_path):
    codes = tmp_path / "c.parquet"
    main(["embed", "--model", "pixels-pca", "--data", "mbc:test", "--out", str(codes)])
    Image.fromarray(model_input("mbc:test").images[3]).save(tmp_path / "q.png")
    out = tmp_path / "grid.png"
    assert main(["search", "--codes", str(codes), "--query", str(tmp_path / "q.png"), "--in", "mbc:test",
                 "-k", "4", "-o", str(out)]) == 0
    result = pd.read_csv(out.with_suffix(".csv"))
    ids = read_codes(codes)["id"]
    assert result["id"].iloc[0] == ids.iloc[3]
    assert result["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_embed_with_a_trained_model(tmp_path):
    """A tiny VDVAE run embeds through the same command, z0 as the code."""
    from radiolatent.config import get_vdvae_config, override
    from radiolatent.training import train_vdvae

    run = override(get_vdvae_config("tiny"), ["train.epochs=1"])
    images = np.asarray(model_input("mbc:test").images)
    train_vdvae(images, run, tmp_path / "vdvae-tiny-run", progress=False)
    out = tmp_path / "codes.parquet"
    assert main(["embed", "--model", str(tmp_path / "vdvae-tiny-run"), "--data", "mbc:test", "--out", str(out)]) == 0
    table = read_codes(out)
    assert code_matrix(table).shape == (104, run.model.z0_channels)
    assert table["model"].iloc[0] == "vdvae-tiny-run+d8"
    again = embed(str(tmp_path / "vdvae-tiny-run"), ["mbc:test"], progress=False)
    assert np.array_equal(code_matrix(again), code_matrix(table)), "codes are deterministic"


def test_unknown_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["embed", "--model", str(tmp_path / "nope"), "--data", "mbc:test", "--out", str(tmp_path / "c.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.parquet").exists()


def test_the_shipped_checkpoint_embeds_without_a_model_argument():
    """`embed` with no --model uses the VDVAE committed with the package: 256 numbers, deterministic."""
    from radiolatent.embedding import SHIPPED_MODEL, get_encoder

    assert (SHIPPED_MODEL / "config.json").is_file()
    assert sum(f.stat().st_size for f in SHIPPED_MODEL.iterdir()) < 20 * 2**20
    encoder = get_encoder(None, EmbedConfig())
    images = np.asarray(model_input("mbc:test").images[:6])
    codes = encoder.encode(images)
    assert encoder.name == "vdvae-cpu"
    assert codes.shape == (6, 256) and np.isfinite(codes).all()
    assert np.array_equal(codes, get_encoder(None, EmbedConfig()).encode(images))
    assert codes.std(axis=0).max() > 0, "different sources get different codes"


def test_orientation_averaged_codes_ignore_rotation_and_flips(pool_images):
    from radiolatent.embedding import encode_images

    encoder = RandomConv(EmbedConfig()).fit(pool_images)
    images = pool_images[:5]
    codes = encode_images(encoder, images, EmbedConfig())
    turned = np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2))[:, ::-1])
    assert np.allclose(encode_images(encoder, turned, EmbedConfig()), codes, atol=1e-4)
    single = encode_images(encoder, images, EmbedConfig(dihedral_average=False))
    assert not np.allclose(encode_images(encoder, turned, EmbedConfig(dihedral_average=False)), single, atol=1e-3)


def test_repeated_images_are_encoded_once_with_the_same_code(pool_images):
    from radiolatent.embedding import encode_images, encode_once

    class Counting:
        """RandomConv that counts the images it encodes."""

        def __init__(self, inner):
            self.inner, self.name, self.seen = inner, inner.name, 0

        def encode(self, images):
            self.seen += len(images)
            return self.inner.encode(images)

    config = EmbedConfig(dihedral_average=False)
    encoder = Counting(RandomConv(config).fit(pool_images))
    first, second = pool_images[:6], pool_images[[3, 4, 6, 3]]  # overlapping sets, a repeat within one
    known = {}
    codes_a = encode_once(encoder, first, config, known)
    codes_b = encode_once(encoder, second, config, known)
    assert encoder.seen == 7  # rows 0..6 once each
    direct = encode_images(encoder.inner, second, config)
    np.testing.assert_allclose(codes_b, direct, rtol=1e-3, atol=1e-4)  # batch make-up moves last bits
    np.testing.assert_array_equal(codes_b[0], codes_b[3])
    np.testing.assert_array_equal(codes_b[:2], codes_a[3:5])


def test_eight_views_in_one_batch_are_the_mean_of_each_view():
    """The VDVAE encoder runs a batch's 8 orientations as one batch: the same codes as
    encoding each orientation on its own and averaging, and no orientation matters."""
    from radiolatent.embedding import dihedral_views, encode_images, get_encoder

    encoder = get_encoder(None, EmbedConfig())
    images = np.asarray(model_input("mbc:test").images[:10])
    codes = encode_images(encoder, images, EmbedConfig())
    each = np.mean([encoder.encode(view) for view in dihedral_views(images)], axis=0)
    np.testing.assert_allclose(codes, each, rtol=1e-5, atol=1e-5)
    turned = np.ascontiguousarray(np.rot90(images, 3, axes=(1, 2))[:, ::-1])
    np.testing.assert_allclose(encode_images(encoder, turned, EmbedConfig()), codes, rtol=1e-5, atol=1e-5)
    assert np.array_equal(codes, encode_images(encoder, images, EmbedConfig())), "deterministic"


def test_time_estimate_says_images_views_and_the_single_view_time():
    from radiolatent.embedding import time_estimate

    assert time_estimate(95895, 8, 240, "vdvae-cpu") == (
        "embedding 95,895 images x 8 views with vdvae-cpu: about 53 min at 240 views/s; "
        "--single-view takes about 7 min")
    assert time_estimate(2000, 1, 1000, "byol-cpu") == "embedding 2,000 images x 1 view with byol-cpu: about 2 s at 1,000 img/s"


def test_a_long_embed_says_how_long_before_it_runs(monkeypatch, capsys):
    """After its first batches, `embed` prints how long the whole run will take (here every
    run counts as long); without a progress bar it stays quiet."""
    import radiolatent.embedding as embedding

    monkeypatch.setattr(embedding, "LONG_EMBED_S", 0.0)
    config = EmbedConfig(dihedral_average=False)
    table = embed(None, ["mbc:test"], config, progress=True)
    err = capsys.readouterr().err
    assert "embedding 104 images x 1 view with vdvae-cpu: about" in err and "img/s" in err
    assert len(table) == 104
    embed(None, ["mbc:test"], config, progress=False)
    assert "about" not in capsys.readouterr().err
