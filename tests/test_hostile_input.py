"""The second hostile-input round (issue 30): what a careful but unlucky user meets.

Section by section, as the issue lists them: a user's file destroyed or taken over, a
file or request that could take the machine down, tracebacks and HTTP 500s, wrong
answers given silently, and read-only places beside the inputs. Each case runs the
command in-process (`radiolatent.cli.main`) or the explorer through FastAPI's
TestClient, and asserts the exit status (2, or an HTTP 4xx), one `error:` line naming the
file and the problem, and that nothing already there changed. The table-driven test at
the end tries every output option of every command against a foreign file and against
an input of the same command (docs/files.md, "Whose files may be replaced").
"""

from __future__ import annotations

import argparse
import errno
import gzip
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image
from synthetic import blobs
from test_bad_input import error_line, run, snapshot, tiny_codes

from radiolatent.cli import build_parser
from radiolatent.cli.argtypes import OutputPath, is_output_type
from radiolatent.config import FolderConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import FOLDER_MARK, is_own_file
from radiolatent.data.codes import write_codes
from radiolatent.data.image_file import read_cutout
from radiolatent.data.sources.folder import load_folder

FIRST_FITS = sorted((Path(__file__).parent / "data" / "first_fits").glob("*.fits"))
NOTES = b"my notes, keep them\n"  # a user's file: one line of text


@pytest.fixture
def codes(tmp_path) -> Path:
    return write_codes(tiny_codes(), tmp_path / "codes.parquet")


def _refused(capsys, *args, words=()) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2, (code, out, err)
    return error_line(err, *words)


# --- 1. a user's file is destroyed or taken over -------------------------------------------


def test_duplicates_refuses_to_write_its_csv_over_the_codes_it_reads(tmp_path, capsys, codes):
    before = snapshot(tmp_path)
    _refused(capsys, "duplicates", "--codes", codes, "--in", "frdeep-n", "--out", codes, words=[str(codes), "input"])
    assert snapshot(tmp_path) == before


def test_search_refuses_an_out_whose_csv_would_be_the_same_file(tmp_path, capsys, codes):
    out = tmp_path / "result.csv"
    _refused(
        capsys,
        "search",
        "--codes",
        codes,
        "--query",
        "frdeep-n-test-000",
        "--in",
        "frdeep-n",
        "--out",
        out,
        words=[str(out), "--out"],
    )
    assert not out.exists()


def test_anomaly_label_refuses_a_text_file_that_is_not_a_label_store(tmp_path, capsys, codes):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(NOTES)
    _refused(capsys, "anomaly", "label", "--codes", codes, "--in", "frdeep-n", "--labels", notes, words=[str(notes)])
    assert notes.read_bytes() == NOTES


def test_reproduce_refuses_a_folder_of_the_users_own_files(tmp_path, capsys):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<p>my page</p>")
    (folder / "photo.fits").write_bytes(b"SIMPLE")
    before = snapshot(folder)
    _refused(capsys, "reproduce", "--config", "quick", "--out", folder, words=[str(folder), "not empty", "--overwrite"])
    assert snapshot(folder) == before


def test_train_resume_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "my-fits"
    shutil.copytree(FIRST_FITS[0].parent, folder)
    before = snapshot(folder)
    _refused(capsys, "train", "vdvae", "--config", "tiny", "--resume", "--out", folder, words=[str(folder), "train"])
    assert snapshot(folder) == before


def test_a_batch_larger_than_the_data_is_refused_and_leaves_no_run_behind(tmp_path, capsys):
    out = tmp_path / "run"
    _refused(
        capsys,
        "train",
        "vdvae",
        "--config",
        "tiny",
        "--set",
        "train.batch_size=100000",
        "--out",
        out,
        words=["train.batch_size", "100000"],
    )
    assert not out.exists()  # so the rerun with a smaller batch is not refused as "not empty"


