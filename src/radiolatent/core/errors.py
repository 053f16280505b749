"""One error type for bad input, so the CLI can print it as a single line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path


class InputError(ValueError):
    """Bad input: names the file (or object) and the problem in one line.

    A problem that tells the user which setting to change names it as `{name}` and lists
    it in `settings`: the Python API shows it as the argument's name (`resume`), the
    command line as the flag that sets it (`--resume`; `spelled`)."""

    def __init__(self, source: str | Path | None, problem: str, settings: tuple[str, ...] = ()):
        self.source = str(source) if source is not None else None
        self.settings = settings
        self.template = problem
        self.problem = self.spelled(lambda name: f"`{name}`")
        super().__init__(f"{self.source}: {self.problem}" if self.source else self.problem)

    def spelled(self, name_of: Callable[[str], str]) -> str:
        """The problem with each setting it names written by `name_of` (its flag, its argument)."""
        text = self.template
        for name in self.settings:  # not str.format: file names in the text may hold braces
            text = text.replace("{" + name + "}", name_of(name))
        return text

    def line(self, name_of: Callable[[str], str]) -> str:
        """The error in one line, "source: problem", its settings written by `name_of`
        (`flag` on the command line and in the explorer)."""
        problem = self.spelled(name_of)
        return f"{self.source}: {problem}" if self.source else problem


#: the source of a SettingError about a named config and its NAME=VALUE overrides.
SETTINGS = "settings"


class SettingError(InputError):
    """A bad setting: `source` is its name in the library ('encoder', 'labels'; `SETTINGS`
    for a named config with its overrides). The command line shows it as the flag that
    sets it (`--encoder`, `--config/--set`); the Python API as the argument's name."""

    def line(self, name_of: Callable[[str], str]) -> str:
        """The error in one line, the setting it is about written by `name_of` too."""
        return f"{name_of(self.source or '')}: {self.spelled(name_of)}"


def flag(setting: str | None) -> str:
    """The command-line flag of a library setting's name: `labels` -> `--labels`, the
    named config with its overrides -> `--config/--set` (docs/cli.md). The CLI, and the
    explorer it starts, spell settings this way."""
    if setting == SETTINGS:
        return "--config/--set"
    return f"--{(setting or '').replace('_', '-')}"


#: a setting named in a library warning or log line: `name` (a lower-case identifier in backticks).
_NAMED_SETTING = re.compile(r"`([a-z][a-z0-9_]*)`")


def flags_in(text: str) -> str:
    """A library warning or log line as the command line shows it: each `setting` named in
    backticks written as its flag (`keep_partial` -> --keep-partial)."""
    return _NAMED_SETTING.sub(lambda match: flag(match.group(1)), text)
