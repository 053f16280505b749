"""A long embed says how long it will take before it runs."""

from radiolatent.config import EmbedConfig
from radiolatent.embedding import embed


def test_time_estimate_says_images_views_and_the_single_view_time():
    from radiolatent.embedding import time_estimate

    assert time_estimate(95895, 8, 240, "vdvae-cpu") == (
        "embedding 95,895 images x 8 views with vdvae-cpu: about 53 min at 240 views/s; "
        "single-view codes take about 7 min"
    )
    assert (
        time_estimate(2000, 1, 1000, "byol-cpu")
        == "embedding 2,000 images x 1 view with byol-cpu: about 2 s at 1,000 img/s"
    )


def test_a_long_embed_says_how_long_before_it_runs(monkeypatch, capsys):
    """After its first batches, `embed` prints how long the whole run will take (here every
    run counts as long); without a progress bar it stays quiet."""
    from radiolatent.embedding import progress as embed_progress

    monkeypatch.setattr(embed_progress, "LONG_EMBED_S", 0.0)
    config = EmbedConfig(dihedral_average=False)
    table = embed(None, ["mbc:test"], config, progress=True)
    err = capsys.readouterr().err
    assert "embedding 104 images x 1 view with vdvae-cpu: about" in err and "img/s" in err
    assert len(table) == 104
    embed(None, ["mbc:test"], config, progress=False)
    assert "about" not in capsys.readouterr().err
