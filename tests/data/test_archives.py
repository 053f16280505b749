"""The shipped-archive loaders, the restricted unpickler and the dataset registry."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radiolatent.config import META_COLUMNS
from radiolatent.core.errors import InputError
from radiolatent.data import archives
from radiolatent.data.archives import ARCHIVE_MD5, archive_path, cache_dir, file_md5, iter_members, verify_md5
from radiolatent.data.registry import canonical_spec, list_datasets, load_dataset
from radiolatent.data.safepickle import load_pickle
from radiolatent.data.sources.first_galaxy import load_first_galaxy
from radiolatent.data.sources.frdeep import load_frdeep
from radiolatent.data.sources.frdeep import parse_filename as parse_frdeep
from radiolatent.data.sources.mirabest import load_mirabest
from radiolatent.data.sources.mirabest import parse_filename as parse_mirabest

FIRST_MB = "100_123.251+043.797_0.1281_0034.09"


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """Point the dataset cache at a temporary folder for the whole session."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADIOLATENT_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def shipped(cache):
    """Every shipped dataset, loaded once (cold, so the cache gets written)."""
    return {
        "mirabest": load_mirabest("all"),
        "frdeep-n": load_frdeep("frdeep-n"),
        "frdeep-f": load_frdeep("frdeep-f"),
        "first-galaxy": load_first_galaxy(),
    }


# --- small hand-made archives ---------------------------------------------------------


class _Hostile:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _mirabest_batch(filenames: list[str], codes: list[str]) -> bytes:
    label_of = {c: i for i, c in enumerate(("100", "102", "104", "110", "112", "200", "201", "210", "300", "310"))}
    data = [np.full((150, 150), i, dtype=np.uint8) for i in range(len(filenames))]
    batch = {
        "batch_label": "x",
        "labels": [label_of[c] for c in codes],
        "data": data,
        "filenames": [f"./MiraBest_F/PNG/Scaled_Final/{f}.png" for f in filenames],
    }
    return pickle.dumps(batch, protocol=3)


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _fake_mirabest(path: Path, batch: dict[str, bytes] | None = None) -> Path:
    """A MiraBest-format archive with one image per batch (names made unique per batch)."""
    names = [f"data_batch_{i}" for i in range(1, 8)] + ["test_batch"]
    members = {
        f"F_batches/{n}": _mirabest_batch([f"200_{10 + i:07.3f}+001.000_0.1000_0010.00"], ["200"])
        for i, n in enumerate(names)
    }
    members.update(batch or {})
    return _write_tar(path, members)


def _png(value: int, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (300, 300), (value,) * len(mode) if mode != "L" else value).save(buf, format="PNG")
    return buf.getvalue()


