"""`radiolatent embed` (and, with the models, train / reconstruct / generate)."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_pool_arguments, pool_config
from radiolatent.config import EmbedConfig

DEFAULT_SETS = "mbc,frdeep-n,pool"
#: images per forward pass on a GPU: large batches keep it busy (memory is no issue at 64x64).
GPU_EMBED_BATCH = 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    register_train(subparsers)
    p = subparsers.add_parser("embed", help="encode datasets into a codes table (parquet)")
    p.add_argument("--model", default=None,
                   help="a trained run folder (VDVAE, SimCLR, BYOL or SimSiam: told apart by the "
                        "checkpoint), a shipped checkpoint (vdvae-cpu, simclr-cpu, byol-cpu, simsiam-cpu), "
                        "or a no-learning floor: pixels-pca, random-conv (default: the shipped VDVAE)")
    p.add_argument("--data", default=DEFAULT_SETS,
                   help=f"comma-separated dataset specs (default {DEFAULT_SETS})")
    p.add_argument("--out", type=argtypes.output_file, required=True, help="codes table to write (.parquet)")
    p.add_argument("--batch-size", type=argtypes.positive_int, default=None,
                   help=f"images per forward pass (default {EmbedConfig.batch_size} on a CPU, "
                        f"{GPU_EMBED_BATCH} on a GPU)")
    add_device_argument(p, "run the encoder")
    add_pool_arguments(p)
    p.add_argument("--single-view", action="store_true",
                   help="encode each image once, as the paper did (default: average the codes "
                        "over the 8 flips and quarter turns; the model id gets '+d8')")
    p.set_defaults(handler=cmd_embed)

    p = subparsers.add_parser("reconstruct", help="image grid: inputs beside their VDVAE reconstructions")
    p.add_argument("--model", required=True, help="a trained VDVAE run folder")
    p.add_argument("--data", default="mbc:test", help="dataset spec (default mbc:test)")
    p.add_argument("-n", type=argtypes.positive_int, default=8, help="number of images (default 8)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_file, default="reconstructions.png")
    p.set_defaults(handler=cmd_reconstruct)

    p = subparsers.add_parser("generate", help="image grid of samples from the VDVAE prior")
    p.add_argument("--model", required=True, help="a trained VDVAE run folder")
    p.add_argument("-n", type=argtypes.positive_int, default=8, help="samples per temperature (default 8)")
    p.add_argument("--temperatures", default="0.6,0.8,1.0", help="comma-separated (default 0.6,0.8,1.0)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("-o", "--out", type=argtypes.output_file, default="samples.png")
    p.set_defaults(handler=cmd_generate)


def register_train(subparsers: argparse._SubParsersAction) -> None:
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


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from radiolatent.generative import reconstruction_grid

    path = reconstruction_grid(args.model, args.data, args.n, args.seed, args.out)
    print(f"wrote {path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from radiolatent.generative import sample_grid

    temperatures = [float(t) for t in args.temperatures.split(",")]
    path = sample_grid(args.model, args.n, temperatures, args.seed, args.out)
    print(f"wrote {path}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from radiolatent.codes import write_codes
    from radiolatent.data.pools import build_pool
    from radiolatent.distributed import in_turns, process_group
    from radiolatent.embedding import FLOORS, embed

    specs = [s.strip() for s in args.data.split(",") if s.strip()]
    # Under torchrun each process encodes its share of every set's batches and rank 0
    # writes the one table (embedding.batched).
    with process_group(args.device) as (where, device):
        default_batch = EmbedConfig.batch_size if device.type == "cpu" else GPU_EMBED_BATCH
        config = EmbedConfig(batch_size=args.batch_size or default_batch, dihedral_average=not args.single_view,
                             device=device.type)
        if where.world > 1 and ("pool" in specs or args.model in FLOORS):
            in_turns(lambda: build_pool(pool_config(args), progress=where.main))  # one builder at a time
        table = embed(args.model, specs, config, pool_config(args), progress=where.main)
        if where.main:
            path = write_codes(table, args.out)
            print(f"wrote {path}: {len(table)} rows, sets " + ", ".join(table["set"].unique()))
    return 0
