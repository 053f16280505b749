"""One-line errors that name the setting to change: by its argument name in Python, by its
flag on the command line (radiolatent.core.errors)."""

from radiolatent.cli import main
from radiolatent.core.errors import InputError, flag, flags_in


def test_a_setting_named_in_a_problem_reads_as_the_argument_in_python_and_the_flag_on_the_command_line():
    exc = InputError("run{1}", "pass {resume} to continue it or {overwrite} to replace it", ("resume", "overwrite"))
    assert str(exc) == "run{1}: pass `resume` to continue it or `overwrite` to replace it"
    assert exc.spelled(flag) == "pass --resume to continue it or --overwrite to replace it"


def test_a_full_folder_is_refused_naming_the_flag_that_would_write_into_it(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert main(["train", "vdvae", "--config", "tiny", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pass --overwrite to write into it" in err and "`" not in err.split(";")[-1]
    assert len(err.splitlines()) == 1
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_warnings_and_log_lines_name_settings_in_backticks_and_the_command_line_shows_flags():
    assert flags_in("skipped 2 files that are partial cutouts (`keep_partial` keeps them)") == (
        "skipped 2 files that are partial cutouts (--keep-partial keeps them)"
    )
    assert flags_in("run `radiolatent density fit` first") == "run `radiolatent density fit` first"
