"""Processes and devices: one code path for torchrun (one machine or many) and `--world-size`.

torchrun starts one process per device and tells each where it stands through the
environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); `process_group`
joins them with `init_process_group("env://")`: NCCL on GPUs, gloo on CPUs. A process
not started by torchrun is rank 0 of 1 and joins nothing. `spawn` (behind
`--world-size` on one machine) sets the same variables in local processes, so both
launches run the same code.

`device("auto")` is this process's GPU (cuda:LOCAL_RANK) when CUDA is present, else
the CPU; it also calls `torch.cuda.set_device`, which NCCL's object collectives
(broadcast_object_list, all_gather_object, barrier) need to use the right GPU.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from radiolatent.core.errors import SettingError

#: what torchrun sets (and `spawn` sets) for every process it starts.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Place:
    """Where this process stands: its global rank, its rank on this machine, how many in all."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints progress."""
        return self.rank == 0


def launched() -> bool:
    """True in a process started by torchrun (or by `spawn`)."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def place() -> Place:
    """This process's place, from the environment (rank 0 of 1 outside torchrun)."""
    if not launched():
        return Place()
    return Place(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ["WORLD_SIZE"]))


def device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """'auto' (a GPU when CUDA is present, else the CPU), 'cpu', 'cuda' (this process's
    GPU: cuda:LOCAL_RANK) or 'cuda:N'. Selects the GPU for this process as a side effect."""
    local_rank = place().local_rank if local_rank is None else local_rank
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda" and not name.startswith("cuda:"):
        raise SettingError("device", f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        raise SettingError("device", f"{name} was asked for, but this machine has no usable CUDA device")
    chosen = torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)
    if chosen.index >= torch.cuda.device_count():
        raise SettingError(
            "device",
            f"{chosen} does not exist: this machine has {torch.cuda.device_count()} "
            "GPU(s); start at most that many processes per machine",
        )
    torch.cuda.set_device(chosen)
    return chosen


@contextmanager
def process_group(device_name: str = "auto", cpu_backend: str = "gloo") -> Iterator[tuple[Place, torch.device]]:
    """Join the process group torchrun described (nothing to join in a single process) and
    yield (this process's place, its device). A group already joined (by the CLI, before it
    built the pool) is used as it is and left for its owner to close."""
    where = place()
    dev = device(device_name, where.local_rank)
    owner = where.world > 1 and not dist.is_initialized()
    if owner:
        backend = "nccl" if dev.type == "cuda" else cpu_backend
        dist.init_process_group(backend, init_method="env://", rank=where.rank, world_size=where.world)
    finished = False
    try:
        yield where, dev
        finished = True
    finally:
        if owner:
            # A DDP reducer left in a reference cycle still holds the group: collect it now,
            # not at interpreter exit, where gloo's threads were once torn down late (rank 1
            # aborted with "terminate called without an active exception" after a finished
            # torchrun run in CI). After a success both ranks enter the teardown together;
            # after a failure the other ranks may never arrive, so no barrier then.
            gc.collect()
            if finished:
                dist.barrier()
            dist.destroy_process_group()


def active() -> bool:
    """True when this process is one of several joined in a process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if active():
        dist.barrier()


def in_turns(make: Callable):
    """`make()` on every process, rank 0 first, then the first process of each machine,
    then the rest: for work that fills a cache (the pool) which concurrent builders would
    corrupt. Later turns find the cache (shared storage) or build their machine's own."""
    if not active():
        return make()
    where = place()
    result = make() if where.rank == 0 else None
    dist.barrier()
    if where.rank != 0 and where.local_rank == 0:
        result = make()
    dist.barrier()
    if where.local_rank != 0:
        result = make()
    return result


def free_port() -> int:
    """A free TCP port on localhost for a one-machine rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(fn: Callable, world: int, *args) -> None:
    """Run `fn(*args)` in `world` local processes that see the environment torchrun would
    give them (`fn` and `args` must pickle: pass file paths, not large arrays)."""
    import torch.multiprocessing as mp

    mp.spawn(_spawned, args=(world, free_port(), fn, args), nprocs=world, join=True)


def _spawned(rank: int, world: int, port: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    fn(*args)


def gather_rows(part: list[Any], n_parts_total: int) -> list[Any]:
    """Every process's list of items (one per `n_parts_total` slot, None where another
    process has it) merged into one list on every process."""
    if not active():
        return part
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, part)
    return [next(p[i] for p in parts if p[i] is not None) for i in range(n_parts_total)]
