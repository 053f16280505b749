"""The `radiolatent` command. Each command group lives in its own module with a
`register(subparsers)` function; handlers are thin wrappers over the Python API."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import warnings

from radiolatent.cli import outputs
from radiolatent.core import __version__
from radiolatent.core.errors import InputError, flag, flags_in
from radiolatent.core.fileio import write_failure

#: command-group modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "radiolatent.cli.data",
    "radiolatent.cli.train",
    "radiolatent.cli.embed",
    "radiolatent.cli.reconstruct",
    "radiolatent.cli.generate",
    "radiolatent.cli.classify",
    "radiolatent.cli.knn",
    "radiolatent.cli.predict",
    "radiolatent.cli.search",
    "radiolatent.cli.duplicates",
    "radiolatent.cli.map",
    "radiolatent.cli.importance",
    "radiolatent.cli.cluster",
    "radiolatent.cli.density",
    "radiolatent.cli.anomaly",
    "radiolatent.cli.explore",
    "radiolatent.cli.reproduce",
    "radiolatent.cli.cut_study",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiolatent",
        description="Learn latent representations of radio galaxy images and put them to work.",
    )
    parser.add_argument("--version", action="version", version=f"radiolatent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    outputs.name_commands(parser)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach a user as one line, "warning: <file>: <problem>", not as source code,
    with the settings they name written as flags."""
    print(f"warning: {flags_in(str(message))}", file=file or sys.stderr)


class _FlagsFormatter(logging.Formatter):
    """-v's lines: the library's message, with the settings it names written as flags."""

    def format(self, record: logging.LogRecord) -> str:
        return flags_in(super().format(record))


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (argparse printed why)
        return exc.code if isinstance(exc.code, int) else 0
    with _verbose(getattr(args, "verbose", False)):
        try:
            return outputs.run_claimed(args)
        except InputError as exc:  # a SettingError names the flag that sets it
            print(f"error: {exc.line(flag)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except OSError as exc:  # a full disk or a read-only place: the user's to fix, in one line
            problem = write_failure(exc)
            if problem is None:
                raise
            print(f"error: {problem}", file=sys.stderr)
            return 2


@contextlib.contextmanager
def _verbose(on: bool):
    """-v: the library's per-file notes (e.g. each skipped file) as plain lines on stderr,
    for this command only (main may run many commands in one process, as the tests do)."""
    if not on:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FlagsFormatter("%(message)s"))
    library = logging.getLogger("radiolatent")
    level = library.level
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(level)
