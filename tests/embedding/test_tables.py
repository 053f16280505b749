"""Codes tables: `embed` from the command line and the library, image-file queries, each image encoded once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radiolatent.cli import main
from radiolatent.config import EmbedConfig
from radiolatent.core.errors import InputError, flag
from radiolatent.data.codes import code_matrix, read_codes, select
from radiolatent.data.inputs import model_input
from radiolatent.embedding import RandomConv, embed, embed_file, encoder_for_table


def test_embed_writes_one_row_per_image_with_metadata(tmp_path):
    assert (
        main(["embed", "--model", "pixels-pca", "--data", "mbc,frdeep-n:test", "--out", str(tmp_path / "c.parquet")])
        == 0
    )
    table = read_codes(tmp_path / "c.parquet")
    assert len(select(table, "mbc:train")) == 729 and len(select(table, "mbc:test")) == 104
    assert len(select(table, "nvss:test")) == 50
    assert set(table["model"]) == {"pixels-pca+d8"}, "codes are averaged over orientations by default"
    assert code_matrix(table).shape[1] == 256
    assert table["las_arcsec"].notna().sum() == 833, "MiraBest rows keep their catalogue LAS"


def test_image_file_query_finds_its_own_source(tmp_path):
    """A PNG of an MBC test image, embedded on the fly, finds that image first."""
    table = embed("pixels-pca", ["mbc:test"], progress=False)
    image = model_input("mbc:test").images[7]
    Image.fromarray(image).save(tmp_path / "query.png")
    encoder = encoder_for_table(table, None)
    shown, code = embed_file(tmp_path / "query.png", encoder, 1.8, EmbedConfig())
    assert np.array_equal(shown, image)
    assert np.allclose(code, code_matrix(table)[7], atol=1e-4)
    with pytest.raises(InputError, match="name this table's model with `model`") as refused:
        encoder_for_table(table.assign(model="vdvae-someone-elses"), None)
    assert refused.value.spelled(flag).endswith("name this table's model with --model")


def test_search_command_with_an_image_file(tmp_path):
    codes = tmp_path / "c.parquet"
    main(["embed", "--model", "pixels-pca", "--data", "mbc:test", "--out", str(codes)])
    Image.fromarray(model_input("mbc:test").images[3]).save(tmp_path / "q.png")
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "search",
                "--codes",
                str(codes),
                "--query",
                str(tmp_path / "q.png"),
                "--in",
                "mbc:test",
                "-k",
                "4",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    result = pd.read_csv(out.with_suffix(".csv"))
    ids = read_codes(codes)["id"]
    assert result["id"].iloc[0] == ids.iloc[3]
    assert result["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_embed_with_a_trained_model(tmp_path):
    """A tiny VDVAE run embeds through the same command, z0 as the code."""
    from radiolatent.config import override, preset
    from radiolatent.training import train_vdvae

    run = override(preset("vdvae", "tiny"), ["train.epochs=1"])
    images = np.asarray(model_input("mbc:test").images)
    train_vdvae(images, run, tmp_path / "vdvae-tiny-run", progress=False)
    out = tmp_path / "codes.parquet"
    assert main(["embed", "--model", str(tmp_path / "vdvae-tiny-run"), "--data", "mbc:test", "--out", str(out)]) == 0
    table = read_codes(out)
    assert code_matrix(table).shape == (104, run.model.z0_channels)
    assert table["model"].iloc[0] == "vdvae-tiny-run+d8"
    again = embed(str(tmp_path / "vdvae-tiny-run"), ["mbc:test"], progress=False)
    assert np.array_equal(code_matrix(again), code_matrix(table)), "codes are deterministic"


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


def test_single_pass_codes_after_eight_view_ones_are_not_computed_again(monkeypatch, tmp_path):
    """An 8-view table keeps its images' upright codes; a single-pass table of the same
    sets and more then encodes only the new images, with the codes it would have computed."""
    import radiolatent.embedding.tables as tables

    real = tables.get_encoder(None, EmbedConfig())
    runs = []

    class Counting:
        name = real.name

        def encode(self, images):
            return self.encode_views(images).mean

        def encode_views(self, images, views=1, progress=False):
            runs.append((len(images), views))
            return real.encode_views(images, views, progress)

    monkeypatch.setattr(tables, "get_encoder", lambda *args, **kwargs: Counting())
    single, sets = EmbedConfig(dihedral_average=False), ["mbc:test", "frdeep-n:test"]
    upright = {}
    tables.embed(None, sets[:1], EmbedConfig(), progress=False, upright=upright)
    tables.save_codes_by_image(upright, tmp_path / "upright.npz")
    kept = tables.load_codes_by_image(tmp_path / "upright.npz")
    assert kept.keys() == upright.keys() and all(np.array_equal(kept[k], upright[k]) for k in kept)
    assert tables.load_codes_by_image(tables.save_codes_by_image({}, tmp_path / "none.npz")) == {}
    reused = tables.embed(None, sets, single, progress=False, upright=kept)
    assert runs == [(104, 8), (len(reused) - 104, 1)]
    fresh = tables.embed(None, sets, single, progress=False)
    assert np.array_equal(code_matrix(reused), code_matrix(fresh))
    pd.testing.assert_frame_equal(reused, fresh)
