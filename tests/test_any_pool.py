"""Every picture command on a codes table whose rows are not in the default pool.

The table is embedded from a pool holding a generated RGZ DR1-format folder (300
stand-in images from the scale benchmark's generator, `fixtures_rgz.write_rgz_standin`),
so its ids (`rgz-dr1:SYN...`) exist nowhere else: a command that rebuilt the default pool
to find its images, as they all did before tables recorded where their images are
(issue 16), fails here. The pool holds only that folder (PoolConfig sources) so the test
needs no shipped archive decoded: `embed --data pool --add rgz-dr1@DIR` records its
images the same way (the pool's cache folder in the `images` column). Codes come from the
pixels-pca floor, one view.
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
def rgz_table(tmp_path_factory) -> Path:
    from radiolatent.codes import write_codes
    from radiolatent.config import EmbedConfig, PoolConfig
    from radiolatent.data.registry import load_source
    from radiolatent.embedding import embed

    folder = tmp_path_factory.mktemp("any-pool")
    write_rgz_standin(folder / "rgz", load_source("mirabest").images[:40], IMAGES, per_batch=100)
    pool = PoolConfig(sources=(f"rgz-dr1@{folder / 'rgz'}",), exclude=())
    table = embed("pixels-pca", ["pool"], EmbedConfig(dihedral_average=False, pca_components=16), pool, progress=False)
    assert table["id"].str.startswith("rgz-dr1:SYN").all() and len(table) > IMAGES // 2
    return write_codes(table, folder / "codes.parquet")


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_grid(rgz_table, tmp_path):
    query = "rgz-dr1:SYN0000005"
    assert main(["search", "--codes", str(rgz_table), "--query", query, "--in", "pool", "-k", "4",
                 "-o", str(tmp_path / "s.png")]) == 0
    assert is_png(tmp_path / "s.png")
    assert (tmp_path / "s.csv").read_text().count("rgz-dr1:SYN") >= 4


def test_cluster_montage(rgz_table, tmp_path):
    assert main(["cluster", "--codes", str(rgz_table), "--in", "pool", "-o", str(tmp_path / "clusters")]) == 0
    assert is_png(tmp_path / "clusters" / "montage.png")


def test_density_gallery(rgz_table, tmp_path):
    model, scores, figures = tmp_path / "maf", tmp_path / "loglik.csv", tmp_path / "figures"
    assert main(["density", "fit", "--codes", str(rgz_table), "--on", "pool", "--out", str(model),
                 "--set", "epochs=2"]) == 0
    assert main(["density", "score", "--codes", str(rgz_table), "--model", str(model), "--out", str(scores)]) == 0
    assert main(["density", "plot", "--scores", str(scores), "--codes", str(rgz_table), "--set", "pool",
                 "-n", "4", "-k", "4", "--out", str(figures)]) == 0
    pngs = sorted(p.name for p in figures.glob("*.png") if is_png(p))
    assert any(name.startswith("lowest_") for name in pngs), pngs
    assert any("search" in name for name in pngs), pngs


def test_anomaly_label_thumbnails(rgz_table, tmp_path, monkeypatch):
    answers = iter(["3", "1", "q"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    thumbs = tmp_path / "thumbs"
    assert main(["anomaly", "label", "--codes", str(rgz_table), "--in", "pool", "--labels",
                 str(tmp_path / "labels.jsonl"), "--thumbs", str(thumbs), "--budget", "5"]) == 0
    shown = sorted(thumbs.glob("*.png"))
    assert len(shown) >= 2 and all(is_png(p) for p in shown)


def test_explorer_thumbnail(rgz_table, tmp_path):
    from fastapi.testclient import TestClient

    from radiolatent.codes import code_matrix, read_codes
    from radiolatent.config import DEFAULT_EXPLORE
    from radiolatent.explore.server import create_app
    from radiolatent.explore.state import map_cache_file

    # the map is seeded (any 2-D layout): this test is about images, and UMAP's compile costs a minute
    codes = code_matrix(read_codes(rgz_table))
    seeded = map_cache_file(tmp_path, codes, DEFAULT_EXPLORE)
    np.save(seeded, codes[:, :2].astype(np.float32))
    app = create_app(rgz_table, tmp_path / "labels.jsonl", cache_dir=tmp_path, log=lambda m: None)
    client = TestClient(app, base_url="http://127.0.0.1")  # the explorer answers loopback names only
    ids = client.get("/api/map").json()["ids"]
    for source_id in (ids[0], ids[-1]):
        thumb = client.get(f"/api/thumb/{source_id}")
        assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"
    legend = client.get("/api/colour/label_name")
    assert legend.status_code == 404  # nothing labelled: label_name cannot colour the map
