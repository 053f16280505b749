"""The distillation recipe: a VDVAE's encoder learns, in one pass, the z0 codes its teacher
gives averaged over the 8 flips and quarter turns; the decoder stays the teacher's."""

import dataclasses

import numpy as np
import pytest
import torch
from synthetic import blobs

from radiolatent.config.presets import preset
from radiolatent.core.errors import InputError
from radiolatent.data.orientations import view_mean
from radiolatent.embedding import DIHEDRAL_ORDER
from radiolatent.models.checkpoint import load_model, save_model
from radiolatent.models.shipped import SHIPPED_MODEL
from radiolatent.models.vdvae import VDVAE
from radiolatent.training import train_distil

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """The shipped VDVAE as the teacher (a random tiny one gives nearly constant codes) and
    its student after 2 short epochs on 64 synthetic sources."""
    folder = tmp_path_factory.mktemp("distil")
    save_model(folder / "teacher", load_model(SHIPPED_MODEL))
    images = blobs(64, seed=3, centres=(12, 30))
    result = train_distil(images, _tiny(folder / "teacher"), folder / "run", progress=False)
    return folder, images, result


def _tiny(teacher):
    return dataclasses.replace(preset("distil", "tiny"), teacher=str(teacher))


def _unexplained(codes: torch.Tensor, target: torch.Tensor) -> float:
    return float(((codes - target) ** 2).sum() / ((target - target.mean(0)) ** 2).sum())


def test_one_pass_of_the_student_is_nearer_the_8_view_codes_than_the_teachers(distilled):
    folder, images, result = distilled
    teacher, student = load_model(folder / "teacher"), load_model(folder / "run")
    x = torch.from_numpy(images[:, None]).float() / 255
    target = view_mean(teacher.encode_z0, x, len(DIHEDRAL_ORDER))
    before, after = _unexplained(teacher.encode_z0(x), target), _unexplained(student.encode_z0(x), target)
    assert after < 0.5 * before, (before, after)
    last = result.history[-1]
    assert last["val_unexplained"] < last["teacher_unexplained"]


def test_the_student_is_a_whole_vdvae_with_the_teachers_decoder(distilled):
    folder, _, _ = distilled
    teacher, student = load_model(folder / "teacher"), load_model(folder / "run")
    assert isinstance(student, VDVAE)
    t, s = teacher.state_dict(), student.state_dict()
    parts = {id(p) for part in (teacher.encoder, teacher.top_block.posterior) for p in part.parameters()}
    bottom_up = [name for name, p in teacher.named_parameters() if id(p) in parts]
    assert any(not torch.equal(t[k], s[k]) for k in bottom_up), "the encoder learned"
    assert all(torch.equal(t[k], s[k]) for k in t if k not in bottom_up), "nothing else moved"
    header = (folder / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "val_loss", "val_unexplained", "teacher_unexplained"} <= set(header)


def test_a_teacher_that_is_not_a_vdvae_is_refused(tmp_path):
    from radiolatent.config import preset
    from radiolatent.models.ssl import build_ssl

    save_model(tmp_path / "byol", build_ssl(preset("byol", "tiny").model, seed=0).backbone, kind="byol")
    run = dataclasses.replace(preset("distil", "tiny"), teacher=str(tmp_path / "byol"))
    with pytest.raises(InputError, match="not a VDVAE"):
        train_distil(blobs(8), run, tmp_path / "run", progress=False)


def test_the_cli_names_a_missing_teacher(tmp_path, capsys):
    from radiolatent.cli import main

    code = main(["train", "distil", "--teacher", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "no such model" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_same_seed_gives_the_same_student(distilled, tmp_path):
    folder, images, result = distilled
    again = train_distil(images, _tiny(folder / "teacher"), tmp_path / "again", progress=False)
    assert again.weight_checksums == result.weight_checksums
    assert np.isclose(again.history[-1]["val_loss"], result.history[-1]["val_loss"])
