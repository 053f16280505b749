"""Bad input and interruptions, as a careful new user meets them (issue 18).

Each case runs the command (in-process through `radiolatent.cli.main`, or as a
subprocess where a signal is involved) and asserts the exit status, that the last line
of stderr is one `error:` line naming the file and the problem, that no traceback
reaches the user, and that nothing already written changed. Inputs are tiny.

Neighbouring suites hold the rest of the defences: data/test_archives.py (hostile and
truncated pickles in the archives), data/test_rgz.py and data/test_folder.py (RGZ batches and FITS files at the
library level), training/test_loop.py and training/recipes/test_ssl.py (resume equals an uninterrupted run),
downstream/test_labels.py (truncated label store), explore/test_server.py (path traversal, foreign
hosts, remote binding), test_reproduce.py (a rerun resumes the study).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from fixtures_rgz import py2_pickle, write_rgz_fixture

from radiolatent.cli import main
from radiolatent.config import META_COLUMNS, VDVAERunConfig, dataclass_from_dict, preset
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import atomic_path, check_output, write_text
from radiolatent.data.codes import make_codes_table, read_codes, write_codes
from radiolatent.models.checkpoint import check_run_folder, load_model

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "radiolatent" / "weights"
SRC = str(Path(__file__).resolve().parents[1] / "src")


# --- helpers ---------------------------------------------------------------------------


def run(capsys, *args) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `radiolatent ARGS` (argparse exits count too)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str, *words: str) -> str:
    """The one error line (argparse prints its usage above it); it holds every word."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines and "error:" in lines[-1], err
    assert not [line for line in lines[:-1] if "error" in line], err
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` with its bytes and mode: "nothing already written changed"."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def tiny_codes(n: int = 6, dim: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame(
        {
            "id": [f"frdeep-n-test-{i:03d}" for i in range(n)],
            "dataset": "frdeep-n",
            "split": "test",
            "label": [i % 2 for i in range(n)],
            "label_name": ["FRI", "FRII"] * (n // 2),
            "ra": np.linspace(120, 130, n),
            "dec": np.linspace(10, 20, n),
            "las_arcsec": np.nan,
            "redshift": np.nan,
            "survey": "NVSS",
            "pixel_scale_arcsec": 15.0,
        }
    )[list(META_COLUMNS)]
    return make_codes_table(meta, rng.normal(size=(n, dim)), "frdeep-n", "test-model")


@pytest.fixture
def codes(tmp_path) -> Path:
    return write_codes(tiny_codes(), tmp_path / "codes.parquet")


# --- 1. a new run never overwrites a finished one ---------------------------------------


@pytest.mark.parametrize("model", ["vdvae", "byol"])
def test_training_into_a_finished_run_is_refused(tmp_path, capsys, model):
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("epoch,loss\n1,10.0\n2,9.0\n")
    before = snapshot(run_dir)
    code, _, err = run(capsys, "train", model, "--config", "tiny", "--out", run_dir)
    assert code == 2
    error_line(err, str(run_dir), "not empty", "--resume", "--overwrite")
    assert snapshot(run_dir) == before


def test_run_folder_check_lets_resume_overwrite_and_new_folders_through(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "metrics.csv").write_text("epoch\n")
    assert check_run_folder(full, resume=True, overwrite=False) == full
    assert check_run_folder(full, resume=False, overwrite=True) == full
    empty = tmp_path / "empty"
    empty.mkdir()
    check_run_folder(empty, False, False)
    check_run_folder(tmp_path / "new", False, False)
    with pytest.raises(InputError, match="is a file"):
        check_run_folder(full / "metrics.csv", True, False)


# --- 2. an edited checkpoint config is checked before anything is allocated -------------


def _edited_checkpoint(tmp_path: Path, widths: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(WEIGHTS / "vdvae-cpu", folder)
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["widths"] = widths
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


def test_a_checkpoint_config_asking_for_a_huge_network_is_refused(tmp_path, capsys):
    folder = _edited_checkpoint(tmp_path, "64:100000,32:32,16:64,8:64,4:128")
    code, _, err = run(capsys, "generate", "--model", folder, "-n", 1, "-o", tmp_path / "samples.png")
    assert code == 2
    error_line(err, "config.json", "widths", "64:100000")
    assert not (tmp_path / "samples.png").exists()


def test_weights_that_do_not_fit_the_config_are_refused_before_the_network_is_built(tmp_path, monkeypatch):
    import radiolatent.models.checkpoint as checkpoint

    built = []
    real_build = checkpoint._build

    def spy(kind, config):
        module = real_build(kind, config)
        built.append(next(module.parameters()).device.type)
        return module

    monkeypatch.setattr(checkpoint, "_build", spy)
    # 4000 channels at 64x64 is within the sane range but is not what the weights hold
    folder = _edited_checkpoint(tmp_path, "64:4000,32:32,16:64,8:64,4:128")
    with pytest.raises(InputError, match=r"weights-.*safetensors: weights do not fit the config"):
        load_model(folder)
    assert built == ["meta"]  # laid out without memory, never built for real


# --- 3. every output path is checked before any work -------------------------------------


@pytest.mark.parametrize(
    "make_args, kind",
    [
        (lambda d, c: ["embed", "--model", "pixels-pca", "--data", "mbc:test", "--out", d], "file"),
        (lambda d, c: ["data", "show", "mbc:test", "-o", d], "file"),
        (lambda d, c: ["search", "--codes", c, "--query", "frdeep-n-test-000", "-o", d], "file"),
        (lambda d, c: ["duplicates", "--codes", c, "--in", "frdeep-n", "--out", d], "file"),
        (lambda d, c: ["map", "--codes", c, "--in", "frdeep-n", "-o", d], "file"),
        (lambda d, c: ["classify", "--codes", c, "--train", "frdeep-n", "--test", "frdeep-n", "--out", d], "file"),
        (lambda d, c: ["density", "score", "--codes", c, "--model", d, "--out", d], "file"),
        (lambda d, c: ["anomaly", "rank", "--codes", c, "--out", d], "file"),
        (lambda d, c: ["generate", "--model", "vdvae-cpu", "-o", d], "file"),
        (lambda f, c: ["train", "vdvae", "--config", "tiny", "--out", f], "dir"),
        (lambda f, c: ["reproduce", "--out", f], "dir"),
        (lambda f, c: ["density", "fit", "--codes", c, "--out", f], "dir"),
        (lambda f, c: ["cluster", "--codes", c, "-o", f], "dir"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, codes, make_args, kind):
    target = tmp_path / "existing"
    if kind == "file":
        target.mkdir()  # a folder where a file is wanted
    else:
        target.write_text("keep me")  # a file where a folder is wanted
    before = snapshot(tmp_path)
    code, out, err = run(capsys, *make_args(target, codes))
    assert code == 2 and out == ""
    error_line(err, str(target), "is a folder" if kind == "file" else "is a file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command, beside",
    [
        (["search", "--query", "frdeep-n-test-000", "--in", "frdeep-n", "-o", "grid.png"], "grid.csv"),
        (["importance", "--in", "frdeep-n", "-o", "imp.png"], "imp_pca.png"),
        (["map", "--in", "frdeep-n", "--method", "both", "-o", "map.png"], "map_umap.png"),
    ],
)
def test_a_file_written_beside_the_named_one_is_checked_too(tmp_path, capsys, monkeypatch, codes, command, beside):
    monkeypatch.chdir(tmp_path)
    (tmp_path / beside).mkdir()
    before = snapshot(tmp_path)
    code, _, err = run(capsys, command[0], "--codes", codes, *command[1:])
    assert code == 2
    error_line(err, beside, "is a folder")
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [beside, "codes.parquet"]
    )


def test_an_output_under_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(InputError, match="plain is a file, not a folder"):
        check_output(tmp_path / "plain" / "sub" / "out.png")
    assert check_output(tmp_path / "new" / "deeper" / "out.png") == tmp_path / "new" / "deeper" / "out.png"
    assert not (tmp_path / "new").exists()  # checking creates nothing


# --- 4. outputs get the user's umask; an overwritten file keeps its mode ------------------


def test_outputs_follow_the_umask_and_keep_the_mode_of_the_file_they_replace(tmp_path):
    old = os.umask(0o027)
    try:
        fresh = write_text(tmp_path / "fresh.txt", "a")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
        table = write_codes(tiny_codes(), tmp_path / "codes.parquet")
        assert stat.S_IMODE(table.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    shared = tmp_path / "index.html"
    shared.write_text("old")
    shared.chmod(0o644)
    write_text(shared, "new")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644 and shared.read_text() == "new"


# --- 5. every setting is validated when the config is built -------------------------------


@pytest.mark.parametrize(
    "model, setting, named",
    [
        ("vdvae", "train.epochs=-3", "train.epochs"),
        ("vdvae", "train.lr=nan", "train.lr"),
        ("vdvae", "model.widths=64:100000", "model.widths"),
        ("vdvae", "train.kl_schedule=sometimes", "train.kl_schedule"),
        ("byol", "train.epochs=0", "train.epochs"),
        ("byol", "views.blur_p=2", "views.blur_p"),
        ("simclr", "train.valid_fraction=1.5", "train.valid_fraction"),
    ],
)
def test_a_bad_setting_is_refused_before_any_work(tmp_path, capsys, model, setting, named):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", model, "--config", "tiny", "--set", setting, "--out", out)
    assert code == 2 and stdout == ""
    error_line(err, named)
    assert not out.exists()


def test_a_bad_density_setting_is_refused(tmp_path, capsys, codes):
    out = tmp_path / "maf"
    code, _, err = run(
        capsys, "density", "fit", "--codes", codes, "--in", "frdeep-n", "--set", "epochs=-1", "--out", out
    )
    assert code == 2
    error_line(err, "epochs must be at least 1")
    assert not out.exists()


def test_a_saved_config_with_a_bad_setting_is_refused():
    saved = dataclasses.asdict(preset("vdvae", "tiny"))
    saved["train"]["epochs"] = -3
    with pytest.raises(InputError, match="epochs must be at least 1"):
        dataclass_from_dict(VDVAERunConfig, saved)


# --- 6 and 10. numeric options are checked when the command line is read ------------------


@pytest.mark.parametrize(
    "args, option",
    [
        (["data", "show", "mbc:test", "-n", "-5"], "-n"),
        (["data", "show", "mbc:test", "-n", "three"], "-n"),
        (["data", "pool", "--min-las", "inf"], "--min-las"),  # an infinite angular-size cut
        (["data", "pool", "--min-las", "-1"], "--min-las"),
        (["embed", "--out", "x.parquet", "--batch-size", "0"], "--batch-size"),
        (["search", "--codes", "c.parquet", "--query", "q", "-k", "0"], "-k"),
        (["search", "--codes", "c.parquet", "--query", "q", "--pixel-scale", "nan"], "--pixel-scale"),
        (["classify", "--codes", "c.parquet", "--train", "a", "--test", "b", "--seeds", "0"], "--seeds"),
        (["explore", "--codes", "c.parquet", "--port", "70000"], "--port"),
        (["train", "vdvae", "--out", "run", "--world-size", "0"], "--world-size"),
        (["reproduce", "--seeds", "-2"], "--seeds"),
        (["density", "score", "--codes", "c", "--model", "m", "--temperature", "0"], "--temperature"),
    ],
)
def test_a_bad_number_is_refused_at_parse_time(tmp_path, capsys, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    error_line(err, f"argument {option}")
    assert list(tmp_path.iterdir()) == []


# --- 7. a query that looks like a file name but is no file --------------------------------


def test_a_missing_query_file_is_called_a_missing_file(tmp_path, capsys, codes):
    missing = tmp_path / "nonexistent.fits"
    code, _, err = run(capsys, "search", "--codes", codes, "--query", missing, "-o", tmp_path / "s.png")
    assert code == 2
    error_line(err, str(missing), "no such image file")
    code, _, err = run(
        capsys, "search", "--codes", codes, "--query", "no-such-id", "--in", "frdeep-n", "-o", tmp_path / "s.png"
    )
    assert code == 2 and "no-such-id" in error_line(err)  # a plain id is still looked up as an id
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "s.csv").exists()


# --- 8. the explorer announces its address only once it is listening ----------------------


def test_explore_on_a_port_in_use_says_so_and_announces_nothing(tmp_path, capsys, codes):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "explore", "--codes", codes, "--port", port, "--no-browser")
    assert code == 2
    error_line(err, f"127.0.0.1:{port}", "already in use")
    assert "explorer at" not in out


# --- 9. worker processes end with their parent --------------------------------------------


WORKER_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from joblib import delayed
    from radiolatent.core.workers import parallel

    def pid_after(seconds):
        time.sleep(seconds)
        return os.getpid()

    pids = sorted(set(parallel(2)(delayed(pid_after)(0.2) for _ in range(4))))
    print(" ".join(map(str, pids)), flush=True)
    if sys.argv[1] == "busy":
        parallel(2)(delayed(pid_after)(120) for _ in range(2))
    time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"  # a zombie has ended; only its exit status is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("mode", ["idle", "busy"])
def test_workers_end_when_their_parent_is_killed(tmp_path, mode):
    script = tmp_path / "workers.py"
    script.write_text(WORKER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=SRC)
    parent = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, env=env)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) >= 1
    if mode == "busy":
        time.sleep(1.0)  # let them start their two-minute tasks
    parent.kill()  # SIGKILL: no clean-up code runs in the parent
    parent.wait()
    deadline = time.monotonic() + 20  # generous on a loaded machine; they go in ~0.5 s
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


# --- 10. codes tables: not parquet, repeated ids, damaged ---------------------------------


def test_a_file_that_is_not_parquet_is_called_not_a_codes_table(tmp_path, capsys):
    notes = tmp_path / "notes.parquet"
    notes.write_text("id,z000\na,1\n")
    code, _, err = run(capsys, "classify", "--codes", notes, "--train", "a", "--test", "b")
    assert code == 2
    error_line(err, str(notes), "is not a parquet codes table")


def test_ids_repeated_within_a_set_are_warned_about_in_one_line(tmp_path, capsys):
    table = tiny_codes()
    doubled = write_codes(pd.concat([table, table.iloc[:2]], ignore_index=True), tmp_path / "twice.parquet")
    with pytest.warns(UserWarning, match="2 rows repeat an id within their set .*frdeep-n-test-000"):
        read_codes(doubled)
    code, _, err = run(capsys, "duplicates", "--codes", doubled, "--in", "frdeep-n", "--out", tmp_path / "d.csv")
    assert code == 0
    warnings = [line for line in err.splitlines() if "repeat an id" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and str(doubled) in warnings[0]


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda t: t.drop(columns=[c for c in t.columns if c.startswith("z")]), "no code columns"),
        (lambda t: t.assign(z001=np.where(np.arange(len(t)) == 3, np.nan, t["z001"])), "NaN/inf"),
        (lambda t: t.assign(z000=np.inf), "NaN/inf"),
        (lambda t: t.drop(columns=["label"]), "lacks columns ['label']"),
        (lambda t: t.iloc[:0], "no rows match"),
    ],
)
def test_a_damaged_codes_table_is_named_with_its_problem(tmp_path, capsys, damage, problem):
    path = tmp_path / "bad.parquet"
    damage(tiny_codes()).to_parquet(path, index=False)
    out = tmp_path / "table.csv"
    code, _, err = run(capsys, "classify", "--codes", path, "--train", "frdeep-n", "--test", "frdeep-n", "--out", out)
    assert code == 2
    error_line(err, str(path), problem)
    assert not out.exists()


# --- checkpoints and their configs ---------------------------------------------------------


@pytest.mark.parametrize(
    "damage, named, problem",
    [
        (lambda d: (d / "config.json").write_text("{"), "config.json", "not valid JSON"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "config.json", "expected a JSON object"),
        (lambda d: _flip_a_byte(next(d.glob("weights-*.safetensors"))), "safetensors", "checksum mismatch"),
        (lambda d: next(d.glob("weights-*.safetensors")).unlink(), "safetensors", "file not found"),
        (lambda d: _edit_json(d / "config.json", kind="moco"), "config.json", "unknown model kind"),
        (lambda d: _edit_json(d / "config.json", config={"widths": "64:32"}), "config.json", "bad model config"),
    ],
)
def test_a_corrupt_checkpoint_is_named_with_its_problem(tmp_path, capsys, damage, named, problem):
    folder = tmp_path / "model"
    shutil.copytree(WEIGHTS / "vdvae-cpu", folder)
    damage(folder)
    code, _, err = run(capsys, "generate", "--model", folder, "-n", 1, "-o", tmp_path / "samples.png")
    assert code == 2
    error_line(err, named, problem)
    assert not (tmp_path / "samples.png").exists()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_json(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


# --- pickled batches (RGZ DR1 folders): hostile, truncated, wrong structure ----------------


class _System:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


def _batch(folder: Path) -> dict:
    return pickle.loads((folder / "data_batch_1").read_bytes(), encoding="latin1")


@pytest.mark.parametrize(
    "write",
    [
        lambda f, m: (f / "data_batch_1").write_bytes(pickle.dumps({"data": _System(m)}, protocol=2)),
        lambda f, m: (f / "data_batch_1").write_bytes(pickle.dumps({"data": _Eval(m)}, protocol=2)),
        lambda f, m: (f / "data_batch_1").write_bytes((f / "data_batch_1").read_bytes()[:200]),
        lambda f, m: (f / "data_batch_1").write_bytes(b"not a pickle"),
        lambda f, m: (f / "data_batch_1").write_bytes(py2_pickle([1, 2, 3])),
        lambda f, m: (f / "data_batch_1").write_bytes(py2_pickle({k: v for k, v in _batch(f).items() if k != "data"})),
        lambda f, m: (f / "data_batch_1").write_bytes(py2_pickle(dict(_batch(f), data=np.zeros((2, 7), np.uint8)))),
    ],
    ids=["os.system", "eval", "truncated", "not-a-pickle", "a-list", "missing-key", "wrong-shape"],
)
def test_a_bad_pickled_batch_is_named_and_runs_nothing(tmp_path, capsys, write):
    folder = tmp_path / "rgz"
    write_rgz_fixture(folder, n_batches=1, per_batch=2)
    marker = tmp_path / "pwned"
    write(folder, marker)
    code, _, err = run(capsys, "data", "show", f"rgz-dr1@{folder}", "-o", tmp_path / "grid.png")
    assert code == 2
    error_line(err, "data_batch_1")
    assert not marker.exists() and not (tmp_path / "grid.png").exists()


# --- image folders: NaN/Inf, empty, constant, multi-plane, bombs, non-images ---------------------


def _blob(side: int = 48) -> np.ndarray:
    y, x = np.mgrid[:side, :side]
    return (np.exp(-((y - side / 2) ** 2 + (x - side / 2.5) ** 2) / 20.0) + 1e-3 * x).astype(np.float32)


def _bad_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fits.writeto(folder / "all_nan.fits", np.full((48, 48), np.nan, np.float32))
    fits.writeto(folder / "constant.fits", np.ones((48, 48), np.float32))
    fits.writeto(folder / "empty.fits", np.zeros((0, 0), np.float32))
    (folder / "notes.fits").write_text("not a FITS file")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (folder / "bomb.png").write_bytes(_png_header_only(30000, 30000))


def _png_header_only(width: int, height: int) -> bytes:
    """A decompression bomb as readers meet it: a PNG declaring width x height 8-bit
    grey pixels (900 M here), 60 bytes on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_a_folder_of_bad_images_is_one_error_naming_the_folder(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _bad_images(folder)
    before = snapshot(folder)
    code, _, err = run(capsys, "data", "show", f"folder@{folder}", "-o", tmp_path / "grid.png")
    assert code == 2
    error_line(err, str(folder))
    assert snapshot(folder) == before and not (tmp_path / "grid.png").exists()


def test_bad_images_beside_good_ones_are_skipped_with_a_one_line_warning(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _bad_images(folder)
    with_nan = _blob()
    with_nan[:3] = np.nan
    with_nan[5, 5] = np.inf
    fits.writeto(folder / "good.fits", _blob())
    fits.writeto(folder / "cube.fits", np.stack([_blob(), _blob()[::-1], _blob().T]))  # loaded or skipped
    fits.writeto(folder / "nan_edges.fits", with_nan)
    code, _out, err = run(capsys, "data", "show", f"folder@{folder}", "-n", 2, "-o", tmp_path / "grid.png")
    assert code == 0 and (tmp_path / "grid.png").is_file(), err
    assert "Traceback" not in err
    assert all(line.startswith("warning: ") for line in err.strip().splitlines()), err


# --- interrupted writes --------------------------------------------------------------------


WRITER_SCRIPT = textwrap.dedent("""
    import signal, sys, time
    from radiolatent.core.fileio import atomic_path

    # Ctrl+C raises KeyboardInterrupt, as at a terminal (a background job may inherit SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "w") as handle:
            handle.write("half of the new ")
            handle.flush()
            print("writing", flush=True)
            time.sleep(120)
            handle.write("content")
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary_file(tmp_path, sig):
    target = tmp_path / "result.csv"
    target.write_text("the old, complete file\n")
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=SRC)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(sig)
    writer.wait(timeout=60)
    assert target.read_text() == "the old, complete file\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    if sig == signal.SIGINT:
        assert leftovers == []  # the `finally` removed it
    else:
        # nothing can run in a SIGKILLed process: its temporary file stays until the
        # next write of the same file, which removes it
        assert len(leftovers) == 1
        write_text(target, "new\n")
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
        assert target.read_text() == "new\n"


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def fail_midway() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fail_midway()
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


# --- a killed training run resumes to the same weights -------------------------------------


TRAIN_SCRIPT = textwrap.dedent("""
    import dataclasses, os, signal, sys
    import torch
    sys.path.insert(0, sys.argv[2])
    from synthetic import blobs
    from radiolatent.config import preset
    from radiolatent.training import train_vdvae

    torch.set_num_threads(1)
    run = preset("vdvae", "tiny")
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=2))
    train_vdvae(blobs(40, 0), run, sys.argv[1], seed=0, progress=False, stop_after=1)
    os.kill(os.getpid(), signal.SIGKILL)  # dies after the first epoch's checkpoint, as kill -9 would
""")


@pytest.mark.slow
def test_a_killed_training_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    import torch
    from synthetic import blobs

    from radiolatent.config import preset
    from radiolatent.training import train_vdvae, weight_checksum

    torch.set_num_threads(1)
    run_config = preset("vdvae", "tiny")
    run_config = dataclasses.replace(run_config, train=dataclasses.replace(run_config.train, epochs=2))
    whole = train_vdvae(blobs(40, 0), run_config, tmp_path / "whole", seed=0, progress=False)

    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=SRC)
    killed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "killed"), str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = train_vdvae(blobs(40, 0), run_config, tmp_path / "killed", resume=True, seed=0, progress=False)
    assert resumed.epochs_completed == 2
    assert resumed.weight_checksums == whole.weight_checksums
    assert weight_checksum(load_model(tmp_path / "killed")) == weight_checksum(load_model(tmp_path / "whole"))
