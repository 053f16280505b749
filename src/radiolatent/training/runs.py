"""Train a model on a pool, as `radiolatent train` and the study's training stages do:
its settings by name, the run folder checked, the pool built (one process at a time
under torchrun) and training.train_vdvae / train_ssl / train_distil called; or fine-tune
a classifier on labelled images (`finetune_model`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from radiolatent.config import DEFAULT_POOL, PoolConfig
from radiolatent.core.errors import SettingError

if TYPE_CHECKING:
    from radiolatent.config.distil import DistilRunConfig
    from radiolatent.config.finetune import FinetuneRunConfig
    from radiolatent.data.dataset import RadioDataset
    from radiolatent.training.state import TrainResult


def run_config(method: str, config: str = "cpu", overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """The run settings of `train METHOD --config CONFIG --set NAME=VALUE ...`."""
    from radiolatent.config import configured

    return configured(method, config, overrides)


def train_model(
    method: str,
    run: Any,  # the RunConfig of `method` (run_config's)
    out: str | Path,
    pool_config: PoolConfig = DEFAULT_POOL,
    *,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    world_size: int = 1,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train `method` ('vdvae', 'simclr', 'byol', 'simsiam', 'distil') with settings `run` on the pool of
    `pool_config` into the run folder `out`; returns training's TrainResult. `log` gets the
    start and end lines, on the first process only."""
    from radiolatent.core.distributed import in_turns, process_group
    from radiolatent.data.pools import build_pool
    from radiolatent.models.checkpoint import check_run_folder
    from radiolatent.training import train_ssl, train_vdvae
    from radiolatent.training.memory import check_vdvae_fits

    # before any work, and before the processes of a torchrun job meet (none has written yet)
    check_run_folder(out, resume, overwrite)
    with process_group(device, run.train.backend) as (where, dev):
        say = log if where.main else (lambda text: None)
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, device=dev.type))
        if method == "vdvae":
            check_vdvae_fits(run, dev)  # before the pool is read: nothing allocated for a run that cannot fit
        pool = in_turns(lambda: build_pool(pool_config, progress=where.main))
        processes = max(where.world, world_size)
        on = f"({'1 process' if processes == 1 else f'{processes} processes'} on {dev.type})"
        if method == "vdvae":
            say(f"training VDVAE '{run.name}' on the pool ({len(pool)} images) into {out} {on}")
            result = train_vdvae(
                pool.images, run, out, resume=resume, seed=seed, world_size=world_size, progress=where.main
            )
            say(
                f"done: {result.epochs_completed} epochs, best validation loss {result.best_val_loss:.1f} "
                f"nats/image, {result.skipped_total} skipped updates; model in {result.model_dir}"
            )
            return result
        if method == "distil":
            return _distil(run, pool, out, resume, seed, world_size, where.main, say, on)
        say(f"training {method} '{run.name}' ({run.model.backbone}) on the pool ({len(pool)} images) into {out} {on}")
        started = time.perf_counter()
        result = train_ssl(pool.images, run, out, resume=resume, seed=seed, world_size=world_size, progress=where.main)
        minutes = (time.perf_counter() - started) / 60.0
        say(
            f"done in {minutes:.1f} min: {result.epochs_completed} epochs, final validation loss "
            f"{result.final_val_loss:.4f}, {result.skipped_total} skipped updates; model in {result.model_dir}"
        )
        return result


