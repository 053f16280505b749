"""`radiolatent train`: the VDVAE, the self-supervised encoders and the supervised ceiling."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_folder_arguments, add_pool_arguments, pool_config


def register(subparsers: argparse._SubParsersAction) -> None:
    from radiolatent.config import SSL_METHODS

    train = subparsers.add_parser("train", help="train a model: on the pre-training pool, or the supervised ceiling")
    sub = train.add_subparsers(dest="model_kind", metavar="MODEL", required=True)
    p = sub.add_parser("vdvae", help="the Very Deep VAE")
    _add_train_arguments(p, "e.g. train.epochs=20 or model.aux_weight=1")
    p.set_defaults(handler=cmd_train_vdvae)
    names = {
        "simclr": "SimCLR (NT-Xent)",
        "byol": "BYOL (online/target networks)",
        "simsiam": "SimSiam (stop-gradient)",
    }
    for method in SSL_METHODS:
        p = sub.add_parser(method, help=f"{names[method]} on a one-channel ResNet (docs/ssl.md)")
        _add_train_arguments(p, "e.g. train.epochs=5, model.backbone=resnet34 or views.blur_p=0")
        argtypes.add_deprecated(p, "--train-on", "--train", "train_on")
        p.add_argument(
            "--train",
            dest="train_on",
            default=None,
            metavar="SPEC",
            help="train on this dataset instead of the pool, e.g. mirabest:all ([C]'s protocol: "
            "--config c-mirabest); the confident subset's kNN score ([C]: k=5, 50 splits) is printed",
        )
        p.add_argument(
            "--init",
            choices=("random", "pretrained"),
            default="random",
            help=f"with --train: start from random weights (default) or the shipped {method}-cpu "
            "backbone ([C] compared the two)",
        )
        p.set_defaults(handler=cmd_train_ssl, method=method)
    _register_distil(sub)
    _register_finetune(sub)
    _register_supervised(sub)


def _register_distil(sub) -> None:
    p = sub.add_parser(
        "distil",
        help="teach a trained VDVAE's encoder to give its 8-view z0 codes in one pass (docs/vdvae.md)",
    )
    p.add_argument(
        "--teacher",
        default="vdvae-cpu",
        help="the VDVAE: a shipped name (default vdvae-cpu), a run folder or a model directory",
    )
    _add_train_arguments(p, "e.g. train.epochs=8 or train.lr=1e-4", configs="tiny or cpu (default)")
    p.set_defaults(handler=cmd_train_distil)


def _register_finetune(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="a pretrained encoder and a small head trained on labelled images: a classifier "
        "for `predict --model` (docs/finetune.md)",
    )
    p.add_argument(
        "--train",
        default="mbc:train",
        metavar="SPEC",
        help="labelled rows to learn from: a shipped training split (default mbc:train) or your "
        "folder whose catalogue has a label column (never a test split)",
    )
    p.add_argument(
        "--encoder",
        default="vdvae-cpu",
        help="where to start: a shipped model (vdvae-cpu, the default; vdvae-distil-cpu, simclr-cpu, "
        "byol-cpu, simsiam-cpu), a run folder or a model directory",
    )
    p.add_argument(
        "--init",
        choices=("pretrained", "random"),
        default="pretrained",
        help="the encoder's trained weights (default), or the same network from random weights",
    )
    p.add_argument(
        "--n-labels",
        type=argtypes.non_negative_int,
        default=None,
        metavar="N",
        help="train on a stratified subset of N labelled rows, drawn with --seed (default: all)",
    )
    p.add_argument(
        "--labels",
        default=None,
        metavar="PATH",
        help="label store (the explorer's or `anomaly label`'s JSON lines): its scores become the "
        "classes of the --train rows they name",
    )
    argtypes.add_deprecated(p, "--label-file", "--labels", "labels")
    _add_train_arguments(
        p, "e.g. train.epochs=20, train.freeze_epochs=0 or head_hidden=0", configs="tiny or cpu (default)", pool=False
    )
    p.set_defaults(handler=cmd_train_finetune)


def _register_supervised(sub) -> None:
    from radiolatent.config.supervised import SUPERVISED_SETS

    p = sub.add_parser(
        "supervised",
        help="the supervised ceiling: a ResNet-18 on FRI/FRII labels "
        "([B]: 92.42 %% on MiraBest), scored on the test split",
    )
    argtypes.add_deprecated(p, "--data", "--train", "train")
    p.add_argument(
        "--train",
        default="mbc:train",
        help=f"comma-separated labelled train splits: {', '.join(SUPERVISED_SETS)} (default mbc:train)",
    )
    p.add_argument("--seeds", type=argtypes.positive_int, default=3, help="seeds 0..N-1 per set (default 3)")
    p.add_argument(
        "--first-seed", type=argtypes.non_negative_int, default=0, help="start at this seed (K..K+N-1; default 0)"
    )
    p.add_argument(
        "--out",
        type=argtypes.output_dir,
        required=True,
        help="folder: supervised.csv (one row per set and seed) and each classifier's run folder",
    )
    argtypes.add_settings_arguments(p, "finetune", "ceiling", "the fine-tuning settings it trains with")
    p.set_defaults(handler=cmd_train_supervised)


def _add_train_arguments(
    p: argparse.ArgumentParser,
    set_example: str,
    configs: str = "tiny, cpu (default) or paper; SSL also b-paper ([B]), c-mirabest ([C]), cut",
    pool: bool = True,
) -> None:
    p.add_argument("--config", default="cpu", help=configs)
    p.add_argument(
        "--out", type=argtypes.output_dir, required=True, help="run folder: checkpoints, metrics.csv, model/"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in a non-empty --out, replacing what is there (refused otherwise)",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"override a setting, {set_example} (repeatable)",
    )
    p.add_argument(
        "--world-size",
        type=argtypes.positive_int,
        default=1,
        help="data-parallel processes on this machine (default 1); under torchrun leave it "
        "at 1: torchrun --nproc-per-node starts the processes (docs/gpu.md)",
    )
    add_device_argument(p, "train (overrides train.device)")
    if pool:
        add_pool_arguments(p)
    else:
        add_folder_arguments(p)


def add_device_argument(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help=f"where to {what}: auto (default: this process's GPU when CUDA is present, else the CPU), cpu or cuda",
    )


def cmd_train_vdvae(args: argparse.Namespace) -> int:
    from radiolatent.training.runs import run_config

    return _train_on_pool("vdvae", run_config("vdvae", args.config, args.set), args)


def cmd_train_distil(args: argparse.Namespace) -> int:
    import dataclasses

    from radiolatent.models.shipped import model_path
    from radiolatent.training.runs import run_config

    run = run_config("distil", args.config, args.set)
    return _train_on_pool("distil", dataclasses.replace(run, teacher=str(model_path(args.teacher))), args)


def cmd_train_ssl(args: argparse.Namespace) -> int:
    from radiolatent.training.runs import run_config

    run = run_config(args.method, args.config, args.set)
    if args.train_on is not None or args.init != "random":
        return _train_on_set(args, run)
    return _train_on_pool(args.method, run, args)


def _train_on_pool(method: str, run, args: argparse.Namespace) -> int:
    """`train METHOD` on the pool: the run settings, folder, pool and device from the command line."""
    from radiolatent.training.runs import train_model

    train_model(method, run, args.out, pool_config(args), **_run_options(args))
    return 0


def _run_options(args: argparse.Namespace) -> dict:
    """The options every training command passes on: resume, overwrite, seed, processes, device."""
    return {
        "resume": args.resume,
        "overwrite": args.overwrite,
        "seed": args.seed,
        "world_size": args.world_size,
        "device": args.device,
        "log": _say,
    }


def _train_on_set(args: argparse.Namespace, run) -> int:
    """[C]'s protocol: train on a dataset (not the pool) from a random or pretrained start."""
    import dataclasses

    import torch

    from radiolatent.core.errors import InputError
    from radiolatent.models.checkpoint import check_run_folder
    from radiolatent.studies.mirabest_ssl import knn_c_score, train_on_set

    if args.train_on is None:
        raise InputError("--init", "a pretrained start is for --train (the pool runs start from random weights)")
    if args.world_size > 1 or args.add or args.min_las:
        raise InputError("--train", "trains in one process on the dataset alone: drop --world-size/--add/--min-las")
    check_run_folder(args.out, args.resume, args.overwrite)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, device="cuda" if cuda else "cpu"))
    train_on_set(run, args.train_on, args.out, args.init, seed=args.seed, resume=args.resume, log=_say)
    score = knn_c_score(args.out)
    print(
        f"kNN (k={score['k']}, {score['n_splits']} random 75/25 splits of MBC, single pass): "
        f"accuracy {score['mean']:.4f} +- {score['sd']:.4f} (sd)"
    )
    return 0


