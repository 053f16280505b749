"""Will a training run fit? The network is laid out and run once on PyTorch's meta device
(shapes only, no memory), so a config asking for tens of gigabytes (model.widths with
4096 channels at 64x64) is refused in one line before anything is allocated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from radiolatent.config import VDVAEConfig, VDVAERunConfig
from radiolatent.core.errors import SETTINGS, SettingError

#: float32 copies of every parameter while training: the weights, their gradients, Adam's
#: two moments and the EMA.
PARAMETER_COPIES = 5


def vdvae_training_bytes(model_config: VDVAEConfig, batch_size: int, image_size: int = 64) -> tuple[int, int]:
    """(parameters, bytes) of training a VDVAE: every parameter's copies, plus the output
    of every layer for one batch (what autograd keeps for the backward pass)."""
    from radiolatent.models.vdvae import VDVAE

    held = [0]

    def count(module: torch.nn.Module, inputs: Any, output: Any) -> None:
        for tensor in (
            output.values() if isinstance(output, dict) else (output if isinstance(output, tuple | list) else [output])
        ):
            if isinstance(tensor, torch.Tensor):
                held[0] += tensor.numel() * tensor.element_size()

    with torch.device("meta"):
        model = VDVAE(model_config)
        hooks = [m.register_forward_hook(count) for m in model.modules()]
        model(torch.zeros(batch_size, 1, image_size, image_size))
    for hook in hooks:
        hook.remove()
    params = sum(p.numel() for p in model.parameters())
    return params, params * 4 * PARAMETER_COPIES + held[0]


def available_bytes(device: torch.device) -> int:
    """Memory free for a run now: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_vdvae_fits(run: VDVAERunConfig, device: torch.device) -> None:
    """InputError naming the settings when training `run` would not fit in memory."""
    params, need = vdvae_training_bytes(run.model, run.train.batch_size)
    have = available_bytes(device)
    if need > have:
        raise SettingError(
            SETTINGS,
            f"config '{run.name}': a VDVAE of {params / 1e6:,.0f} M parameters (model.widths "
            f"{run.model.widths}) at train.batch_size {run.train.batch_size} needs about {need / 2**30:.1f} GiB "
            f"to train, more than the {have / 2**30:.1f} GiB free on this {device.type.upper()}",
        )
