"""Which stages the study runs: the VDVAE's single-pass codes from its distilled encoder."""

from __future__ import annotations

import dataclasses

from radiolatent.config import STUDY_DISTILLED, ReproduceConfig
from radiolatent.studies.reproduce import WEIGHTS_DIR, fingerprint, study_stages


def _stage(stages, name):
    return next(s for s in stages if s.name == name)


def test_retrain_distils_the_trained_vdvae_for_its_single_pass_codes():
    stages, _ = study_stages(ReproduceConfig(), retrain=True)
    distil = _stage(stages, "train-vdvae-distil")
    assert distil.needs == ("pool", "train-vdvae")
    assert _stage(stages, "embed-vdvae-single").needs == ("pool", "train-vdvae-distil")
    assert _stage(stages, "embed-vdvae").needs == ("pool", "train-vdvae")  # +d8: the VAE's own encoder


def test_the_shipped_distilled_encoder_makes_the_single_pass_vdvae_codes():
    stages, _ = study_stages(ReproduceConfig())
    single, main = _stage(stages, "embed-vdvae-single"), _stage(stages, "embed-vdvae")
    assert single.params["model"] == fingerprint(WEIGHTS_DIR / STUDY_DISTILLED["vdvae"])
    assert main.params["model"] == fingerprint(WEIGHTS_DIR / "vdvae-cpu")
    assert _stage(stages, "embed-simclr-single").params["model"] == _stage(stages, "embed-simclr").params["model"]


def test_without_distillation_one_pass_of_the_vae_is_used():
    cfg = dataclasses.replace(ReproduceConfig(), distilled_single_pass=False)
    stages, _ = study_stages(cfg, retrain=True)
    assert "train-vdvae-distil" not in {s.name for s in stages}
    # the VAE's own weights: its +d8 stage's upright codes are these
    assert _stage(stages, "embed-vdvae-single").needs == ("pool", "train-vdvae", "embed-vdvae")


def test_a_stage_name_is_its_typed_id_and_reads_back():
    """Stage folders are named from typed ids (studies/ids.py), never assembled by hand;
    the report reads the names of results.json back into the same ids."""
    from radiolatent.studies.ids import StageId

    stages, _ = study_stages(ReproduceConfig(), retrain=True)
    names = {s.name for s in stages}
    for name in names:
        stage = StageId.parse(name)
        if stage is not None:
            assert str(stage) == name
    assert str(StageId("embed", "simclr", single=True)) in names
    assert str(StageId("train", "vdvae", distil=True)) in names
    assert StageId.parse("train-vdvae-distil") == StageId("train", "vdvae", distil=True)
    assert StageId.parse("table2-pixels-pca-single") == StageId("table2", "pixels-pca", single=True)
    assert StageId.parse("maps-encoders") is None and StageId.parse("pool") is None


def test_a_single_pass_stage_reads_the_upright_codes_of_its_eight_view_stage():
    """The same weights: embed-simclr-single needs embed-simclr (its upright codes); the
    VDVAE's single-pass codes come from another encoder and do not."""
    stages, _ = study_stages(ReproduceConfig())
    assert _stage(stages, "embed-simclr-single").needs == ("pool", "embed-simclr")
    assert "embed-vdvae" not in _stage(stages, "embed-vdvae-single").needs
