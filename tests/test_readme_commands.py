"""Every `radiolatent` command the README prints parses as printed: no renamed or removed
flag, no value a flag refuses (the commands themselves are walked by hand; the Python
blocks run in tests/test_api.py)."""

import re
import shlex
from pathlib import Path

import pytest

from radiolatent.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ".venv/bin/radiolatent "


def readme_commands() -> list[str]:
    """The README's shell commands that run radiolatent: continuation lines joined,
    comments dropped, shell variables given the values the README sets."""
    blocks, block, language = [], [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            if language is None:
                language = line[3:].strip()
            else:
                blocks += ["\n".join(block)] if language in ("bash", "sh", "") else []
                block, language = [], None
        elif language is not None:
            block.append(line)
    commands, variables = [], {}
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if re.fullmatch(r"[A-Z]+=\S+", line):
                name, value = line.split("=", 1)
                variables[name] = value
            elif line.startswith(PROGRAM):
                for name, value in variables.items():
                    line = line.replace(f"${name}", value)
                commands.append(line[len(PROGRAM) :])
    return commands


def test_the_readme_prints_the_commands_of_every_task():
    first_words = {command.split()[0] for command in readme_commands()}
    assert {"data", "embed", "train", "classify", "predict", "search", "explore", "reproduce"} - first_words <= {
        "reproduce"  # the study is `make study` at the top
    }


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_parses_as_printed(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outputs a parser checks are looked for here, not in the clone
    argv = shlex.split(re.sub(r"\[[^]]*\]", "", command))  # [--option value] is optional
    build_parser().parse_args(argv)
