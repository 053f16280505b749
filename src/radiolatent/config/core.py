"""The machinery every config shares: cache hashes, rebuilding from JSON, command-line
overrides, and the checks run whenever a config is built."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Callable
from typing import Any


def config_hash(*objs: Any) -> str:
    """Short stable hash of dataclass configs (and plain values), for cache keys."""
    payload = [dataclasses.asdict(o) if dataclasses.is_dataclass(o) else o for o in objs]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataclass_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output (e.g. JSON).

    Unknown keys raise ValueError, so a config from another version is not silently
    misread; lists become tuples where the field is a tuple.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    import typing  # local: only this helper needs resolved annotations

    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = dataclass_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    obj = cls(**values)
    _raise_problems(obj, _own_problems(obj))
    return obj


def override(config: Any, assignments: list[str]) -> Any:
    """Apply "section.field=value" (or "field=value") strings to a frozen config.

    Values are parsed as the field's current type, so `train.epochs=20` or
    `model.aux_weight=1` work from the command line.
    """
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r}: expected name=value")
        config = _set_path(config, key.strip().split("."), raw.strip(), item)
    return check_config(config)


def _set_path(obj: Any, path: list[str], raw: str, item: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in names:
        raise ValueError(f"override {item!r}: no setting {path[0]!r} (choose from {sorted(names)})")
    current = getattr(obj, path[0])
    if len(path) > 1:
        value = _set_path(current, path[1:], raw, item)
    else:
        value = _parse_like(current, raw, item)
    return dataclasses.replace(obj, **{path[0]: value})


def _parse_like(current: Any, raw: str, item: str) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(type(current[0])(v) for v in raw.split(",")) if current else tuple(raw.split(","))
        if current is None:
            return None if raw.lower() == "none" else json.loads(raw)
        return type(current)(raw)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValueError(f"override {item!r}: cannot read {raw!r} as {type(current).__name__}") from None


# ---------------------------------------------------------------------------
# Validation: every setting of the model and training configs is checked when a config
# is built from the command line (`override`) or from a saved file (`dataclass_from_dict`),
# so a bad value is refused in one line before any work (e.g. train.epochs=-3).
# ---------------------------------------------------------------------------

#: widest channel count accepted in VDVAEConfig.widths: the paper's widest is 256; a typo
#: such as 64:100000 would otherwise allocate gigabytes before anything else is checked.
MAX_VDVAE_WIDTH = 4096
#: largest image side (pixels) a model config may ask for.
MAX_IMAGE_SIZE = 1024


def check_config(config: Any) -> Any:
    """Return `config` if every setting in it (nested configs included) is valid; else
    raise InputError naming the config and every bad setting."""
    problems = []
    _walk_problems(config, "", problems)
    _raise_problems(config, problems)
    return config


def _raise_problems(config: Any, problems: list[str]) -> None:
    if problems:
        from radiolatent.errors import InputError  # local: errors imports nothing from here

        name = getattr(config, "name", None)
        source = f"config {name!r}" if isinstance(name, str) else type(config).__name__
        raise InputError(source, "; ".join(problems))


def _walk_problems(obj: Any, prefix: str, problems: list[str]) -> None:
    problems.extend(f"{prefix}{p}" for p in _own_problems(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            _walk_problems(value, f"{prefix}{f.name}.", problems)


def _own_problems(obj: Any) -> list[str]:
    check = CHECKS.get(type(obj))
    return check(obj) if check else []


class _Problems(list):
    """Collects "setting: requirement" messages."""

    def need(self, ok: bool, setting: str, requirement: str, value: Any = None) -> None:
        if not ok:
            self.append(f"{setting} {requirement}" + ("" if value is None else f" (got {value!r})"))

    def finite(self, obj: Any) -> None:
        import math

        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                self.append(f"{f.name} must be finite (got {value!r})")


#: the configs `check_config` knows how to check, each with its own settings' checks
#: (each area's module adds its own).
CHECKS: dict[type, Callable[[Any], list[str]]] = {}
