"""One error type for bad input, so the CLI can print it as a single line."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input: names the file (or object) and the problem in one line."""

    def __init__(self, source: str | Path | None, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


#: the source of a SettingError about a named config and its NAME=VALUE overrides.
SETTINGS = "settings"


class SettingError(InputError):
    """A bad setting: `source` is its name in the library ('encoder', 'labels'; `SETTINGS`
    for a named config with its overrides). The command line shows it as the flag that
    sets it (`--encoder`, `--config/--set`); the Python API as the argument's name."""