def _fake_galaxy_zip(path: Path, drop_all_copy: bool = False) -> Path:
    files = {
        "train/FRI/10.0_1.0_0_Gendre.png": _png(10),
        "valid/FRII/20.0_-2.5_1_MiraBest.png": _png(20, "RGB"),
        "test/Bent/30.5_3.0_3_Proctor_Tab1.png": _png(30),
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("galaxy_data/train/FRI/", b"")
        for name, data in files.items():
            zf.writestr(f"galaxy_data/{name}", data)
            copy = f"galaxy_data/all/{name.split('/', 1)[1]}"
            if not (drop_all_copy and "Bent" in name):
                zf.writestr(copy, data)
    return path


# --- counts and metadata ----------------------------------------------------------------


def test_mirabest_counts(shipped):
    meta = shipped["mirabest"].meta
    assert shipped["mirabest"].images.shape == (1256, 150, 150)
    counts = meta.groupby(["dataset", "split"]).size().to_dict()
    assert counts == {
        ("mirabest:confident", "train"): 729,
        ("mirabest:confident", "test"): 104,
        ("mirabest:uncertain", "train"): 340,
        ("mirabest:uncertain", "test"): 49,
        ("mirabest:hybrid", "train"): 30,
        ("mirabest:hybrid", "test"): 4,
    }
    mbc = load_mirabest("confident")
    assert set(mbc.meta["mb_code"]) == {"100", "102", "104", "200", "201"}
    assert set(mbc.meta["label"]) == {0, 1}
    assert set(load_mirabest("hybrid").meta["label_name"]) == {"hybrid"}


def test_mirabest_metadata_of_known_file(shipped):
    meta = shipped["mirabest"].meta.set_index("id")
    row = meta.loc[f"mirabest:{FIRST_MB}"]
    assert (row.ra, row.dec, row.redshift, row.las_arcsec) == (123.251, 43.797, 0.1281, 34.09)
    assert (row.label, row.label_name, row.dataset, row.split) == (0, "FRI", "mirabest:confident", "train")
    assert (row.mb_code, row.confidence, row.morphology) == ("100", "confident", "standard")
    assert (row.survey, row.pixel_scale_arcsec) == ("FIRST", 1.8)
    south = meta.loc["mirabest:100_010.451-009.284_0.0529_0080.60"]
    assert south.dec == -9.284
    assert meta["ra"].notna().all() and meta["redshift"].notna().all()


def test_mirabest_code_digits():
    assert parse_mirabest(f"./x/{FIRST_MB}.png", "src")["mb_code"] == "100"
    meta = load_mirabest("all").meta
    by_code = meta.drop_duplicates("mb_code").set_index("mb_code")
    assert by_code.loc["104", "morphology"] == "head-tail"
    assert by_code.loc["201", "morphology"] == "double-double"
    assert by_code.loc["112", "morphology"] == "wide-angle tail"
    assert by_code.loc["210", ["label_name", "confidence"]].tolist() == ["FRII", "uncertain"]
    with pytest.raises(InputError, match="not <code>"):
        parse_mirabest("100_123.251_0.1281.png", "src")
    with pytest.raises(InputError, match="unknown code 999"):
        parse_mirabest("999_123.251+043.797_0.1281_0034.09", "src")


@pytest.mark.parametrize("name,survey,scale", [("frdeep-n", "NVSS", 15.0), ("frdeep-f", "FIRST", 1.8)])
def test_frdeep_counts(shipped, name, survey, scale):
    ds = shipped[name]
    assert ds.images.shape == (600, 150, 150)
    assert ds.meta.groupby("split").size().to_dict() == {"train": 550, "test": 50}
    assert ds.meta["label"].value_counts().to_dict() == {1: 336, 0: 264}
    assert ds.meta["ra"].isna().all()
    assert set(ds.meta["survey"]) == {survey} and set(ds.meta["pixel_scale_arcsec"]) == {scale}
    assert ds.meta["id"].is_unique


def test_frdeep_names():
    assert parse_frdeep("42_FRICAT_FR1_.png", "s") == ("FRICAT", 42, 1)
    assert parse_frdeep("42_CoNFIG_FR1_example.png", "s") == ("CoNFIG", 42, 1)
    assert parse_frdeep("12a.png", "s") == ("", 12, None)
    assert parse_frdeep("37_example.png", "s") == ("", 37, None)
    with pytest.raises(InputError, match="catalogue row"):
        parse_frdeep("FRICAT_42.png", "s")
    meta = load_frdeep("frdeep-f").meta
    # the FIRST names repeat, so ids must not be the names
    assert meta["filename"].duplicated().sum() == 43
    first = meta.iloc[0]
    assert (first.id, first.catalogue, first.catalogue_row) == (
        "frdeep-f:data_batch_1:00:34_FRICAT_FR1_example",
        "FRICAT",
        34,
    )
    nvss = load_frdeep("frdeep-n").meta
    assert nvss["catalogue"].value_counts().to_dict() == {"": 336, "FRICAT": 214, "CoNFIG": 50}


def test_first_galaxy_counts_and_names(shipped):
    ds = shipped["first-galaxy"]
    meta = ds.meta
    assert ds.images.shape == (2158, 300, 300)
    assert meta["split"].value_counts().to_dict() == {"train": 1758, "valid": 200, "test": 200}
    assert meta["label_name"].value_counts().to_dict() == {"FRII": 924, "FRI": 495, "Compact": 391, "Bent": 348}
    assert (meta[meta.split != "train"].groupby(["split", "label"]).size() == 50).all()
    assert meta["catalogue"].value_counts().to_dict() == {
        "Gendre": 810,
        "MiraBest": 745,
        "Proctor_Tab1": 281,
        "Capetti2017a": 165,
        "Baldi2018": 108,
        "Capetti2017b": 49,
    }
    row = meta.set_index("id").loc["first-galaxy:15.652_-0.835_3_Proctor_Tab1"]
    assert (row.ra, row.dec, row.label, row.label_name, row.split) == (15.652, -0.835, 3, "Bent", "test")
    # pixels equal an independent decode of the same PNG
    with zipfile.ZipFile(archive_path("galaxy_data.zip")) as zf:
        raw = zf.read("galaxy_data/test/Bent/15.652_-0.835_3_Proctor_Tab1.png")
    index = int(np.flatnonzero(meta["id"] == "first-galaxy:15.652_-0.835_3_Proctor_Tab1")[0])
    assert np.array_equal(ds.images[index], np.asarray(Image.open(io.BytesIO(raw))))


def test_contract_columns_and_unique_ids(shipped):
    for ds in shipped.values():
        assert list(ds.meta.columns[: len(META_COLUMNS)]) == list(META_COLUMNS)
        assert ds.images.dtype == np.uint8
        assert ds.images.max() > 0
        assert ds.meta["label"].dtype == np.int64
    ids = pd.concat([ds.meta["id"] for ds in shipped.values()])
    assert len(ids) == 1256 + 600 + 600 + 2158
    assert ids.is_unique
    assert all(i.startswith(f"{name}:") for name, ds in shipped.items() for i in ds.meta["id"])


# --- cache ------------------------------------------------------------------------------


def test_cache_written_and_reused(shipped, cache):
    assert cache_dir() == cache
    md5 = ARCHIVE_MD5["MiraBest_F_batches.tar.gz"]
    stems = {p.stem for p in cache.iterdir()}
    assert any(s.startswith(f"mirabest-{md5}") for s in stems)
    assert any(s.startswith("first-galaxy-") for s in stems)
    warm = load_mirabest("all")
    assert isinstance(warm.images, np.memmap)
    assert np.array_equal(warm.images, shipped["mirabest"].images)
    pd.testing.assert_frame_equal(warm.meta, shipped["mirabest"].meta)


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RADIOLATENT_CACHE", str(tmp_path / "c"))
    archive = _fake_mirabest(tmp_path / "mb.tar.gz")
    first = load_mirabest("all", archive, verify=False)
    npy = next((tmp_path / "c").glob("*.npy"))
    npy.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = load_mirabest("all", archive, verify=False)
    assert np.array_equal(np.asarray(again.images), first.images)


def test_md5_computed_once(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert file_md5(path) == "900150983cd24fb0d6963f7d28e17f72"
    key = next(k for k in archives._MD5_MEMO if k[0] == str(path.resolve()))
    archives._MD5_MEMO[key] = "memoised"
    assert file_md5(path) == "memoised"
    path.write_bytes(b"abcd")  # changed size: hashed again
    assert file_md5(path) == "e2fc714c4727ee9395f324cd2e7f331f"


# --- bad input --------------------------------------------------------------------------


def test_safe_pickle_loads_numpy_but_refuses_code(tmp_path):
    good = {"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "n": np.int64(7), "names": ["a"]}
    for protocol in (3, 4):
        back = load_pickle(pickle.dumps(good, protocol=protocol), "good.pkl")
        assert np.array_equal(back["data"], good["data"]) and back["n"] == 7 and back["names"] == ["a"]
    marker = tmp_path / "pwned"
    hostile = pickle.dumps({"data": _Hostile(marker)}, protocol=2)
    with pytest.raises(InputError, match=r"hostile.pkl: pickle tries to construct (posix|os)\.system"):
        load_pickle(hostile, "hostile.pkl")
    assert not marker.exists()
    with pytest.raises(InputError, match=r"(builtins|__builtin__)\.eval"):
        load_pickle(pickle.dumps(_EvalPayload(), protocol=2), "e.pkl")
    with pytest.raises(InputError, match="corrupt or truncated pickle"):
        load_pickle(pickle.dumps(good, protocol=3)[:50], "short.pkl")
    with pytest.raises(InputError, match="corrupt or truncated pickle"):
        load_pickle(b"not a pickle at all", "junk.pkl")


class _EvalPayload:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_hostile_batch_in_archive(tmp_path):
    marker = tmp_path / "pwned"
    bad = pickle.dumps({"data": _Hostile(marker), "labels": [], "filenames": []}, protocol=2)
    archive = _fake_mirabest(tmp_path / "mb.tar.gz", {"F_batches/data_batch_3": bad})
    with pytest.raises(InputError, match="data_batch_3: pickle tries to construct"):
        load_mirabest("all", archive, verify=False)
    assert not marker.exists()


def test_duplicate_ids_rejected(tmp_path):
    same = _mirabest_batch(["200_100.000+001.000_0.1000_0010.00"], ["200"])
    archive = _fake_mirabest(tmp_path / "mb.tar.gz", {"F_batches/data_batch_1": same, "F_batches/test_batch": same})
    with pytest.raises(InputError, match=r"duplicate ids, e.g. 'mirabest:200_100.000"):
        load_mirabest("all", archive, verify=False)


def test_fake_archive_loads_and_label_mismatch(tmp_path, cache):
    ds = load_mirabest("all", _fake_mirabest(tmp_path / "ok.tar.gz"), verify=False)
    assert ds.meta["split"].value_counts().to_dict() == {"train": 7, "test": 1}
    wrong = _mirabest_batch(["100_100.000+001.000_0.1000_0010.00"], ["200"])  # code 100, label FRII
    archive = _fake_mirabest(tmp_path / "bad.tar.gz", {"F_batches/data_batch_2": wrong})
    with pytest.raises(InputError, match="disagrees with the code"):
        load_mirabest("all", archive, verify=False)
    missing = tmp_path / "missing.tar.gz"
    _write_tar(missing, {"F_batches/data_batch_1": same_batch()})
    with pytest.raises(InputError, match="lacks batch files"):
        load_mirabest("all", missing, verify=False)


def same_batch() -> bytes:
    return _mirabest_batch(["200_100.000+001.000_0.1000_0010.00"], ["200"])


def test_truncated_archives(tmp_path, cache):
    for name, loader in [
        ("MiraBest_F_batches.tar.gz", lambda p, v: load_mirabest("all", p, verify=v)),
        ("galaxy_data.zip", lambda p, v: load_first_galaxy(p, verify=v)),
    ]:
        data = archive_path(name).read_bytes()
        short = tmp_path / name
        short.write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match="MD5 mismatch"):
            loader(short, True)
        with pytest.raises(InputError, match=f"{short}: corrupt or truncated archive"):
            loader(short, False)
    with pytest.raises(InputError, match="corrupt or truncated archive"):
        list(iter_members(tmp_path / "MiraBest_F_batches.tar.gz"))


def test_wrong_checksum(tmp_path, cache):
    data = bytearray(archive_path("NVSS_PNG_dataset.tar.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped = tmp_path / "NVSS_PNG_dataset.tar.gz"
    flipped.write_bytes(bytes(data))
    expected = ARCHIVE_MD5["NVSS_PNG_dataset.tar.gz"]
    with pytest.raises(InputError) as err:
        verify_md5(flipped, expected)
    assert str(flipped) in str(err.value) and expected in str(err.value) and file_md5(flipped) in str(err.value)
    with pytest.raises(InputError, match="MD5 mismatch"):
        load_dataset("frdeep-n", path=flipped)
    shutil.copy(archive_path("NVSS_PNG_dataset.tar.gz"), tmp_path / "good.tar.gz")
    assert verify_md5(tmp_path / "good.tar.gz", expected) == expected


def test_first_galaxy_small_zip(tmp_path, cache):
    ds = load_first_galaxy(_fake_galaxy_zip(tmp_path / "g.zip"), verify=False)
    assert ds.meta["split"].tolist() == ["train", "valid", "test"]
    assert ds.meta["label_name"].tolist() == ["FRI", "FRII", "Bent"]
    assert ds.images[:, 0, 0].tolist() == [10, 20, 30]  # the RGB file converted to grey
    assert ds.meta.loc[1, ["ra", "dec", "catalogue"]].tolist() == [20.0, -2.5, "MiraBest"]
    with pytest.raises(InputError, match="3 images in train/valid/test but 2 in galaxy_data/all/"):
        load_first_galaxy(_fake_galaxy_zip(tmp_path / "h.zip", drop_all_copy=True), verify=False)


def test_archive_path_errors():
    with pytest.raises(InputError, match="not a shipped archive"):
        archive_path("nope.tar.gz")
    with pytest.raises(InputError, match="unsupported archive type"):
        list(iter_members(Path("x.rar")))


# --- registry ---------------------------------------------------------------------------


def test_canonical_specs():
    assert canonical_spec("mbc") == ("mirabest:confident", None)
    assert canonical_spec("MBC:test") == ("mirabest:confident", "test")
    assert canonical_spec("mb") == ("mirabest:all", None)
    assert canonical_spec("mirabest:train") == ("mirabest:all", "train")
    assert canonical_spec("mirabest:hybrid:test") == ("mirabest:hybrid", "test")
    assert canonical_spec("nvss:train") == ("frdeep-n", "train")
    assert canonical_spec("first-galaxy") == ("first-galaxy:all", None)
    assert canonical_spec("first-galaxy:all:valid") == ("first-galaxy:all", "valid")
    assert canonical_spec("rgz-dr1") == ("rgz-dr1", None)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("mirabst", "unknown dataset 'mirabst' .*mirabest.*mbc \\(= mirabest:confident\\)"),
        ("mirabest:sure", "neither a subset \\(all, confident, uncertain, hybrid\\) nor a split \\(train, test\\)"),
        ("mbc:valid", "mbc:valid: unknown split .valid. \\(choose from train, test\\)"),
        ("mirabest:confident:valid", "unknown split 'valid' \\(choose from train, test\\)"),
        ("mirabest:train:confident", "unknown subset 'train'"),
        ("frdeep-n:confident", "neither a subset \\(none\\)"),
        ("first-galaxy:all:train:x", "name\\[:subset\\]\\[:split\\]"),
    ],
)
def test_spec_errors(spec, message):
    with pytest.raises(InputError, match=message):
        canonical_spec(spec)


def test_load_dataset(shipped):
    mbc_test = load_dataset("mbc:test")
    assert (mbc_test.name, len(mbc_test)) == ("mirabest:confident:test", 104)
    assert len(load_dataset("nvss:train")) == 550
    assert len(load_dataset("first-galaxy:valid")) == 200
    assert len(load_dataset("frdeep-f", path=archive_path("FIRST_PNG_dataset.tar.gz"))) == 600
    with pytest.raises(InputError, match="unknown option\\(s\\) \\['colour'\\]"):
        load_dataset("mbc", colour=True)
    with pytest.raises(InputError, match="rgz-dr1 needs a path"):
        load_dataset("rgz-dr1")
    with pytest.raises(InputError, match="folder needs a path"):
        load_dataset("folder")


def test_list_datasets(shipped):
    table = list_datasets().set_index(["dataset", "subset"])
    assert table.loc[("mirabest", "confident"), ["train", "valid", "test", "total"]].tolist() == [729, 0, 104, 833]
    assert table.loc[("mirabest", "all"), "total"] == 1256
    assert table.loc[("frdeep-n", ""), ["train", "test", "survey", "pixel_scale_arcsec"]].tolist() == [
        550,
        50,
        "NVSS",
        15.0,
    ]
    assert table.loc[("first-galaxy", "all"), ["train", "valid", "test"]].tolist() == [1758, 200, 200]
    assert len(table) == 7


def test_python3_protocol2_batches_load():
    """Batches re-saved by Python 3 with protocol 2 rebuild bytes through _codecs.encode."""
    import pickle as std_pickle

    from radiolatent.data.safepickle import load_pickle

    batch = {"data": np.arange(12, dtype=np.uint8).reshape(2, 6), "labels": [0, 1], "filenames": ["a.png", "b.png"]}
    loaded = load_pickle(std_pickle.dumps(batch, protocol=2), "batch")
    assert np.array_equal(loaded["data"], batch["data"]) and loaded["filenames"] == ["a.png", "b.png"]


def test_codecs_encode_with_another_codec_is_refused():
    import pickle as std_pickle

    from radiolatent.data.safepickle import load_pickle

    # _codecs.encode("x", "rot13"), hand-assembled: only the latin-1 round trip is allowed
    evil = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R."
    assert std_pickle.loads(evil) == "k"
    with pytest.raises(InputError, match="rot13"):
        load_pickle(evil, "evil.pkl")