def test_reruns_over_own_outputs_work_and_overwrite_replaces_a_foreign_file(tmp_path, capsys, codes):
    out = tmp_path / "pairs.csv"
    for _ in range(2):
        code, _, err = run(capsys, "duplicates", "--codes", codes, "--in", "frdeep-n", "--out", out)
        assert code == 0, err
    out.write_bytes(NOTES)
    code, _, err = run(capsys, "duplicates", "--codes", codes, "--in", "frdeep-n", "--out", out, "--overwrite")
    assert code == 0 and out.read_bytes() != NOTES, err


# --- 2. a file or a request that could take the machine down --------------------------------


def _huge_fits(path: Path) -> Path:
    """A 5,760-byte FITS whose header declares 200,000 x 200,000 float pixels (149 GiB)."""
    header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 200_000), ("NAXIS2", 200_000)])
    path.write_bytes(header.tostring().encode() + b"\0" * 2880)
    return path


def _text_bscale_fits(path: Path) -> Path:
    hdu = fits.PrimaryHDU(blobs(1)[0].astype(np.float32))
    hdu.header["BSCALE"] = "abc"
    hdu.writeto(path, output_verify="ignore")
    return path


def _corrupt_gz_fits(path: Path) -> Path:
    data = bytearray(gzip.compress(FIRST_FITS[0].read_bytes()))
    data[200:260] = b"\xff" * 60  # the deflate stream breaks part-way
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d: _huge_fits(d / "huge.fits"), "max_image_pixels"),
        (lambda d: _text_bscale_fits(d / "bscale.fits"), "BSCALE"),
        (lambda d: _corrupt_gz_fits(d / "broken.fits.gz"), "not a readable FITS"),
    ],
    ids=["40-billion-pixels", "text-BSCALE", "corrupt-deflate"],
)
def test_a_hostile_fits_is_one_error_naming_it(tmp_path, capsys, make, problem):
    bad = make(tmp_path)
    with pytest.raises(InputError, match=problem):
        read_cutout(bad)
    code, _, err = run(capsys, "data", "show", f"folder@{tmp_path}", "--strict", "-o", tmp_path / "g.png")
    assert code == 2
    error_line(err, bad.name, problem)
    assert not (tmp_path / "g.png").exists()


def test_the_image_size_limit_is_a_setting():
    with pytest.raises(InputError, match="more than the limit of 4,096"):
        read_cutout(FIRST_FITS[0], FolderConfig(max_image_pixels=4096))


def test_a_vdvae_too_large_for_memory_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    import radiolatent.training.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * 2**30)  # a 2 GiB machine
    out = tmp_path / "run"
    widths = "model.widths=64:4096,16:4096,4:4096,1:4096"
    line = _refused(capsys, "train", "vdvae", "--config", "tiny", "--set", widths, "--out", out, words=["model.widths"])
    assert "GiB" in line and not out.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["generate", "--model", "vdvae-cpu", "-n", "100000000"], ["-n", "4096"]),
        (["generate", "--model", "vdvae-cpu", "--temperatures", "-1"], ["--temperatures", "> 0"]),
        (["generate", "--model", "vdvae-cpu", "--temperatures", "nan"], ["--temperatures", "finite"]),
        (["train", "vdvae", "--config", "tiny", "--set", "train.threads=100000", "--out", "run"], ["threads"]),
        (["density", "fit", "--codes", "CODES", "--set", "threads=100000"], ["threads"]),
    ],
    ids=["generate-1e8", "temperature-negative", "temperature-nan", "train-threads", "density-threads"],
)
def test_a_request_for_too_much_is_refused_before_any_work(tmp_path, capsys, monkeypatch, codes, args, words):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    _refused(capsys, *[codes if a == "CODES" else a for a in args], words=words)
    assert snapshot(tmp_path) == before


# --- 3. tracebacks instead of one line --------------------------------------------------------


def test_text_in_a_code_column_is_named(tmp_path, capsys):
    bad = tmp_path / "text.parquet"
    tiny_codes().assign(z001="high").to_parquet(bad, index=False)
    _refused(capsys, "classify", "--codes", bad, "--train", "frdeep-n", "--test", "frdeep-n", words=[str(bad), "z001"])


