"""argparse `type=` helpers: numbers and output paths are checked at parse time, so a bad
option is refused in one line (argparse's "error: argument -n: ...") before any work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from radiolatent.config import CLASSIFIER_NAMES, DEFAULT_CLASSIFY, ClassifierName
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import check_output


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, sizes, seeds to run)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (random seeds, optional counts where 0 means none)."""
    return _int_at_least(text, 0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_floats(text: str) -> list[float]:
    """A comma-separated list of finite numbers > 0 (e.g. temperatures)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return [positive_float(item) for item in items]


def finite_float(text: str) -> float:
    """Any finite number (not nan or inf)."""
    return _float(text)


def port(text: str) -> int:
    """A TCP port, 1..65535."""
    value = _int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port 1..65535, got {text}")
    return value


class OutputPath(str):
    """An output option's value: the path, with the form it is written in ("csv", "png",
    "parquet", "jsonl", "json", or "dir" for a folder), for the output policy that
    `cli.main` applies before the command runs (fileio.claim_outputs)."""

    form: str


def output_file(text: str) -> str:
    """A file to write: not a folder, and its folder exists or can be made. Its form is
    what its name says (use `output_of` where the command writes one form)."""
    return _output(text, "file", Path(text).suffix.lstrip(".").lower() or "file")


def output_dir(text: str) -> str:
    """A folder to write into: not a file, and it exists or can be made."""
    return _output(text, "dir", "dir")


def is_output_type(parse: object) -> bool:
    """Whether an option's `type=` makes it an output (output_file, output_dir, output_of)."""
    return parse in _OUTPUT_TYPES


def output_of(form: str) -> Callable[[str], str]:
    """A `type=` for a file written in `form` whatever its name (a CSV named x.parquet
    is still a CSV, and may not replace a codes table)."""

    def parse(text: str) -> str:
        return _output(text, "file", form)

    parse.__name__ = f"{form} file"  # argparse names the type in its messages
    _OUTPUT_TYPES.add(parse)
    return parse


_OUTPUT_TYPES: set[object] = {output_file, output_dir}


def _output(text: str, kind: str, form: str) -> str:
    try:
        check_output(text, kind)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    value = OutputPath(text)
    value.form = form
    return value


def _int_at_least(text: str, low: int) -> int:
    value = _int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def add_rows_arguments(p: argparse.ArgumentParser, default: str, what: str, required: bool = True) -> None:
    """--codes (a codes table) and --in (which of its rows), shared by the commands on codes."""
    p.add_argument("--codes", required=required, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--in", dest="in_spec", default=default, metavar="SPEC", help=f"{what} (default {default})")


def codes_rows(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the codes table of --codes, its rows chosen by --in)."""
    from radiolatent.data.codes import read_codes, select

    table = read_codes(args.codes)
    return table, select(table, args.in_spec)


def classifier_list(text: str) -> list[ClassifierName]:
    """--classifiers: a comma-separated subset of [A]'s six."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLASSIFIER_NAMES]
    if unknown or not names:
        raise InputError("--classifiers", f"unknown {unknown} (choose from {','.join(CLASSIFIER_NAMES)})")
    return [cast(ClassifierName, name) for name in names]


def add_classifier_arguments(p: argparse.ArgumentParser, classifiers_help: str, from_settings: bool = False) -> None:
    """--classifiers, --standardise and --block, shared by the commands that fit [A]'s
    classifiers. `from_settings`: the first two set fields of the command's ClassifyConfig
    (`settings`), so they default to None (the config's value unless given)."""
    p.add_argument(
        "--classifiers", default=None if from_settings else ",".join(CLASSIFIER_NAMES), help=classifiers_help
    )
    p.add_argument(
        "--standardise",
        action=argparse.BooleanOptionalAction,
        default=None if from_settings else DEFAULT_CLASSIFY.standardise,
        help="StandardScaler fitted on the training rows (default off, as in [A]; on for tiny-magnitude features)",
    )
    p.add_argument("--block", default="z", help="code block to use (default z; e.g. l3 for l3_000..)")


def options(args: argparse.Namespace, *names: str) -> dict:
    """The named options of a parsed command line as keyword arguments of the same names."""
    return {name: getattr(args, name) for name in names}


def add_settings_arguments(
    p: argparse.ArgumentParser, kind: str, default: str, what: str, example: str = "seeds=3"
) -> None:
    """--config NAME (a preset of `kind`) and --set NAME=VALUE (repeatable): every command
    that has settings takes both (docs/cli.md); `settings(args, kind)` reads them.
    `example`: a NAME=VALUE of `kind` for --set's help."""
    from radiolatent.config import PRESETS

    names = ", ".join(sorted(PRESETS[kind]))
    p.add_argument("--config", default=default, metavar="NAME", help=f"{what}: one of {names} (default {default})")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"change one setting of the config, e.g. --set {example} (repeatable; docs/defaults.md lists them)",
    )


def settings(args: argparse.Namespace, kind: str, given: Mapping[str, Any] | None = None) -> Any:
    """The settings of `--config NAME --set NAME=VALUE ...`, then `given`: the command's own
    flags for single settings ({field: the flag's value}), each applied unless None (a
    flag's default), so a flag given wins over --set. Every setting is checked: a bad
    --config or --set is a SettingError naming them, a flag's value the settings refuse a
    SettingError naming that setting."""
    from radiolatent.config import configured, with_given

    return with_given(configured(kind, args.config, args.set), given or {})


def was_set(args: argparse.Namespace, name: str) -> bool:
    """Whether `--set NAME=...` names the setting `name`."""
    return any(item.partition("=")[0].strip() == name for item in args.set)


class _Deprecated(argparse.Action):
    """An old spelling of an option: stores to the new option's place, and says so."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        print(f"warning: {option} is the old spelling of {self.new}; it goes in the next release", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept `old` for one more release as `new` (stored in `dest`), hidden from --help."""
    p.add_argument(
        old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs
    )
