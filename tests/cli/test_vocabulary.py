"""One vocabulary (docs/cli.md): every command's options are the ones the page lists, a
command with settings takes --config and --set, and renamed options keep their old
spelling for a release, with a warning."""

import argparse
import re
from pathlib import Path

import pytest

from radiolatent.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, its visible option strings) for every command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        for name, sub in subs[0].choices.items():
            yield from commands(sub, (*prefix, name))
        return
    visible = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS and a.dest != "help"]
    yield " ".join(prefix), {", ".join(a.option_strings) for a in visible}


def test_the_cli_page_lists_every_command_with_exactly_its_options():
    page = (ROOT / "docs" / "cli.md").read_text()
    listed = {
        m.group(1): set(re.findall(r"`([^`]+)`", m.group(2)))
        for m in re.finditer(r"^\| `([a-z -]+)` \| (.*) \|$", page, flags=re.M)
    }
    for command, options in commands(build_parser()):
        assert listed.get(command) == options, f"docs/cli.md is out of date for `{command}`"


def test_every_command_with_a_config_takes_set():
    for command, options in commands(build_parser()):
        if "--config" in options:
            assert "--set" in options, f"`{command}` has --config but no --set"


@pytest.mark.parametrize(
    "old, new",
    [
        (["reproduce", "--profile", "quick"], ["reproduce", "--config", "quick"]),
        (["density", "fit", "--codes", "c", "--on", "mbc"], ["density", "fit", "--codes", "c", "--in", "mbc"]),
        (
            ["density", "score", "--codes", "c", "--model", "m", "--sets", "mbc"],
            ["density", "score", "--codes", "c", "--model", "m", "--in", "mbc"],
        ),
        (
            ["density", "plot", "--scores", "s", "--codes", "c", "--set", "nvss"],
            ["density", "plot", "--scores", "s", "--codes", "c", "--gallery", "nvss"],
        ),
        (["knn", "--codes", "c", "--set", "nvss"], ["knn", "--codes", "c", "--in", "nvss"]),
        (["train", "byol", "--train-on", "mbc", "--out", "o"], ["train", "byol", "--train", "mbc", "--out", "o"]),
        (
            ["train", "supervised", "--data", "mbc:train", "--out", "o"],
            ["train", "supervised", "--train", "mbc:train", "--out", "o"],
        ),
        (
            ["train", "finetune", "--label-file", "l", "--out", "o"],
            ["train", "finetune", "--labels", "l", "--out", "o"],
        ),
        (["cut-study", "--model", "byol", "--out", "o"], ["cut-study", "--method", "byol", "--out", "o"]),
    ],
)
def test_an_old_spelling_parses_as_the_new_one_and_says_so(old, new, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    was, now = vars(parser.parse_args(old)), vars(parser.parse_args(new))
    assert was == now
    assert "is the old spelling of" in capsys.readouterr().err


def test_finetunes_old_labels_count_is_read_as_n_labels(capsys, tmp_path, monkeypatch):
    """`train finetune --labels 145` meant 145 labels before --labels became a label file."""
    monkeypatch.chdir(tmp_path)
    code = main(["train", "finetune", "--labels", "5000", "--config", "tiny", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert "--labels 5000 is the old spelling of --n-labels 5000" in err
    assert code == 2 and "--n-labels: 5000 is more than the 729 labelled rows" in err


def test_a_bad_setting_is_named_by_its_flag(capsys, tmp_path):
    code = main(["reproduce", "--config", "quick", "--set", "seeds=zero", "--out", str(tmp_path / "r")])
    assert code == 2 and "error: --config/--set: " in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