def cmd_train_finetune(args: argparse.Namespace) -> int:
    import dataclasses

    from radiolatent.training.runs import finetune_model, run_config

    overrides = list(args.set)
    _old_labels_count(args)
    if args.n_labels is not None:
        overrides.append(f"train.n_labels={args.n_labels}")
    run = dataclasses.replace(run_config("finetune", args.config, overrides), encoder=args.encoder, init=args.init)
    finetune_model(run, args.train, args.out, pool_config(args), label_store=args.labels, **_run_options(args))
    return 0


def cmd_train_supervised(args: argparse.Namespace) -> int:
    from radiolatent.studies.supervised import RESULTS_CSV, run_ceiling, summary

    run = argtypes.settings(args, "finetune")
    specs = [s.strip() for s in args.train.split(",") if s.strip()]
    rows = run_ceiling(specs, args.seeds, run, out_dir=args.out, first_seed=args.first_seed)
    print(summary(rows).to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {args.out}/{RESULTS_CSV}")
    return 0


def _old_labels_count(args: argparse.Namespace) -> None:
    """`train finetune --labels N`, the old spelling of --n-labels N (--labels is a label file
    in every command): a whole number that names no file is read as N, with a warning."""
    old = args.labels
    if old is not None and old.isdigit() and not Path(old).exists() and args.n_labels is None:
        print(
            f"warning: --labels {old} is the old spelling of --n-labels {old}; it goes in the next release",
            file=sys.stderr,
        )
        args.n_labels, args.labels = int(old), None


def _say(text: str) -> None:
    print(text, flush=True)
