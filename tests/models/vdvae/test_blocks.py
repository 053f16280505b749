"""Block strings: the architecture as data, checked before any layer is built."""

import dataclasses

import pytest

from radiolatent.config import preset
from radiolatent.models.vdvae import build_vdvae, parse_blocks, parse_widths, stage_counts


def test_paper_block_strings_give_the_published_counts():
    cfg = preset("vdvae", "paper").model
    assert stage_counts(parse_blocks(cfg.encoder_blocks, "down")) == {64: 3, 32: 3, 16: 2, 8: 2, 4: 2, 1: 1}
    assert stage_counts(parse_blocks(cfg.decoder_blocks, "up")) == {1: 5, 4: 5, 8: 4, 16: 3, 32: 2, 64: 1}
    assert parse_widths("64:32,1:256") == {64: 32, 1: 256}


@pytest.mark.parametrize(
    "spec,direction,problem",
    [
        ("64x2,64d3", "down", "not divisible by factor 3"),
        ("64x2,32x1", "down", "blocks at 32 but the stream is at 64"),  # no pooling between
        ("1x1,4m2", "up", "upsampling token out of place"),  # from the wrong resolution
        ("64y2", "down", "bad block token"),  # unknown operator
        ("64d2", "down", "has no blocks"),
    ],
)
def test_bad_block_strings_fail(spec, direction, problem):
    with pytest.raises(ValueError, match=problem):
        parse_blocks(spec, direction)


def test_layout_mismatch_fails():
    cfg = dataclasses.replace(preset("vdvae", "tiny").model, decoder_blocks="1x1,8m1,8x1,64m8,64x1")
    with pytest.raises(ValueError, match="no encoder activation"):
        build_vdvae(cfg)
