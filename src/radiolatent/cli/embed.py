"""`radiolatent embed`: encode datasets into a codes table."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.cli.data import add_pool_arguments, pool_config
from radiolatent.cli.train import add_device_argument
from radiolatent.config import EmbedConfig

DEFAULT_SETS = "mbc,frdeep-n,pool"
#: images per forward pass on a GPU: large batches keep it busy (memory is no issue at 64x64).
GPU_EMBED_BATCH = 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("embed", help="encode datasets into a codes table (parquet)")
    p.add_argument(
        "--model",
        default=None,
        help="a trained run folder (VDVAE, SimCLR, BYOL or SimSiam: told apart by the "
        "checkpoint), a shipped checkpoint (vdvae-cpu, simclr-cpu, byol-cpu, simsiam-cpu), "
        "or a no-learning floor: pixels-pca, random-conv (default: the shipped VDVAE)",
    )
    p.add_argument("--data", default=DEFAULT_SETS, help=f"comma-separated dataset specs (default {DEFAULT_SETS})")
    p.add_argument("--out", type=argtypes.output_of("parquet"), required=True, help="codes table to write (.parquet)")
    argtypes.add_settings_arguments(p, "embed", "default", "the encoding settings", "threads=1")
    p.add_argument(
        "--batch-size",
        type=argtypes.positive_int,
        default=None,
        help=f"images per forward pass (default {EmbedConfig.batch_size} on a CPU, {GPU_EMBED_BATCH} on a GPU, "
        "unless --set batch_size=...)",
    )
    add_device_argument(p, "run the encoder")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default=None,
        help="the learned encoders' arithmetic on the CPU: fp32 (default), bf16, or auto (bf16 for "
        "the SSL backbones where the CPU computes it natively, else fp32)",
    )
    add_pool_arguments(p)
    p.add_argument(
        "--single-view",
        action="store_true",
        help="encode each image once, as the paper did (default: average the codes "
        "over the 8 flips and quarter turns; the model id gets '+d8')",
    )
    # --device, --precision and --single-view set the config's fields: unless given, --config/--set's
    p.set_defaults(handler=cmd_embed, device=None)


def cmd_embed(args: argparse.Namespace) -> int:
    from radiolatent import api
    from radiolatent.core.distributed import in_turns, process_group
    from radiolatent.core.errors import InputError
    from radiolatent.data.codes import write_codes
    from radiolatent.data.pools import build_pool
    from radiolatent.embedding import FLOORS
    from radiolatent.explore.state import cache_folder, prepare_map

    specs = [s.strip() for s in args.data.split(",") if s.strip()]
    if not specs:
        raise InputError("--data", f"names no dataset (got {args.data!r}); e.g. --data {DEFAULT_SETS}")
    given = {
        "batch_size": args.batch_size,
        "device": args.device,
        "precision": args.precision,
        "dihedral_average": False if args.single_view else None,
    }
    config = argtypes.settings(args, "embed", given=given)
    # Under torchrun each process encodes its share of every set's batches and rank 0
    # writes the one table (embedding.batched).
    with process_group(config.device) as (where, device):
        if where.world > 1 and ("pool" in specs or args.model in FLOORS):
            in_turns(lambda: build_pool(pool_config(args), progress=where.main))  # one builder at a time
        batch_given = args.batch_size is not None or argtypes.was_set(args, "batch_size")
        table = api.embed(
            specs,
            model=args.model,
            # a GPU's own batch unless one was asked for
            batch_size=None if batch_given or device.type == "cpu" else GPU_EMBED_BATCH,
            device="cuda" if device.type == "cuda" else "cpu",
            progress=where.main,
            pool_config=pool_config(args),
            config=config,
        )
        if where.main:
            path = write_codes(table, args.out)
            print(f"wrote {path}: {len(table)} rows, sets " + ", ".join(table["set"].unique()))
            if prepare_map(path, table, config.explorer_map_rows, log=print):
                print(f"wrote the explorer's map beside it ({cache_folder(path).name}/)")
    return 0
