"""The checkpoints shipped with the package, and model folders by name or path."""

from __future__ import annotations

from pathlib import Path

from radiolatent.core.errors import InputError
from radiolatent.models.checkpoint import MODEL_JSON

#: checkpoints shipped with the package, one folder each (vdvae-cpu, simclr-cpu, byol-cpu, simsiam-cpu, ...).
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: the VDVAE trained with the `cpu` config on the default pool, seed 0: the default encoder.
SHIPPED_MODEL = WEIGHTS_DIR / "vdvae-cpu"


def shipped_models() -> dict[str, Path]:
    """The shipped checkpoints by folder name ('byol-cpu' -> its folder)."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(WEIGHTS_DIR.iterdir()) if (p / MODEL_JSON).is_file()}


def model_path(model: str, also: tuple[str, ...] = ()) -> Path:
    """The folder of a trained model given as a path (run or model folder) or a shipped name;
    `also` names the other choices the caller accepts (the floors), for the error."""
    path = Path(model)
    if not path.exists() and model in shipped_models():
        path = shipped_models()[model]
    if not path.exists():
        names = ", ".join(also + tuple(shipped_models()))
        raise InputError(model, f"no such model: give a trained run folder or one of {names}")
    return path
