"""The machinery every config shares: cache hashes, rebuilding from JSON, command-line
overrides, and the checks run whenever a config is built.

Every config class derives from `Settings`: building one (directly, with
`dataclasses.replace`, `override` or `dataclass_from_dict`) refuses an option string
outside its field's `Literal` type, in one line naming the field, the value and the
choices. `check_config` adds each area's range checks (registered in `CHECKS`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, TypeVar

from radiolatent.core.errors import SETTINGS, InputError, SettingError

T = TypeVar("T")

#: False while `override` / `dataclass_from_dict` build a config, so that they report
#: every problem at once, each with its full path (model.likelihood ...).
_CHECK_ON_BUILD = contextvars.ContextVar("_CHECK_ON_BUILD", default=True)


class Settings:
    """Base of every config dataclass: checks its Literal-typed options when built."""

    def __post_init__(self) -> None:
        if _CHECK_ON_BUILD.get():
            _raise_problems(self, literal_problems(self))


#: field metadata of a setting that changes how fast a result comes, never the result
#: (a count of worker processes): `config_hash` leaves it out, so changing it reuses caches.
SPEED_ONLY = types.MappingProxyType({"speed_only": True})


def config_hash(*objs: Any) -> str:
    """Short stable hash of dataclass configs (and plain values), for cache keys; fields
    marked SPEED_ONLY are left out."""
    text = json.dumps([_hashed(o) for o in objs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hashed(value: Any) -> Any:
    """`dataclasses.asdict`, recursively, without SPEED_ONLY fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.name: _hashed(getattr(value, f.name)) for f in fields if not f.metadata.get("speed_only")}
    if isinstance(value, (list, tuple)):
        return [_hashed(v) for v in value]
    if isinstance(value, dict):
        return {k: _hashed(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def _checks_deferred() -> Iterator[None]:
    token = _CHECK_ON_BUILD.set(False)
    try:
        yield
    finally:
        _CHECK_ON_BUILD.reset(token)


def dataclass_from_dict(cls: type[T], data: object) -> T:
    """Rebuild a (nested) config dataclass from `dataclasses.asdict` output (e.g. JSON).

    Unknown keys raise ValueError, so a config from another version is not silently
    misread; missing keys take their defaults; lists become tuples where the field is a
    tuple. Every setting is then checked (`check_config`). `data` is whatever JSON gave:
    anything but a mapping raises ValueError.
    """
    with _checks_deferred():
        obj = _from_dict(cls, data)
    return check_config(obj)


def _from_dict(cls: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    hints = _hints(cls)
    values = {name: _value_from_json(hints[name], value) for name, value in data.items()}
    return cls(**values)


def _value_from_json(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _from_dict(hint, value)
    if isinstance(value, list):
        # tuple[X, ...] or tuple[X, Y]: inner lists become tuples too (tuple[tuple[str, ...], ...])
        args = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
        inner = args[0] if args else Any
        return tuple(_value_from_json(inner, v) for v in value)
    return value


def override(config: T, assignments: list[str]) -> T:
    """Apply "section.field=value" (or "field=value") strings to a frozen config.

    Values are parsed as the field's type, so `train.epochs=20` or
    `model.aux_weight=1` work from the command line.
    """
    with _checks_deferred():
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"override {item!r}: expected name=value")
            config = _set_path(config, key.strip().split("."), raw.strip(), item)
    return check_config(config)


def _set_path(obj: Any, path: list[str], raw: str, item: str) -> Any:
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ValueError(f"override {item!r}: {type(obj).__name__} has no settings inside")
    names = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in names:
        raise ValueError(f"override {item!r}: no setting {path[0]!r} (choose from {sorted(names)})")
    current = getattr(obj, path[0])
    if len(path) > 1:
        value = _set_path(current, path[1:], raw, item)
    else:
        value = _parse_like(current, _hints(type(obj))[path[0]], raw, item)
    return dataclasses.replace(obj, **{path[0]: value})


def _parse_like(current: Any, hint: Any, raw: str, item: str) -> Any:
    """`raw` read as the field's type (its current value's type, or its annotation when
    the value is None)."""
    if raw.lower() == "none" and type(None) in typing.get_args(hint):
        return None
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(current, tuple):
            return tuple(type(current[0])(v) for v in raw.split(",")) if current else tuple(raw.split(","))
        if current is None:
            kinds = [a for a in typing.get_args(hint) if a is not type(None)]
            if str in kinds or any(typing.get_origin(a) is Literal for a in kinds):
                return raw
            return json.loads(raw)
        if dataclasses.is_dataclass(current):
            raise ValueError(raw)
        return type(current)(raw)
    except (ValueError, TypeError, json.JSONDecodeError):
        kind = "None" if current is None else type(current).__name__
        raise ValueError(f"override {item!r}: cannot read {raw!r} as {kind}") from None


# ---------------------------------------------------------------------------
# Validation: every setting is checked when a config is built from the command line
# (`override`) or from a saved file (`dataclass_from_dict`), so a bad value is refused in
# one line before any work (e.g. train.epochs=-3).
# ---------------------------------------------------------------------------

#: widest channel count accepted in VDVAEConfig.widths: the paper's widest is 256; a typo
#: such as 64:100000 would otherwise allocate gigabytes before anything else is checked.
MAX_VDVAE_WIDTH = 4096
#: largest image side (pixels) a model config may ask for.
MAX_IMAGE_SIZE = 1024
#: most threads a config may ask for: more than any machine has cores, and a typo such as
#: threads=100000 would otherwise start that many.
MAX_THREADS = 1024


def check_config(config: T) -> T:
    """Return `config` if every setting in it (nested configs included) is valid; else
    raise InputError naming the config and every bad setting."""
    problems: list[str] = []
    _walk_problems(config, "", problems)
    _raise_problems(config, problems)
    return config


def _raise_problems(config: Any, problems: list[str]) -> None:
    if problems:
        from radiolatent.core.errors import InputError  # local: errors imports nothing from here

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
    return literal_problems(obj) + (check(obj) if check else [])


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class (cached: configs are built often)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def choices(hint: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal type (or of `Literal[...] | None`, None included)."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [choices(a) if a is not type(None) else (None,) for a in typing.get_args(hint)]
        if all(p is not None for p in parts):
            return tuple(v for p in parts if p is not None for v in p)
    return None


def literal_problems(obj: Any) -> list[str]:
    """One message per field (or tuple item) of `obj` outside its Literal type."""
    problems = []
    for f in dataclasses.fields(obj):
        hint = _hints(type(obj))[f.name]
        value = getattr(obj, f.name)
        allowed = choices(hint)
        if allowed is not None:
            if value not in allowed:
                problems.append(f"{f.name} must be one of {list(allowed)} (got {value!r})")
            continue
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
            allowed = choices(args[0])
            bad = [v for v in value if v not in allowed] if allowed is not None and isinstance(value, tuple) else []
            if allowed is not None and bad:
                problems.append(f"{f.name} must hold only {list(allowed)} (got {bad[0]!r})")
    return problems


class _Problems(list[str]):
    """Collects "setting: requirement" messages."""

    def need(self, ok: bool, setting: str, requirement: str, value: Any = None) -> None:
        if not ok:
            self.append(f"{setting} {requirement}" + ("" if value is None else f" (got {value!r})"))

    def finite(self, obj: Any) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                self.append(f"{f.name} must be finite (got {value!r})")


#: the configs `check_config` knows how to check, each with its own settings' checks
#: (each area's module adds its own); Literal options are checked for every config.
CHECKS: dict[type, Callable[[Any], list[str]]] = {}


def check_presets(*presets: Any) -> None:
    """Check named presets and defaults at import, so a bad one fails on `import radiolatent.config`."""
    for preset in presets:
        check_config(preset)


def with_given(config: T, values: Mapping[str, Any]) -> T:
    """`config` with each of `values` ({field: value}) that is not None in its field's
    place, each checked: a value the settings refuse is a SettingError naming its field.
    None leaves the field as configured (an argument or a flag that was not given)."""
    for name, value in values.items():
        if value is not None:
            try:
                config = check_config(dataclasses.replace(config, **{name: value}))  # type: ignore[type-var]
            except InputError as exc:
                raise SettingError(name, exc.problem) from None
    return config


@contextlib.contextmanager
def settings_checked() -> Iterator[None]:
    """Around a preset lookup and its NAME=VALUE overrides: an unknown name or a bad value
    becomes a SettingError naming the settings (`--config/--set` on the command line)."""
    try:
        yield
    except SettingError:
        raise
    except InputError as exc:  # a value a setting's own check refuses
        raise SettingError(SETTINGS, str(exc)) from None
    except (KeyError, ValueError) as exc:
        raise SettingError(SETTINGS, str(exc).strip("'\"")) from None