def test_an_image_pointer_that_names_a_text_file_is_named(tmp_path, capsys):
    notes = tmp_path / "notes.npy"
    notes.write_bytes(NOTES)
    table = tiny_codes()
    table.insert(2, "images", str(notes))
    table.insert(3, "image_row", np.arange(len(table)))
    bad = write_codes(table, tmp_path / "codes.parquet")
    out = tmp_path / "s.png"
    _refused(
        capsys,
        "search",
        "--codes",
        bad,
        "--query",
        "frdeep-n-test-000",
        "--in",
        "frdeep-n",
        "-o",
        out,
        words=[str(notes), "not an image array"],
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["knn", "--protocol", "b", "--train", "frdeep-n", "--test", "frdeep-n", "-k", "50"],
        ["knn", "--protocol", "c", "--in", "frdeep-n", "-k", "5"],
    ],
    ids=["k-above-train-set", "k-above-evaluated-split"],
)
def test_knn_with_k_above_the_codes_is_named(capsys, codes, args):
    _refused(capsys, args[0], "--codes", codes, *args[1:], words=["-k", "codes"])


def test_embed_with_no_dataset_is_named(tmp_path, capsys):
    _refused(capsys, "embed", "--data", "", "--out", tmp_path / "c.parquet", words=["--data", "no dataset"])


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_embedding_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    real_to_parquet = pd.DataFrame.to_parquet
    out = tmp_path / "codes.parquet"

    def half_then_full(self, path, *args, **kwargs):
        if not Path(path).name.startswith(f".{out.name}."):  # caches along the way are written
            return real_to_parquet(self, path, *args, **kwargs)
        Path(path).write_bytes(b"PAR1 half a table")
        _disk_full()

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_full)
    args = ["embed", "--model", "vdvae-cpu", "--data", "mbc:test", "--single-view", "--out", out]
    _refused(capsys, *args, words=[str(out), "No space left"])
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_drawing_a_grid_keeps_the_old_grid(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "grid.png"
    assert run(capsys, "data", "show", "mbc:test", "-n", 4, "-o", out)[0] == 0
    before = snapshot(tmp_path)
    monkeypatch.setattr(Figure, "savefig", _disk_full)
    _refused(capsys, "data", "show", "mbc:test", "-n", 4, "--seed", 1, "-o", out, words=[str(out), "No space left"])
    assert snapshot(tmp_path) == before


class _Pool:
    """A 40-image stand-in for the pool, so one epoch takes a second."""

    images = blobs(40, 0)

    def __len__(self) -> int:
        return len(self.images)


def test_a_full_disk_while_checkpointing_leaves_a_run_folder_a_rerun_accepts(tmp_path, capsys, monkeypatch):
    import radiolatent.data.pools as pools
    import radiolatent.models.checkpoint as checkpoint

    def half_then_full(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half a tensor file")
        _disk_full()

    monkeypatch.setattr(pools, "build_pool", lambda *a, **k: _Pool())
    monkeypatch.setattr(checkpoint, "save_file", half_then_full)
    out = tmp_path / "run"
    train = ["train", "vdvae", "--config", "tiny", "--set", "train.epochs=1", "--out", out]
    _refused(capsys, *train, words=["No space left"])
    assert not [p for p in out.rglob("*") if p.name.endswith((".part", ".safetensors"))]
    monkeypatch.undo()
    monkeypatch.setattr(pools, "build_pool", lambda *a, **k: _Pool())
    code, _, err = run(capsys, *train)  # not refused as "not empty": no epoch was finished
    assert code == 0, err


# --- 3b. the explorer: 4xx, short, never the body back ----------------------------------------


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    from explore_fixtures import FAST_ACTIVE, write_mbc_codes
    from fastapi.testclient import TestClient

    from radiolatent.explore.server import create_app

    folder = tmp_path_factory.mktemp("explore-hostile")
    app = create_app(write_mbc_codes(folder), folder / "labels.jsonl", active_config=FAST_ACTIVE, log=lambda m: None)
    return TestClient(app, base_url="http://127.0.0.1")


def test_the_explorer_refuses_a_huge_json_body_without_echoing_it(explorer):
    body = json.dumps({"id": "x" * 20_000_000, "score": 3})
    response = explorer.post("/api/labels", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and len(response.content) < 300
    long_id = explorer.post("/api/labels", json={"id": "y" * 5000, "score": 3})  # under the limit, invalid
    assert long_id.status_code == 422 and "yyyy" not in long_id.text and len(long_id.content) < 400


@pytest.mark.parametrize(
    "make", [_huge_fits, _text_bscale_fits, _corrupt_gz_fits], ids=["40-billion-pixels", "text-BSCALE", "corrupt-gz"]
)
def test_a_hostile_fits_upload_is_a_400(explorer, tmp_path, make):
    name = "query.fits.gz" if make is _corrupt_gz_fits else "query.fits"
    data = make(tmp_path / name).read_bytes()
    response = explorer.post("/api/search/upload", files={"file": (name, data, "application/fits")})
    assert response.status_code == 400 and name in response.json()["detail"], response.text


def test_a_read_only_label_file_is_refused_when_the_explorer_starts(tmp_path, capsys, monkeypatch, codes):
    import radiolatent.data.labels as store

    labels = tmp_path / "codes.labels.jsonl"
    labels.write_text("")
    real_access = store.os.access  # as root a chmod would not stop the appends
    monkeypatch.setattr(store.os, "access", lambda p, mode: False if Path(p) == labels else real_access(p, mode))
    _refused(capsys, "explore", "--codes", codes, "--no-browser", "--port", 1, words=[str(labels), "read-only"])


# --- 4. read-only places beside the inputs: caches fall back, with one warning ----------------


def test_a_search_index_that_cannot_be_saved_beside_the_codes_goes_to_the_cache(tmp_path, monkeypatch, codes):
    from radiolatent.downstream import code_index
    from radiolatent.downstream.search import search_table

    real_save = code_index.CodeIndex.save
    cache = tmp_path / "cache"
    monkeypatch.setenv("RADIOLATENT_CACHE", str(cache))

    def beside_is_read_only(self, path):
        if Path(path).parent == codes.parent:
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_save(self, path)

    monkeypatch.setattr(code_index.CodeIndex, "save", beside_is_read_only)
    table = tiny_codes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback that works needs no warning
        first, _ = search_table(table, "frdeep-n-test-000", "frdeep-n", k=3, codes_path=codes)
    assert len(list((cache / "indexes").glob("*.faiss"))) == 1
    monkeypatch.setattr(code_index.CodeIndex, "save", lambda self, path: _disk_full())  # nowhere to save
    with pytest.warns(UserWarning, match="search index not cached") as caught:
        again, _ = search_table(table, "frdeep-n-test-000", "frdeep-n", k=3, metric="cosine", codes_path=codes)
    assert len(caught) == 1 and first["id"].iloc[0] == again["id"].iloc[0]


def _inside(cache: Path, place) -> bool:
    return place is not None and Path(place).resolve().is_relative_to(cache.resolve())


def _refused_in(cache: Path, real):
    """tempfile.mkstemp / mkdtemp that refuse to create anything in `cache`."""

    def make(*args, dir=None, **kwargs):
        if _inside(cache, dir):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    return make


def test_a_read_only_empty_cache_directory_runs_without_caching(tmp_path, capsys, monkeypatch):
    import radiolatent.core.fileio as fileio

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("RADIOLATENT_CACHE", str(cache))
    # as root a chmod would not stop the writes: every way into the cache is refused instead
    for name in ("mkstemp", "mkdtemp"):
        monkeypatch.setattr(fileio.tempfile, name, _refused_in(cache, getattr(fileio.tempfile, name)))
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if _inside(cache, self) and self.resolve() != cache.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = tmp_path / "codes.parquet"
    code, _, err = run(capsys, "embed", "--model", "vdvae-cpu", "--data", "mbc:test", "--single-view", "--out", out)
    assert code == 0 and out.is_file(), err
    assert "Traceback" not in err and any(line.startswith("warning:") for line in err.splitlines())
    assert [p for p in cache.rglob("*") if p.is_file()] == []


# --- 5. wrong answers, silently ----------------------------------------------------------------


def _asymmetric() -> np.ndarray:
    image = np.zeros((48, 64), np.uint8)
    image[8:20, 4:40] = 255  # a bar in the upper left: any turn moves it
    image[30:44, 50:60] = 120
    return image


def test_a_picture_with_an_exif_orientation_is_read_upright(tmp_path):
    upright = _asymmetric()
    Image.fromarray(upright).save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored turned the other way
    Image.fromarray(np.rot90(upright, 1).copy()).save(tmp_path / "turned.png", exif=exif)
    straight = read_cutout(tmp_path / "upright.png", FolderConfig(pixel_scale_arcsec=1.8)).image
    turned = read_cutout(tmp_path / "turned.png", FolderConfig(pixel_scale_arcsec=1.8)).image
    np.testing.assert_array_equal(turned, straight)


def test_a_csv_catalogue_with_a_byte_order_mark_keeps_its_first_column(tmp_path):
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for i, source in enumerate(FIRST_FITS[:2]):
        shutil.copy(source, folder / f"src{i}.fits")
    text = "filename,label_name\nsrc0.fits,FRI\nsrc1.fits,FRII\n"
    (folder / "catalogue.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # as Excel writes UTF-8 CSVs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = load_folder(folder).meta
    assert sorted(meta["label_name"]) == ["FRI", "FRII"]


# --- 6. every output option of every command, against a foreign file and an input -------------


def _output_options() -> set[tuple[str, str]]:
    """(command, option) of every output option the parser declares."""
    found = set()

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
            elif action.option_strings and is_output_type(action.type):
                found.add((prefix, max(action.option_strings, key=len)))

    walk(build_parser(), "")
    return found


#: command line (OUT: the output under test; CODES: a codes table) and whether OUT is a folder
CASES = {
    ("data show", "--out"): (["data", "show", "mbc:test", "-o", "OUT"], False),
    ("data las", "--out"): (["data", "las", "-o", "OUT"], False),
    ("data cutouts", "--out"): (
        ["data", "cutouts", "--catalogue", "CODES", "--images", "x.fits", "--size", "60", "--out", "OUT"],
        True,
    ),
    ("train vdvae", "--out"): (["train", "vdvae", "--config", "tiny", "--out", "OUT"], True),
    ("train simclr", "--out"): (["train", "simclr", "--config", "tiny", "--out", "OUT"], True),
    ("train byol", "--out"): (["train", "byol", "--config", "tiny", "--out", "OUT"], True),
    ("train simsiam", "--out"): (["train", "simsiam", "--config", "tiny", "--out", "OUT"], True),
    ("train distil", "--out"): (["train", "distil", "--config", "tiny", "--out", "OUT"], True),
    ("train finetune", "--out"): (["train", "finetune", "--config", "tiny", "--n-labels", "40", "--out", "OUT"], True),
    ("train supervised", "--out"): (["train", "supervised", "--out", "OUT"], True),
    ("embed", "--out"): (["embed", "--model", "pixels-pca", "--data", "mbc:test", "--out", "OUT"], False),
    ("reconstruct", "--out"): (["reconstruct", "--model", "vdvae-cpu", "-o", "OUT"], False),
    ("generate", "--out"): (["generate", "--model", "vdvae-cpu", "-o", "OUT"], False),
    ("classify", "--out"): (
        ["classify", "--codes", "CODES", "--train", "frdeep-n", "--test", "frdeep-n", "--out", "OUT"],
        False,
    ),
    ("search", "--out"): (
        ["search", "--codes", "CODES", "--query", "frdeep-n-test-000", "--in", "frdeep-n", "-o", "OUT"],
        False,
    ),
    ("duplicates", "--out"): (["duplicates", "--codes", "CODES", "--in", "frdeep-n", "--out", "OUT"], False),
    ("map", "--out"): (["map", "--codes", "CODES", "--in", "frdeep-n", "-o", "OUT"], False),
    ("importance", "--out"): (["importance", "--codes", "CODES", "--in", "frdeep-n", "-o", "OUT"], False),
    ("cluster", "--out"): (["cluster", "--codes", "CODES", "-o", "OUT"], True),
    ("density fit", "--out"): (["density", "fit", "--codes", "CODES", "--in", "frdeep-n", "--out", "OUT"], True),
    ("density score", "--out"): (["density", "score", "--codes", "CODES", "--model", "m", "--out", "OUT"], False),
    ("density plot", "--out"): (["density", "plot", "--scores", "CODES", "--codes", "CODES", "--out", "OUT"], True),
    ("anomaly label", "--labels"): (["anomaly", "label", "--codes", "CODES", "--labels", "OUT"], False),
    ("anomaly label", "--thumbs"): (["anomaly", "label", "--codes", "CODES", "--thumbs", "OUT"], True),
    ("anomaly rank", "--out"): (["anomaly", "rank", "--codes", "CODES", "--out", "OUT"], False),
    ("anomaly benchmark", "--out"): (["anomaly", "benchmark", "--codes", "CODES", "--out", "OUT"], True),
    ("explore", "--labels"): (["explore", "--codes", "CODES", "--labels", "OUT", "--no-browser"], False),
    ("predict", "--out"): (["predict", "--codes", "CODES", "--train", "frdeep-n", "--out", "OUT"], False),
    ("reproduce", "--out"): (["reproduce", "--out", "OUT"], True),
    ("cut-study", "--out"): (["cut-study", "--method", "simclr", "--out", "OUT"], True),
}


def test_the_table_covers_every_output_option_of_every_command():
    assert _output_options() == set(CASES)


def _args(template: list[str], out: Path, codes: Path) -> list[str]:
    return [str(out) if a == "OUT" else str(codes) if a == "CODES" else a for a in template]


@pytest.mark.parametrize("case", sorted(CASES), ids=[" ".join(c) for c in sorted(CASES)])
def test_no_output_option_replaces_a_foreign_file(tmp_path, capsys, codes, case):
    template, is_dir = CASES[case]
    out = tmp_path / ("theirs" if is_dir else "theirs.out")
    if is_dir:
        out.mkdir()
        (out / "notes.txt").write_bytes(NOTES)
    else:
        out.write_bytes(NOTES)
    before = snapshot(tmp_path)
    _refused(capsys, *_args(template, out, codes), words=[str(out), "--overwrite"])
    assert snapshot(tmp_path) == before and not (out / FOLDER_MARK).exists()


@pytest.mark.parametrize("case", sorted(c for c in CASES if "CODES" in CASES[c][0]), ids=lambda c: " ".join(c))
def test_no_output_option_writes_over_an_input(tmp_path, capsys, codes, case):
    template, _ = CASES[case]
    before = snapshot(tmp_path)
    _refused(capsys, *_args(template, codes, codes), words=[str(codes)])
    assert snapshot(tmp_path) == before


def test_outputs_are_recognised_by_their_content(tmp_path):
    png = tmp_path / "a.png"
    Image.new("L", (4, 4)).save(png)  # a PNG, but not one of ours
    assert not is_own_file(png, "png")
    assert is_own_file(write_codes(tiny_codes(), tmp_path / "c.parquet"), "parquet")
    (tmp_path / "t.csv").write_text("id,score\na,1\n")
    assert is_own_file(tmp_path / "t.csv", "csv") and not is_own_file(tmp_path / "t.csv", "parquet")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    (tmp_path / "x.csv").write_bytes(buffer.getvalue())
    assert not is_own_file(tmp_path / "x.csv", "csv")
    assert isinstance(build_parser().parse_args(["data", "show", "mbc:test"]).out, OutputPath)
