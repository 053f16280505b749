"""`radiolatent train`: the VDVAE, the self-supervised encoders and the supervised ceiling."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_pool_arguments, pool_config


def register(subparsers: argparse._SubParsersAction) -> None:
    from radiolatent.config import SSL_METHODS

    train = subparsers.add_parser("train", help="train a model on the pre-training pool")
    sub = train.add_subparsers(dest="model_kind", metavar="MODEL", required=True)
    p = sub.add_parser("vdvae", help="the Very Deep VAE")
    _add_train_arguments(p, "e.g. train.epochs=20 or model.aux_weight=1")
    p.set_defaults(handler=cmd_train_vdvae)
    names = {"simclr": "SimCLR (NT-Xent)", "byol": "BYOL (online/target networks)",
             "simsiam": "SimSiam (stop-gradient)"}
    for method in SSL_METHODS:
        p = sub.add_parser(method, help=f"{names[method]} on a one-channel ResNet (docs/ssl.md)")
        _add_train_arguments(p, "e.g. train.epochs=5, model.backbone=resnet34 or augment.blur_p=0")
        p.set_defaults(handler=cmd_train_ssl, method=method)


def _add_train_arguments(p: argparse.ArgumentParser, set_example: str) -> None:
    p.add_argument("--config", default="cpu", help="tiny, cpu (default) or paper")
    p.add_argument("--out", type=argtypes.output_dir, required=True, help="run folder: checkpoints, metrics.csv, model/")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in a non-empty --out, replacing what is there (refused otherwise)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help=f"override a setting, {set_example} (repeatable)")
    p.add_argument("--world-size", type=argtypes.positive_int, default=1,
                   help="data-parallel processes on this machine (default 1); under torchrun leave it "
                        "at 1: torchrun --nproc-per-node starts the processes (docs/gpu.md)")
    add_device_argument(p, "train (overrides train.device)")
    add_pool_arguments(p)


def add_device_argument(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help=f"where to {what}: auto (default: this process's GPU when CUDA is present, "
                        "else the CPU), cpu or cuda")


def cmd_train_vdvae(args: argparse.Namespace) -> int:
    from radiolatent.runs import run_config, train_model

    run = run_config("vdvae", args.config, args.set)
    train_model("vdvae", run, args.out, pool_config(args), resume=args.resume, overwrite=args.overwrite,
                seed=args.seed, world_size=args.world_size, device=args.device, log=_say)
    return 0


def cmd_train_ssl(args: argparse.Namespace) -> int:
    from radiolatent.runs import run_config, train_model

    run = run_config(args.method, args.config, args.set)
    train_model(args.method, run, args.out, pool_config(args), resume=args.resume, overwrite=args.overwrite,
                seed=args.seed, world_size=args.world_size, device=args.device, log=_say)
    return 0


def _say(text: str) -> None:
    print(text, flush=True)
