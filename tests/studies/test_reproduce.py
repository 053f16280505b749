"""`radiolatent reproduce` end to end, on the quick profile (shipped VDVAE + pixels-pca, one seed)."""

from __future__ import annotations

import html
import json

import pytest
from browser import artifact_path, browser_page

from radiolatent.cli import main
from radiolatent.config import QUICK_REPRODUCE
from radiolatent.data.codes import read_codes
from radiolatent.downstream.classify import classify_codes
from radiolatent.downstream.published import published_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["reproduce", "--config", "quick", "--out", str(out)]) == 0
    return out


def test_results_hold_table2_with_the_paper_beside_ours(report):
    doc = json.loads((report / "results.json").read_text())
    summary = {(r["encoder"], r["dataset"]): r for r in doc["summary"]}
    assert set(summary) == {(e, d) for e in ("vdvae", "pixels-pca") for d in ("mbc", "nvss")}
    assert summary[("vdvae", "mbc")]["paper_accuracy"] == 0.82  # [A]'s best VDVAE row (ext)
    assert summary[("pixels-pca", "nvss")]["paper_accuracy"] is None
    # the quick profile runs single pass only: every row is the like-for-like one
    assert all(r["view"] == "single" and r["like_for_like"] for r in doc["summary"])
    # the stage's numbers are what the classifier gives on the stage's own codes
    codes = read_codes(report / "stages" / "embed-vdvae" / "codes.parquet")
    direct = classify_codes(codes, "mbc:train", "mbc:test", seeds=[0], classifiers=QUICK_REPRODUCE.classifiers)
    rows = doc["stages"]["table2-vdvae"]["mbc"]["rows"]
    knn_acc = next(r for r in rows if r["classifier"] == "knn" and r["metric"] == "accuracy")
    assert knn_acc["mean"] == pytest.approx(direct.value("knn", "accuracy")[0])
    assert knn_acc["reference"] == published_row("vdvae", "mbc", "knn")["accuracy"]
    assert doc["stages"]["pool"]["size"] > 2000
    assert 0 <= doc["stages"]["protocols-vdvae"]["cluster_accuracy"] <= 1


def test_the_page_shows_every_encoder_map_and_held_out_reconstructions(report):
    doc = json.loads((report / "results.json").read_text())
    assert doc["stages"]["maps-encoders"]["encoders"] == ["vdvae"]  # the quick profile's one learned encoder
    assert doc["stages"]["generative"]["held_out_pool"] == 221  # the shipped VDVAE's validation split
    page = (report / "index.html").read_text()
    for alt in ("t-SNE of vdvae codes (single pass)", "pool images held out of the VDVAE's training"):
        assert f'alt="{alt}' in html.unescape(page)
    assert "missing figure" not in page and "single pass: best clf" in page


def test_held_out_pool_images_were_not_trained_on():
    from radiolatent.data.pools import build_pool
    from radiolatent.downstream.generative import held_out_pool
    from radiolatent.models.shipped import SHIPPED_MODEL

    held = held_out_pool(SHIPPED_MODEL)
    pool = build_pool()
    assert len(held) == round(0.1 * len(pool))  # the cpu config's valid_fraction
    held_bytes = {image.tobytes() for image in held}
    copies = sum(image.tobytes() in held_bytes for image in pool.images)
    assert copies == len(held)  # each is in the pool once (its held-out self), none in the training split


def test_a_rerun_skips_every_finished_stage(report, capsys):
    assert main(["reproduce", "--config", "quick", "--out", str(report)]) == 0
    doc = json.loads((report / "results.json").read_text())
    assert all(t["cached"] for t in doc["timings"].values())
    assert "up to date" in capsys.readouterr().out


def test_more_seeds_rerun_only_the_stages_that_use_seeds(report):
    out = report.parent / (report.name + "-seeds")
    import shutil

    shutil.copytree(report, out)
    assert main(["reproduce", "--config", "quick", "--seeds", "2", "--out", str(out)]) == 0
    timings = json.loads((out / "results.json").read_text())["timings"]
    ran = {name for name, t in timings.items() if not t["cached"]}
    assert ran == {"table2-vdvae", "table2-pixels-pca", "anomaly"}


def test_bad_seeds_are_a_one_line_error(tmp_path, capsys):
    assert main(["reproduce", "--config", "quick", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_the_page_renders_in_chromium_with_every_image_and_table_row(report):
    with browser_page() as page:
        page.goto((report / "index.html").as_uri())
        images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        rows = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => t.tBodies[0].rows.length)")
        page.screenshot(path=str(artifact_path("report.png")), full_page=True)
    assert len(images) >= 6 and all(ok for _, ok in images), images
    assert rows and all(n > 0 for n in rows), rows
    text = (report / "index.html").read_text()
    assert 'src="http' not in text  # self-contained: nothing fetched from elsewhere


def test_the_study_runs_on_a_pool_with_an_rgz_folder_added(tmp_path, monkeypatch):
    """`reproduce --add rgz-dr1@DIR`: every stage on that pool, the report naming it and its sources."""
    import dataclasses

    from fixtures_rgz import write_rgz_fixture

    from radiolatent.config import DEFAULT_POOL, REPRODUCE_CONFIGS, config_hash

    write_rgz_fixture(tmp_path / "rgz", n_batches=2, per_batch=6)
    # the VDVAE alone: every stage of the study, without a floor's embedding
    monkeypatch.setitem(REPRODUCE_CONFIGS, "quick", dataclasses.replace(QUICK_REPRODUCE, encoders=("vdvae",)))
    out = tmp_path / "report"
    source = f"rgz-dr1@{tmp_path / 'rgz'}"
    assert main(["reproduce", "--config", "quick", "--add", source, "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert {
        "pool",
        "embed-vdvae",
        "table2-vdvae",
        "protocols-vdvae",
        "generative",
        "maps",
        "search",
        "density",
        "anomaly",
    } <= set(doc["stages"])
    pool = doc["stages"]["pool"]
    rgz = next(s for s in pool["sources"] if s["source"] == source)
    assert rgz["kept"] > 0 and rgz["candidates"] == 16  # 18 written: a MiraBest-flagged one and a copy dropped
    assert pool["key"] != config_hash(DEFAULT_POOL)  # another pool, another cache key
    codes = read_codes(out / "stages" / "embed-vdvae" / "codes.parquet")
    pooled = codes[codes["set"] == "pool"]
    assert len(pooled) == pool["size"] and (pooled["dataset"] == "rgz-dr1").sum() == rgz["kept"]
    page = html.unescape((out / "index.html").read_text())
    assert source in page and "a user's pool" in page and pool["key"] in page
    assert "missing figure" not in page