def _distil(
    run: DistilRunConfig,
    pool: RadioDataset,
    out: str | Path,
    resume: bool,
    seed: int,
    world_size: int,
    main: bool,
    say: Callable[[str], None],
    on: str,
) -> TrainResult:
    """`train distil`: the teacher's 8-view z0 codes learned in one pass (training/recipes/distil.py)."""
    from radiolatent.training import train_distil

    say(f"distilling {run.teacher}'s 8-view z0 codes into one pass, on the pool ({len(pool)} images), into {out} {on}")
    started = time.perf_counter()
    result = train_distil(pool.images, run, out, resume=resume, seed=seed, world_size=world_size, progress=main)
    last = result.history[-1] if result.history else {}
    say(
        f"done in {(time.perf_counter() - started) / 60.0:.1f} min: {result.epochs_completed} epochs; one pass leaves "
        f"{last.get('val_unexplained', float('nan')):.3f} of the 8-view codes' variance unexplained on the "
        f"validation images (the teacher's own pass: {last.get('teacher_unexplained', float('nan')):.3f}); "
        f"model in {result.model_dir}"
    )
    return result


def labelled_dataset(
    data: str, pool_config: PoolConfig = DEFAULT_POOL, label_store: str | Path | None = None
) -> RadioDataset:
    """The images of `data` (comma-separated specs), preprocessed for the model, with the
    label store's scores as their classes when one is given (the explorer's labels)."""
    from radiolatent.data.dataset import RadioDataset, concat
    from radiolatent.data.inputs import model_input
    from radiolatent.data.labels import labelled_by_store

    specs = [s.strip() for s in data.split(",") if s.strip()]
    if not specs:
        raise SettingError("train", f"names no dataset (got {data!r}); e.g. mbc:train")
    parts = [model_input(spec, pool_config) for spec in specs]
    ds = parts[0] if len(parts) == 1 else concat(parts, data)
    if label_store is not None:
        ds = RadioDataset(ds.name, ds.images, labelled_by_store(ds.meta, label_store))
    return ds


def finetune_model(
    run: FinetuneRunConfig,
    data: str,
    out: str | Path,
    pool_config: PoolConfig = DEFAULT_POOL,
    *,
    label_store: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    world_size: int = 1,
    device: str = "auto",
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> TrainResult:
    """Fine-tune `run.encoder` (a shipped name or a folder) and a head on the labelled rows
    of `data` into the run folder `out` (`train finetune`); returns the TrainResult."""
    from radiolatent.core.distributed import process_group
    from radiolatent.models.checkpoint import check_run_folder
    from radiolatent.models.shipped import model_path
    from radiolatent.training.finetune import finetune, labelled_images, with_enough_steps
    from radiolatent.training.recipes.finetune import encoder_kind

    check_run_folder(out, resume, overwrite)
    encoder = str(model_path(run.encoder))
    try:
        encoder_kind(encoder)  # before any data is read
    except ValueError as exc:
        raise SettingError("encoder", str(exc)) from None
    with process_group(device, run.train.backend) as (where, dev):
        say = log if where.main else (lambda text: None)
        labelled = labelled_images(labelled_dataset(data, pool_config, label_store), data, run.train.n_labels, seed)
        run = with_enough_steps(run, len(labelled.labels))
        run = dataclasses.replace(
            run, encoder=encoder, data=data, train=dataclasses.replace(run.train, device=cast(Any, dev.type))
        )
        counts = ", ".join(f"{int((labelled.labels == k).sum())} {name}" for k, name in enumerate(labelled.classes))
        say(
            f"fine-tuning {Path(encoder).name} ({run.init} weights) on {len(labelled.labels)} labelled images of "
            f"{data} ({counts}) into {out}, up to {run.train.epochs} epochs on {dev.type}"
        )
        started = time.perf_counter()
        result = finetune(
            labelled, run, out, resume=resume, seed=seed, world_size=world_size, progress=progress and where.main
        )
        best = min(result.history, key=lambda row: row["val_loss"]) if result.history else {}
        say(
            f"done in {(time.perf_counter() - started) / 60.0:.1f} min: {result.epochs_completed} epochs, best at "
            f"epoch {best.get('epoch', '-')} (validation accuracy {best.get('val_accuracy', float('nan')):.3f}, "
            f"loss {best.get('val_loss', float('nan')):.3f}); classifier in {result.model_dir}"
        )
        return result
