"""radiolatent.config: overrides, rebuilding configs from JSON, the checks run when a config
is built, the presets, and the loop settings both trainings share."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import radiolatent
from radiolatent.config import (
    DEFAULT_POOL,
    DENSITY_CONFIGS,
    QUICK_REPRODUCE,
    SSL_CONFIGS,
    SSL_METHODS,
    VDVAE_CONFIGS,
    ClassifyConfig,
    DensityConfig,
    FolderConfig,
    LoopConfig,
    ReproduceConfig,
    SSLModelConfig,
    SSLTrainConfig,
    TrainConfig,
    VDVAEConfig,
    VDVAERunConfig,
    check_config,
    config_hash,
    dataclass_from_dict,
    override,
    preset,
)
from radiolatent.config.finetune import ClassifierConfig, FinetuneTrainConfig
from radiolatent.core.errors import InputError

WEIGHTS = Path(radiolatent.__file__).parent / "weights"
PRESETS = [
    *VDVAE_CONFIGS.values(),
    *(run for runs in SSL_CONFIGS.values() for run in runs.values()),
    *DENSITY_CONFIGS.values(),
    QUICK_REPRODUCE,
    ReproduceConfig(),
    DEFAULT_POOL,
]


def json_round_trip(config):
    return dataclass_from_dict(type(config), json.loads(json.dumps(dataclasses.asdict(config))))


# --- override -------------------------------------------------------------------------


def test_override_sets_nested_settings_parsed_as_their_type():
    run = override(preset("vdvae", "tiny"), ["train.epochs=3", "model.aux_weight=1", "train.flips_and_turns=false"])
    assert run.train.epochs == 3 and isinstance(run.train.epochs, int)
    assert run.model.aux_weight == 1.0 and isinstance(run.model.aux_weight, float)
    assert run.train.flips_and_turns is False
    assert run.model == dataclasses.replace(preset("vdvae", "tiny").model, aux_weight=1.0)
    flow = override(DENSITY_CONFIGS["tiny"], ["hidden=64,16", "standardise=scale"])
    assert flow.hidden == (64, 16) and flow.standardise == "scale"


def test_override_reads_a_setting_that_is_none_by_its_annotation():
    folder = override(FolderConfig(), ["survey=FIRST", "pixel_scale_arcsec=0.5"])
    assert folder.survey == "FIRST" and folder.pixel_scale_arcsec == 0.5
    assert override(folder, ["survey=none"]).survey is None


@pytest.mark.parametrize(
    "item, message",
    [
        ("train.nope=1", "no setting 'nope'"),
        ("nope.epochs=1", "no setting 'nope'"),
        ("train.epochs.more=1", "has no settings inside"),
        ("train", "expected name=value"),
        ("train=1", "cannot read '1' as TrainConfig"),
        ("train.epochs=ten", "cannot read 'ten' as int"),
        ("train.flips_and_turns=maybe", "cannot read 'maybe' as bool"),
        ("model.bottleneck=wide", "cannot read 'wide' as float"),
    ],
)
def test_override_refuses_bad_paths_and_values_naming_the_assignment(item, message):
    with pytest.raises(ValueError, match=message) as err:
        override(preset("vdvae", "tiny"), [item])
    assert repr(item) in str(err.value) and "\n" not in str(err.value)


def test_override_reports_every_bad_setting_with_its_path_in_one_line():
    with pytest.raises(InputError) as err:
        override(preset("vdvae", "cpu"), ["model.likelihood=poisson", "train.epochs=-3", "train.optimizer=lars"])
    message = str(err.value)
    assert "\n" not in message and message.startswith("config 'cpu'")
    assert "model.likelihood must be one of ['dmol', 'gaussian'] (got 'poisson')" in message
    assert "train.optimizer must be one of ['adamw', 'adam', 'rmsprop'] (got 'lars')" in message
    assert "train.epochs must be at least 1 (got -3)" in message


def test_override_accepts_each_training_its_own_optimizers():
    assert override(preset("byol", "tiny"), ["train.optimizer=lars"]).train.optimizer == "lars"
    with pytest.raises(InputError, match=r"train\.lr_schedule must be one of"):
        override(preset("byol", "tiny"), ["train.lr_schedule=step"])


# --- Literal options checked when a config is built -------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: VDVAEConfig(likelihood="poisson"), "likelihood must be one of ['dmol', 'gaussian'] (got 'poisson')"),
        (lambda: TrainConfig(kl_schedule="step"), "kl_schedule must be one of ['constant', 'linear', 'cyclic']"),
        (lambda: SSLTrainConfig(device="tpu"), "device must be one of ['cpu', 'cuda'] (got 'tpu')"),
        (lambda: DensityConfig(standardise="none"), "standardise must be one of ['whiten', 'scale']"),
        (lambda: SSLModelConfig(backbone="resnet50"), "backbone must be one of ['resnet10', 'resnet18', 'resnet34']"),
        (lambda: ClassifyConfig(classifiers=("knn", "xgb")), "classifiers must hold only ["),
    ],
)
def test_an_option_outside_its_choices_is_refused_when_the_config_is_built(build, message):
    with pytest.raises(InputError) as err:
        build()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_replace_is_checked_too():
    with pytest.raises(InputError, match="precision must be one of"):
        dataclasses.replace(TrainConfig(), precision="fp16")


# --- dataclass_from_dict -------------------------------------------------------------------


def test_dataclass_from_dict_round_trips_every_preset_through_json():
    for named in PRESETS:
        assert json_round_trip(named) == named


def test_dataclass_from_dict_rebuilds_nested_configs_and_tuples():
    data = json.loads(json.dumps(dataclasses.asdict(QUICK_REPRODUCE)))
    rebuilt = dataclass_from_dict(ReproduceConfig, data)
    assert isinstance(rebuilt.pool.preprocess, type(DEFAULT_POOL.preprocess))
    assert rebuilt.table2 == QUICK_REPRODUCE.table2 and isinstance(rebuilt.table2[0], tuple)
    assert isinstance(rebuilt.encoders, tuple) and isinstance(rebuilt.pool.sources, tuple)


def test_dataclass_from_dict_keeps_defaults_for_missing_keys():
    assert dataclass_from_dict(TrainConfig, {"epochs": 3}) == TrainConfig(epochs=3)


def test_dataclass_from_dict_refuses_unknown_keys_and_non_mappings():
    with pytest.raises(ValueError, match=r"TrainConfig: unknown fields \['epoch'\]"):
        dataclass_from_dict(TrainConfig, {"epoch": 3})
    with pytest.raises(ValueError, match="unknown fields"):
        dataclass_from_dict(VDVAERunConfig, {"name": "x", "model": {"widths2": "1:1"}, "train": {}})
    with pytest.raises(ValueError, match="TrainConfig: expected a mapping, got list"):
        dataclass_from_dict(VDVAERunConfig, {"name": "x", "model": {}, "train": [1, 2]})


def test_dataclass_from_dict_checks_every_setting_with_its_path():
    data = dataclasses.asdict(preset("vdvae", "tiny"))
    data["model"]["likelihood"] = "poisson"
    data["train"]["lr"] = -1.0
    with pytest.raises(InputError) as err:
        dataclass_from_dict(VDVAERunConfig, data)
    assert "model.likelihood must be one of" in str(err.value) and "train.lr must be > 0" in str(err.value)


@pytest.mark.parametrize("folder", sorted(p.name for p in WEIGHTS.iterdir() if (p / "config.json").is_file()))
def test_shipped_checkpoint_configs_load_to_the_values_saved(folder):
    meta = json.loads((WEIGHTS / folder / "config.json").read_text())
    kinds = {"vdvae": VDVAEConfig, "classifier": ClassifierConfig}
    config = dataclass_from_dict(kinds.get(meta["kind"], SSLModelConfig), meta["config"])
    assert json.loads(json.dumps(dataclasses.asdict(config))) == meta["config"]
    # the shipped checkpoints are the `cpu` presets (a classifier: its encoder's and head's)
    if meta["kind"] == "classifier":
        head = preset("finetune", "cpu")
        assert config.vdvae == preset("vdvae", "cpu").model
        assert (config.head_hidden, config.dropout) == (head.head_hidden, head.dropout)
        return
    run = preset("vdvae", "cpu") if meta["kind"] == "vdvae" else preset(meta["kind"], "cpu")
    assert config == run.model


# --- presets and the shared loop config -----------------------------------------------------


def test_every_preset_is_valid():
    for named in PRESETS:
        assert check_config(named) is named
    assert set(SSL_CONFIGS) == set(SSL_METHODS)


def test_bare_vdvae_and_train_configs_are_the_cpu_preset():
    cpu = preset("vdvae", "cpu")
    assert (VDVAEConfig(), TrainConfig()) == (cpu.model, cpu.train)


def test_both_trainings_share_one_loop_config():
    loop = {f.name for f in dataclasses.fields(LoopConfig)}
    vdvae = {f.name for f in dataclasses.fields(TrainConfig)}
    ssl = {f.name for f in dataclasses.fields(SSLTrainConfig)}
    assert issubclass(TrainConfig, LoopConfig) and issubclass(SSLTrainConfig, LoopConfig)
    assert ssl - loop == {"lr_schedule", "export_half"}
    assert vdvae - loop == {
        "beta",
        "kl_schedule",
        "kl_warmup_steps",
        "kl_cycle_steps",
        "free_bits",
        "free_bits_top",
        "flips_and_turns",
        "active_threshold",
    }
    assert len(loop) == 27
    finetune = {f.name for f in dataclasses.fields(FinetuneTrainConfig)}
    assert issubclass(FinetuneTrainConfig, LoopConfig)
    assert finetune - loop == {
        "lr_schedule",
        "freeze_epochs",
        "encoder_lr_factor",
        "n_labels",
        "class_balanced",
        "min_steps",
    }


def test_a_saved_training_config_loads_to_identical_values():
    for run in (preset("vdvae", "paper"), preset("simclr", "paper")):
        saved = json.loads(json.dumps(dataclasses.asdict(run)))
        rebuilt = dataclass_from_dict(type(run), saved)
        assert rebuilt == run and type(rebuilt.train) is type(run.train)
        assert dataclasses.asdict(rebuilt) == dataclasses.asdict(run)


def test_config_hash_follows_the_values():
    assert config_hash(TrainConfig()) == config_hash(TrainConfig())
    assert config_hash(TrainConfig()) != config_hash(TrainConfig(epochs=3))
    assert config_hash(TrainConfig(), "a") != config_hash(TrainConfig(), "b")


def test_given_values_replace_settings_and_a_refused_one_names_its_field():
    """`with_given` is how an argument or flag given beside a config wins over it: None
    leaves the configured value, and a value the settings refuse is a SettingError
    naming that field (the CLI shows it as the flag)."""
    from radiolatent.config import DEFAULT_SEARCH, with_given
    from radiolatent.core.errors import SettingError

    config = with_given(DEFAULT_SEARCH, {"k": 20, "metric": None})
    assert config.k == 20 and config.metric == DEFAULT_SEARCH.metric
    with pytest.raises(SettingError) as refused:
        with_given(DEFAULT_SEARCH, {"k": 5, "metric": "nearest"})
    assert refused.value.source == "metric" and "nearest" in refused.value.problem
