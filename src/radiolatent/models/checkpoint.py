"""Saving and loading models and training states, atomically.

A saved state is a pair: tensors in a safetensors file whose name carries the first
characters of its SHA-256, and a JSON file (config, counters, the non-tensor parts of
optimiser / scheduler states) that names that tensor file and its full hash. The tensor
file is written first and the JSON last, each to a temporary file renamed into place, so
at every moment the JSON points at a complete tensor file; a crash mid-save leaves the
previous pair usable. Loading checks the hash, so a garbled or swapped file is refused
with an `InputError` naming it instead of being half-read.

A model directory (what `load_model` reads) holds `config.json` + `weights-*.safetensors`;
its `kind` says what to build: a VDVAE, the ResNet backbone of an SSL method, or a
fine-tuned classifier (models/classifier.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from radiolatent.config import SSL_METHODS, SSLModelConfig, VDVAEConfig, dataclass_from_dict
from radiolatent.config.finetune import ClassifierConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path, folder_command, folder_entries, write_text

#: bump when the layout of saved files changes.
FORMAT_VERSION = 1
MODEL_JSON = "config.json"
MODEL_STEM = "weights"
#: the model directory inside a training run folder.
RUN_MODEL_DIR = "model"
#: model kinds `load_model` can build: the VDVAE, the SSL methods' backbones, a fine-tuned classifier.
CLASSIFIER_KIND = "classifier"
MODEL_KINDS = ("vdvae", *SSL_METHODS, CLASSIFIER_KIND)


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Move every tensor of a nested state (dicts, lists, scalars) into `tensors` and
    return a JSON-able skeleton pointing at them. Dict keys keep their type (optimiser
    states are keyed by int), so `unflatten_state` gives back an equal structure."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    return obj


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `flatten_state`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__tuple__" in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_pair(
    directory: str | Path, json_name: str, stem: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write tensors then the JSON that names them (see the module docstring).

    Tensor files of the same stem that the new JSON no longer names are removed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / f".{stem}.staging.safetensors"
    with atomic_path(staging) as tmp:
        save_file(tensors, str(tmp))
    digest = _sha256(staging)
    tensor_name = f"{stem}-{digest[:16]}.safetensors"
    staging.replace(directory / tensor_name)
    body = dict(meta, format_version=FORMAT_VERSION, tensors_file=tensor_name, sha256=digest)
    write_text(directory / json_name, json.dumps(body, indent=2, allow_nan=True))
    for old in directory.glob(f"{stem}-*.safetensors"):
        if old.name != tensor_name:
            old.unlink(missing_ok=True)
    return directory / json_name


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from `path`, or InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object")
    return data


def load_pair(directory: str | Path, json_name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a pair written by `save_pair`; InputError names the bad file."""
    directory = Path(directory)
    json_path = directory / json_name
    meta = read_json(json_path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(json_path, f"unknown format version {meta.get('format_version')!r}")
    name = meta.get("tensors_file")
    if not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".safetensors"):
        raise InputError(json_path, "names no valid tensors file")
    tensor_path = directory / name
    if not tensor_path.is_file():
        raise InputError(tensor_path, "file not found")
    if _sha256(tensor_path) != meta.get("sha256"):
        raise InputError(tensor_path, "checksum mismatch (garbled or replaced file)")
    try:
        tensors = load_file(str(tensor_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(tensor_path, f"not a readable safetensors file ({exc})") from None
    return meta, tensors


def save_model(
    directory: str | Path,
    model: torch.nn.Module,
    kind: str = "vdvae",
    extra: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Save a model's config and weights into `directory` (atomically).

    `half` stores conv and linear weights (tensors of 2+ dimensions) as float16, halving
    the file; norm parameters and buffers stay float32. `load_model` casts them back.
    """
    tensors = {k: _stored(v, half) for k, v in model.state_dict().items()}
    cfg = model.cfg
    if not isinstance(cfg, (VDVAEConfig, SSLModelConfig, ClassifierConfig)):
        raise TypeError(f"{type(model).__name__} carries no model config (.cfg) to save")
    meta = {"kind": kind, "config": dataclasses.asdict(cfg), **(extra or {})}
    save_pair(directory, MODEL_JSON, MODEL_STEM, tensors, meta)
    return Path(directory)


def _stored(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    tensor = tensor.detach().cpu().contiguous().clone()
    if half and tensor.dtype == torch.float32 and tensor.ndim >= 2:
        return tensor.half()
    return tensor


def check_run_folder(path: str | Path, resume: bool, overwrite: bool) -> Path:
    """Refuse to start a new run in a folder that already holds something.

    A new run rewrites metrics.csv from its header and replaces the model and checkpoint
    after its first epoch, so training into a finished run would silently destroy it:
    the caller must say --resume (continue it) or --overwrite (replace it).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "is a file; expected a run folder")
    if resume or overwrite or not path.is_dir() or _unfinished_own_run(path):
        return path
    entries = folder_entries(path)  # the mark `radiolatent train` leaves is not a run
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise InputError(
            path,
            f"run folder is not empty ({shown}); pass {{resume}} to continue it or {{overwrite}} to replace it",
            ("resume", "overwrite"),
        )
    return path


def _unfinished_own_run(path: Path) -> bool:
    """A run `radiolatent train` started that never finished an epoch (a batch too large,
    a full disk): it holds nothing to lose, so a new run may start there."""
    finished = (path / "checkpoint" / "state.json").is_file() or (path / RUN_MODEL_DIR).exists()
    return (folder_command(path) or "").startswith("train") and not finished


def model_dir(path: str | Path) -> Path:
    """The model directory of `path`: itself, or the `model/` folder of a training run."""
    path = Path(path)
    if not (path / MODEL_JSON).is_file() and (path / RUN_MODEL_DIR / MODEL_JSON).is_file():
        return path / RUN_MODEL_DIR
    return path


def model_kind(path: str | Path) -> str:
    """The kind of the model saved in `path` ('vdvae', 'simclr', 'byol', 'simsiam', 'classifier')."""
    json_path = model_dir(path) / MODEL_JSON
    kind = read_json(json_path).get("kind")
    if kind not in MODEL_KINDS:
        raise InputError(json_path, f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
    return str(kind)


# Any, not nn.Module: each caller knows the kind it loads and calls that class's methods.
def load_model(path: str | Path) -> Any:
    """The model saved in `path` (a model directory, or a training run folder holding
    one), in eval mode on CPU: a VDVAE, an SSL method's ResNet backbone or a fine-tuned
    classifier. Unknown
    kinds, bad configs and garbled or mismatched weight files raise InputError naming the file."""
    path = model_dir(path)
    json_path = path / MODEL_JSON
    kind = model_kind(path)
    meta, tensors = load_pair(path, MODEL_JSON)
    tensor_path = path / meta["tensors_file"]
    # The network is first laid out on the meta device (shapes only, no memory), so a
    # config edited to ask for a huge network is refused before anything is allocated.
    try:
        with torch.device("meta"):
            layout = _build(kind, meta.get("config"))
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(json_path, f"bad model config ({exc})") from None
    check_shapes(layout.state_dict(), tensors, tensor_path)
    model = _build(kind, meta.get("config"))
    try:
        # float16-stored weights are cast to the model's float32 by load_state_dict.
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(path / meta["tensors_file"], f"weights do not fit the config ({first})") from None
    return model.eval()


def check_shapes(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], source: Path) -> None:
    """InputError unless `tensors` has exactly the names and shapes of `expected`."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    parts = ([f"{len(missing)} tensors missing (e.g. {missing[0]})"] if missing else []) + (
        [f"{len(extra)} not in the config (e.g. {extra[0]})"] if extra else []
    )
    if parts:
        raise InputError(source, f"weights do not fit the config ({'; '.join(parts)})")
    for name, want in expected.items():
        if tuple(tensors[name].shape) != tuple(want.shape):
            raise InputError(
                source,
                f"weights do not fit the config ({name} is {tuple(tensors[name].shape)}, "
                f"the config needs {tuple(want.shape)})",
            )


def _build(kind: str, config: Any) -> torch.nn.Module:
    # Imported here: the model modules import config only, and loading one kind
    # should not pay for the other.
    if kind == "vdvae":
        from radiolatent.models.vdvae import VDVAE

        return VDVAE(dataclass_from_dict(VDVAEConfig, config))
    if kind == CLASSIFIER_KIND:
        from radiolatent.models.classifier import Classifier

        return Classifier(dataclass_from_dict(ClassifierConfig, config))
    from radiolatent.models.ssl import ResNetBackbone

    cfg = dataclass_from_dict(SSLModelConfig, config)
    if cfg.method != kind:
        raise ValueError(f"kind {kind!r} but config.method {cfg.method!r}")
    return ResNetBackbone(cfg)
