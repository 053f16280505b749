"""The output policy, applied once for every command (docs/files.md, "Whose files may be
replaced"): `main` collects the command's outputs (the values of its output options,
`argtypes.OutputPath`, and the files it writes beside them) and its inputs (every other
option naming an existing path), has `fileio.claim_outputs` refuse what would destroy a
file, and marks each output folder as the command's own before the work starts."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from radiolatent.cli.argtypes import OutputPath, is_output_type
from radiolatent.core.fileio import FOLDER_MARK, Output, claim_outputs, folder_entries, mark_folder

#: set_defaults(outputs_beside=f): f(args) -> [(path, form)] for files written beside an output
Beside = Callable[[argparse.Namespace], list[tuple[Path, str]]]


def name_commands(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Give every command its full name (`command_path`, e.g. "density fit") and, where it
    writes anything, an --overwrite option, unless it defines its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                name_commands(sub, f"{prefix} {name}".strip())
    if not prefix or any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        return
    parser.set_defaults(command_path=prefix)
    writes = any(is_output_type(a.type) for a in parser._actions)
    if writes and "--overwrite" not in parser._option_string_actions:
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="replace an existing file or write into a folder that radiolatent did not write (docs/files.md)",
        )


def command_outputs(args: argparse.Namespace) -> list[Output]:
    """Every path the command will write, from its options and the files beside them."""
    found = [
        Output(Path(value), value.form, "--" + dest.replace("_", "-"))
        for dest, value in vars(args).items()
        if isinstance(value, OutputPath)
    ]
    beside: Beside | None = getattr(args, "outputs_beside", None)
    if beside is not None:
        option = found[0].option if found else "--out"
        found += [
            Output(Path(path), form, f"the {form.upper()} written beside {option}") for path, form in beside(args)
        ]
    return found


def command_inputs(args: argparse.Namespace) -> list[Path]:
    """Every existing path named by an option that is not an output: a file, or the path
    part of a spec such as folder@DIR, or one item of a comma-separated list."""
    found = []
    for value in vars(args).values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not isinstance(text, OutputPath):
                found += [Path(part) for part in _path_parts(text) if os.path.exists(part)]
    return found


def _path_parts(text: str) -> Iterator[str]:
    for item in text.split(","):
        item = item.strip()
        if item:
            yield item
            if "@" in item:
                yield item.split("@", 1)[1]


def run_claimed(args: argparse.Namespace) -> int:
    """Check the outputs, mark the output folders, run the command. A command that fails
    leaves no folder it made and no mark in a folder that was empty."""
    outputs = command_outputs(args)
    command = getattr(args, "command_path", args.command)
    claim_outputs(outputs, command_inputs(args), command, overwrite=getattr(args, "overwrite", False))
    folders = [out.path for out in outputs if out.is_dir]
    before = {path: (path.exists(), (path / FOLDER_MARK).exists(), folder_entries(path)) for path in folders}
    for path in folders:
        mark_folder(path, command)
    ok = False
    try:
        code = args.handler(args) or 0
        ok = code == 0
        return code
    finally:
        if not ok:
            _unmark(before)


def _unmark(before: dict[Path, tuple[bool, bool, list[str]]]) -> None:
    """After a failure that wrote nothing into a folder: take the mark back out, and the
    folder too if the command made it."""
    for path, (existed, marked, entries) in before.items():
        if path.is_dir() and not marked and folder_entries(path) == entries:
            (path / FOLDER_MARK).unlink(missing_ok=True)
            if not existed and not any(path.iterdir()):
                shutil.rmtree(path, ignore_errors=True)
