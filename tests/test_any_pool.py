"""Every command of the README on a codes table whose rows are not in the default pool.

The table is embedded from a pool holding a generated RGZ DR1-format folder (300
stand-in images from the scale benchmark's generator, `fixtures_rgz.write_rgz_standin`),
so its pool ids (`rgz-dr1:SYN...`) exist nowhere else: a command that rebuilt the default
pool to find its images, as they all did before tables recorded where their images are
(issue 16), fails here. The pool holds only that folder (PoolConfig sources) so the test
needs no shipped archive but MiraBest decoded: `embed --data mbc,pool --add rgz-dr1@DIR`
records its images the same way (the pool's cache folder in the `images` column). The
table also holds MiraBest's labelled sources (`mbc`), which the commands that need labels
train and test on beside the unlabelled pool. Codes come from the pixels-pca floor, one
view. reconstruct and generate use a tiny VDVAE trained (one epoch) on that pool.
`reproduce --add rgz-dr1@DIR` is tests/studies/test_reproduce.py's.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
from fixtures_rgz import write_rgz_standin

from radiolatent.cli import main

IMAGES = 300


@pytest.fixture(scope="module")
def rgz_folder(tmp_path_factory) -> Path:
    from radiolatent.data.registry import load_source

    folder = tmp_path_factory.mktemp("any-pool") / "rgz"
    write_rgz_standin(folder, load_source("mirabest").images[:40], IMAGES, per_batch=100)
    return folder


def rgz_pool(folder: Path):
    from radiolatent.config import PoolConfig

    return PoolConfig(sources=(f"rgz-dr1@{folder}",), exclude=())


@pytest.fixture(scope="module")
def rgz_table(rgz_folder) -> Path:
    from radiolatent.config import EmbedConfig
    from radiolatent.data.codes import write_codes
    from radiolatent.embedding import embed

    config = EmbedConfig(dihedral_average=False, pca_components=16)
    table = embed("pixels-pca", ["mbc", "pool"], config, rgz_pool(rgz_folder), progress=False)
    pooled = table[table["set"] == "pool"]
    assert pooled["id"].str.startswith("rgz-dr1:SYN").all() and len(pooled) > IMAGES // 2
    return write_codes(table, rgz_folder.parent / "codes.parquet")


@pytest.fixture(scope="module")
def rgz_vdvae(rgz_folder) -> Path:
    """A tiny VDVAE trained for one epoch on the pool of the RGZ folder (its run folder)."""
    from radiolatent.training.runs import run_config, train_model

    out = rgz_folder.parent / "vdvae-run"
    train_model(
        "vdvae",
        run_config("vdvae", "tiny", ["train.epochs=1"]),
        out,
        rgz_pool(rgz_folder),
        device="cpu",
        log=lambda text: None,
    )
    return out


def run(*args) -> int:
    """The command line, as a user types it (paths and numbers as text)."""
    return main([str(a) for a in args])


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_grid(rgz_table, tmp_path):
    query = "rgz-dr1:SYN0000005"
    assert (
        run("search", "--codes", rgz_table, "--query", query, "--in", "pool", "-k", "4", "-o", tmp_path / "s.png") == 0
    )
    assert is_png(tmp_path / "s.png")
    assert (tmp_path / "s.csv").read_text().count("rgz-dr1:SYN") >= 4


def test_cluster_montage(rgz_table, tmp_path):
    assert run("cluster", "--codes", rgz_table, "--in", "pool", "-o", tmp_path / "clusters") == 0
    assert is_png(tmp_path / "clusters" / "montage.png")


def test_density_gallery(rgz_table, tmp_path):
    model, scores, figures = tmp_path / "maf", tmp_path / "loglik.csv", tmp_path / "figures"
    assert run("density", "fit", "--codes", rgz_table, "--in", "pool", "--out", model, "--set", "epochs=2") == 0
    assert run("density", "score", "--codes", rgz_table, "--model", model, "--out", scores) == 0
    assert (
        run(
            "density",
            "plot",
            "--scores",
            scores,
            "--codes",
            rgz_table,
            "--gallery",
            "pool",
            "-n",
            "4",
            "-k",
            "4",
            "--out",
            figures,
        )
        == 0
    )
    pngs = sorted(p.name for p in figures.glob("*.png") if is_png(p))
    assert any(name.startswith("lowest_") for name in pngs), pngs
    assert any("search" in name for name in pngs), pngs


def test_anomaly_label_thumbnails(rgz_table, tmp_path, monkeypatch):
    answers = iter(["3", "1", "q"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    thumbs = tmp_path / "thumbs"
    assert (
        run(
            "anomaly",
            "label",
            "--codes",
            rgz_table,
            "--in",
            "pool",
            "--labels",
            tmp_path / "labels.jsonl",
            "--thumbs",
            thumbs,
            "--budget",
            "5",
        )
        == 0
    )
    shown = sorted(thumbs.glob("*.png"))
    assert len(shown) >= 2 and all(is_png(p) for p in shown)


def test_explorer_api(rgz_table, tmp_path):
    from fastapi.testclient import TestClient

    from radiolatent.config import DEFAULT_EXPLORE
    from radiolatent.data.codes import code_matrix
    from radiolatent.explore.server import create_app
    from radiolatent.explore.state import load_table, map_cache_file

    # the map is seeded (any 2-D layout): this test is about the table's rows and images, and
    # UMAP's compile costs a minute (the sampled map is tests/explore/test_state.py's)
    codes = code_matrix(load_table(rgz_table))
    np.save(map_cache_file(tmp_path, codes, DEFAULT_EXPLORE), codes[:, :2].astype(np.float32))
    app = create_app(rgz_table, tmp_path / "labels.jsonl", cache_dir=tmp_path, log=lambda m: None)
    client = TestClient(app, base_url="http://127.0.0.1")  # the explorer answers loopback names only
    ids = client.get("/api/map").json()["ids"]
    pooled = [i for i in ids if i.startswith("rgz-dr1:SYN")]
    assert len(pooled) > IMAGES // 2
    for source_id in (pooled[0], pooled[-1], ids[0]):
        thumb = client.get(f"/api/thumb/{source_id}")
        assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"
    found = client.get(f"/api/neighbours/{pooled[0]}", params={"in": "rgz-dr1", "k": 5}).json()["results"]
    assert len(found) == 5 and all(r["id"].startswith("rgz-dr1:SYN") for r in found)
    assert client.get(f"/api/source/{pooled[0]}").json()["metadata"]["dataset"] == "rgz-dr1"
    # the unlabelled pool is called so in the legend, never "nan"
    legend = client.get("/api/colour/label_name").json()
    assert legend["unknown_name"] == "unlabelled" and "nan" not in legend["categories"]
    assert legend["values"].count(-1) == len(pooled)


def test_classify_and_knn_beside_the_pool(rgz_table, capsys):
    # the labelled rows of a table that also holds an unlabelled RGZ pool
    assert (
        run(
            "classify",
            "--codes",
            rgz_table,
            "--train",
            "mbc:train",
            "--test",
            "mbc:test",
            "--seeds",
            "1",
            "--classifiers",
            "knn",
            "--json",
        )
        == 0
    )
    assert run("knn", "--codes", rgz_table, "--protocol", "c", "--in", "mbc", "--splits", "2") == 0
    capsys.readouterr()
    # the pool has no labels: training on it is refused in one line
    assert (
        run(
            "classify",
            "--codes",
            rgz_table,
            "--train",
            "pool",
            "--test",
            "mbc:test",
            "--seeds",
            "1",
            "--classifiers",
            "knn",
        )
        == 2
    )
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_map_and_importance(rgz_table, tmp_path):
    assert (
        run(
            "map",
            "--codes",
            rgz_table,
            "--in",
            "pool",
            "--method",
            "tsne",
            "--colour",
            "las_arcsec",
            "-o",
            tmp_path / "map.png",
        )
        == 0
    )
    assert is_png(tmp_path / "map.png")
    assert run("importance", "--codes", rgz_table, "--in", "pool", "-o", tmp_path / "imp.png") == 0
    assert is_png(tmp_path / "imp.png")


def test_duplicates(rgz_table, tmp_path):
    import pandas as pd

    out = tmp_path / "dups.csv"
    assert run("duplicates", "--codes", rgz_table, "--in", "pool", "--out", out) == 0
    pairs = pd.read_csv(out)
    assert len(pairs) >= 1, "the stand-ins are re-cuts of 40 images: some are near-identical"
    ids = pd.concat([pairs.iloc[:, 0], pairs.iloc[:, 1]]).astype(str)
    assert ids.str.startswith("rgz-dr1:SYN").all()


def test_anomaly_rank_and_benchmark(rgz_table, tmp_path):
    import pandas as pd

    out = tmp_path / "ranked.csv"
    assert run("anomaly", "rank", "--codes", rgz_table, "--in", "pool", "--method", "iforest", "--out", out) == 0
    ranked = pd.read_csv(out)
    assert ranked["id"].str.startswith("rgz-dr1:SYN").all() and ranked["id"].is_unique
    assert (
        run(
            "anomaly",
            "benchmark",
            "--codes",
            rgz_table,
            "--in",
            "mbc:test",
            "--interesting",
            "FRI",
            "--budget",
            "12",
            "--seeds",
            "1",
            "-k",
            "10",
            "--out",
            tmp_path / "bench",
        )
        == 0
    )
    assert any(is_png(p) for p in (tmp_path / "bench").glob("*.png"))


def test_data_show(rgz_folder, tmp_path):
    assert run("data", "show", f"rgz-dr1@{rgz_folder}", "-n", "4", "-o", tmp_path / "grid.png") == 0
    assert is_png(tmp_path / "grid.png")


def test_reconstruct_and_generate_from_a_model_of_that_pool(rgz_vdvae, rgz_folder, tmp_path):
    assert (
        run(
            "reconstruct",
            "--model",
            rgz_vdvae,
            "--data",
            f"rgz-dr1@{rgz_folder}",
            "-n",
            "4",
            "-o",
            tmp_path / "recon.png",
        )
        == 0
    )
    assert is_png(tmp_path / "recon.png")
    assert (
        run("generate", "--model", rgz_vdvae, "-n", "2", "--temperatures", "1.0", "-o", tmp_path / "samples.png") == 0
    )
    assert is_png(tmp_path / "samples.png")
