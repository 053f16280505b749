"""Fine-tuning: the shipped VDVAE's bottom-up path and a head learn FRI/FRII from labelled
MiraBest images in the shared loop; the head learns alone while the encoder is frozen,
the model kept is the best validation epoch's, and the run is the same for the same seed."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from radiolatent.config.presets import preset
from radiolatent.core.errors import InputError
from radiolatent.data.dataset import RadioDataset, empty_meta
from radiolatent.data.inputs import model_input
from radiolatent.models.checkpoint import load_model
from radiolatent.models.classifier import Classifier, VDVAEBottomUp
from radiolatent.models.shipped import SHIPPED_MODEL
from radiolatent.training.finetune import finetune, fit_temperature, labelled_images, with_enough_steps
from radiolatent.training.parts import validation_split

torch.set_num_threads(1)


def _run(**train):
    run = preset("finetune", "tiny")
    return dataclasses.replace(
        run, encoder=str(SHIPPED_MODEL), data="mbc:train", train=dataclasses.replace(run.train, **train)
    )


@pytest.fixture(scope="module")
def mbc():
    return model_input("mbc:train")


@pytest.fixture(scope="module")
def labelled(mbc):
    return labelled_images(mbc, "mbc:train", n_labels=48, seed=0)


@pytest.fixture(scope="module")
def tuned(labelled, tmp_path_factory):
    """Four epochs on 48 labelled MBC images, the first with the encoder frozen."""
    out = tmp_path_factory.mktemp("finetune") / "run"
    result = finetune(labelled, _run(epochs=4, patience=2), out, progress=False)
    return out, result


def test_the_pretrained_start_gives_the_vdvaes_own_z0_codes(mbc):
    vdvae = load_model(SHIPPED_MODEL)
    x = torch.from_numpy(mbc.images[:16, None]).float() / 255
    with torch.no_grad():
        assert torch.allclose(VDVAEBottomUp(vdvae)(x), vdvae.encode_z0(x), atol=1e-5)


def test_a_stratified_subset_of_n_labels_keeps_both_classes_in_proportion(mbc, labelled):
    assert len(labelled.labels) == 48 and labelled.classes == ["FRI", "FRII"]
    share = np.mean(labelled.labels)
    assert abs(share - np.mean(mbc.meta["label"] == 1)) < 0.05
    train, valid = validation_split(48, _run().train, 0, labelled.labels)
    assert len(set(train) | set(valid)) == 48 and 0 < labelled.labels[valid].mean() < 1


def test_the_model_kept_is_the_epoch_of_the_lowest_validation_loss(tuned):
    out, result = tuned
    losses = [row["val_loss"] for row in result.history]
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["epoch"] == 1 + int(np.argmin(losses)) and saved["kind"] == "classifier"
    best = 1 + int(np.argmin(losses))
    assert result.epochs_completed == 4 or result.epochs_completed - best == 2


def test_the_encoder_does_not_move_while_frozen_and_the_head_does(labelled, tmp_path):
    result = finetune(labelled, _run(epochs=4, freeze_epochs=2), tmp_path / "run", progress=False)
    again = finetune(labelled, _run(epochs=4, freeze_epochs=2), tmp_path / "half", progress=False, stop_after=2)
    start = VDVAEBottomUp(load_model(SHIPPED_MODEL)).state_dict()
    half = _checkpoint_model(tmp_path / "half")
    assert all(torch.equal(start[k], half[f"encoder.{k}"]) for k in start), "frozen for 2 epochs"
    full = _checkpoint_model(tmp_path / "run")
    assert any(not torch.equal(start[k], full[f"encoder.{k}"]) for k in start), "then it learns"
    assert result.epochs_completed == 4 and again.epochs_completed == 2


def _checkpoint_model(run) -> dict:
    from safetensors.torch import load_file

    meta = json.loads((run / "checkpoint" / "state.json").read_text())
    tensors = load_file(run / "checkpoint" / meta["tensors_file"])
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def test_the_same_seed_gives_the_same_classifier(labelled, tuned, tmp_path):
    out, _ = tuned
    finetune(labelled, _run(epochs=4, patience=2), tmp_path / "again", progress=False)
    first, second = load_model(out).state_dict(), load_model(tmp_path / "again").state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_the_finished_model_keeps_a_temperature_and_its_training_features(labelled, tuned):
    out, _ = tuned
    model = load_model(out)
    assert isinstance(model, Classifier) and model.cfg.domain_rows == 48
    assert model.domain_features.shape == (48, 256) and float(model.temperature) > 0
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["domain_ids"] == list(labelled.ids) and saved["trained_on"] == "mbc:train"


def test_an_overconfident_classifier_gets_a_temperature_above_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = np.where(rng.random(400) < 0.8, labels, 1 - labels)  # 80 % right, each said at ~99.9 %
    logits = torch.from_numpy(np.stack([np.where(right == 0, 7.0, 0.0), np.where(right == 1, 7.0, 0.0)], 1))
    assert fit_temperature(logits[None].float().expand(8, -1, -1), labels) > 2.0


def _dataset(labels, split="train"):
    meta = empty_meta(len(labels)).assign(id=[f"s{i}" for i in range(len(labels))], label=labels, split=split)
    return RadioDataset("mine", np.zeros((len(labels), 64, 64), np.uint8), meta)


def test_labelled_rows_that_cannot_train_a_classifier_are_refused_in_one_line():
    with pytest.raises(InputError, match="mbc:test: is a test split"):
        labelled_images(_dataset([0, 1] * 10, split="test"), "mbc:test")
    with pytest.raises(InputError, match="labels of one class only"):
        labelled_images(_dataset([1] * 20), "mine")
    with pytest.raises(InputError, match="no labelled rows"):
        labelled_images(_dataset([-1] * 20), "mine")
    with pytest.raises(InputError, match="labels: 30 is more than the 20 labelled rows of mine"):
        labelled_images(_dataset([0, 1] * 10), "mine", n_labels=30)
    with pytest.raises(InputError, match="need at least 2 of each class"):
        labelled_images(_dataset([0, 1] * 10), "mine", n_labels=3)


def test_a_few_labels_go_through_several_times_an_epoch_to_reach_the_minimum_steps():
    cpu = preset("finetune", "cpu")
    few, many = with_enough_steps(cpu, 25).train, with_enough_steps(cpu, 729).train
    assert many.passes == 1 and many.batch_size == cpu.train.batch_size
    assert few.batch_size == 20, "a batch no larger than the 20 training images"
    assert few.epochs * few.passes * (20 // few.batch_size) >= cpu.train.min_steps


def test_two_passes_an_epoch_take_twice_the_steps(labelled, tmp_path):
    once = finetune(labelled, _run(epochs=1), tmp_path / "once", progress=False)
    twice = finetune(labelled, _run(epochs=1, passes=2), tmp_path / "twice", progress=False)
    n_train, batch = 48 - len(once.valid_indices), _run().train.batch_size
    assert (once.steps, twice.steps) == (n_train // batch, 2 * n_train // batch)


def test_a_run_stopped_and_resumed_ends_as_an_uninterrupted_one(labelled, tmp_path):
    whole = finetune(labelled, _run(epochs=3, patience=0), tmp_path / "whole", progress=False)
    finetune(labelled, _run(epochs=3, patience=0), tmp_path / "split", progress=False, stop_after=1)
    resumed = finetune(labelled, _run(epochs=3, patience=0), tmp_path / "split", progress=False, resume=True)
    assert resumed.weight_checksums == whole.weight_checksums and resumed.epochs_completed == 3
    first, second = load_model(tmp_path / "whole").state_dict(), load_model(tmp_path / "split").state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first), "the same finished classifier"
