"""The report's summary and Table 2: single pass and +d8 side by side, [A]'s value beside
every cell, both floors in every comparison (built from stage results of the study's shape)."""

from __future__ import annotations

import re

from radiolatent.config import ReproduceConfig
from radiolatent.downstream.published import ENCODERS, METRICS, PUBLISHED_TABLE2, other_reference, published_row
from radiolatent.studies.table2 import (
    section_summary,
    section_table2,
    summary_markdown,
    table2_stages,
    table2_summary,
)

CLASSIFIERS = ("knn", "rf", "svc", "lr", "grad", "ext")
ALL = (*ENCODERS, "pixels-pca", "random-conv")


def stage_result(base: float) -> dict:
    """A Table 2 stage's results: every classifier, metric and dataset, `base` + a step per
    classifier (so the best is 'ext')."""
    out = {}
    for dataset in ("mbc", "nvss"):
        rows = [
            {"classifier": c, "metric": m, "mean": round(base + 0.01 * i, 3), "sd": 0.0, "reference": None}
            for i, c in enumerate(CLASSIFIERS)
            for m in METRICS
        ]
        out[dataset] = {"encoder": "x", "model": "x", "best": "ext", "n_train": 729, "n_test": 104, "rows": rows}
    return out


def both_views() -> dict:
    """Every encoder's main (+d8) and single-pass Table 2 stage, single pass 0.1 lower."""
    stages = {}
    for i, encoder in enumerate(ALL):
        stages[f"table2-{encoder}"] = stage_result(0.70 + 0.01 * i)
        stages[f"table2-{encoder}-single"] = stage_result(0.60 + 0.01 * i)
    return stages


def test_the_published_table_is_whole():
    assert len(PUBLISHED_TABLE2) == 48  # 24 rows of [A] Table 2, one per dataset
    assert published_row("simsiam", "nvss", "grad")["recall"] == 0.93
    assert published_row("byol", "mbc", "best")["classifier"] == "svc"
    assert other_reference("supervised-resnet18")["accuracy"] == 0.9242
    assert other_reference("byol-29arcsec-cut")["accuracy"] == 0.8525


def test_stage_names_give_encoder_and_view():
    found = {(e, v) for e, v, _ in table2_stages(both_views(), single_view=False)}
    assert found == {(e, v) for e in ALL for v in ("single", "d8")}
    # a --single-view study's main stages are single pass
    assert {v for _, v, _ in table2_stages({"table2-vdvae": {}}, single_view=True)} == {"single"}


def test_summary_puts_single_pass_beside_d8_with_the_paper_and_the_floors():
    rows = table2_summary(both_views(), ReproduceConfig())
    vdvae = {r["view"]: r for r in rows if r["encoder"] == "vdvae" and r["dataset"] == "mbc"}
    assert vdvae["single"]["like_for_like"] and not vdvae["d8"]["like_for_like"]
    assert vdvae["single"]["accuracy"] == 0.65 and vdvae["d8"]["accuracy"] == 0.75
    assert vdvae["single"]["paper_accuracy"] == 0.82 and vdvae["single"]["paper_classifier"] == "ext"
    page = section_summary({"summary": rows})
    assert "single pass: best clf" in page and "+d8: best clf" in page and "like-for-like" in page
    # between the two tables' headings (the text above them names both datasets too)
    mbc = page[page.index("<h3>MiraBest Confident") : page.index("<h3>FR-DEEP NVSS")]
    vdvae_row = re.search(r"<tr><td>vdvae</td>(.*?)</tr>", mbc).group(1)
    # single pass 0.650 is below [A]'s 0.82 and random-conv's 0.700; +d8 0.750 below its 0.800
    assert "0.650" in vdvae_row and "0.750" in vdvae_row and "0.82 / 0.90 (ext)" in vdvae_row
    assert vdvae_row.count(">below<") == 3
    for floor in ("pixels-pca", "random-conv"):
        assert f"<td>{floor}</td>" in mbc


def test_table2_has_the_paper_value_beside_every_published_cell():
    doc = {"stages": both_views(), "meta": {"config": {"single_view": False}}}
    page = section_table2(doc)
    paper_cells = re.findall(r'<td class="paper">([^<]*)</td>', page)
    numbers = [c for c in paper_cells if c != "–"]
    assert len(numbers) == 4 * 6 * 2 * 4  # every encoder, classifier, dataset and metric of [A]
    assert len(paper_cells) - len(numbers) == 2 * 6 * 2 * 4  # the floors: no published value
    row = re.search(r"<tr><td>byol</td><td>lr</td>(.*?)</tr>", page).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    # per metric: single pass, +d8, [A]; byol is the third encoder, lr the fourth classifier
    assert [c.split(" ±")[0] for c in cells[:3]] == ["0.650", "0.750", "0.70"]
    assert "single pass" in page and "+d8" in page and "all 24 rows" in page


def test_summary_markdown_has_both_views_and_the_paper():
    md = summary_markdown(table2_summary(both_views(), ReproduceConfig()))
    vdvae_mbc = next(line for line in md.splitlines() if line.startswith("| vdvae | MiraBest"))
    assert "ext 0.650, " in vdvae_mbc and "ext 0.750, " in vdvae_mbc and "0.82 / 0.90 (ext)" in vdvae_mbc
    assert len(md.splitlines()) == 2 + len(ALL) * 2


def test_a_single_pass_row_from_another_model_says_which():
    stages = both_views()
    for name, doc in ((n, d) for n, res in stages.items() for d in res.values()):
        encoder = name.removeprefix("table2-").removesuffix("-single")
        doc["model"] = f"{encoder}-cpu" if name.endswith("-single") else f"{encoder}-cpu+d8"  # as the study names them
    for doc in stages["table2-vdvae-single"].values():
        doc["model"] = "vdvae-distil-cpu"
    md = summary_markdown(table2_summary(stages, ReproduceConfig()))
    assert "| vdvae (single pass: vdvae-distil-cpu) | MiraBest" in md
    assert "| simclr | MiraBest" in md  # one model for both views: the name alone
    assert "vdvae (single pass: vdvae-distil-cpu)" in section_summary(
        {"summary": table2_summary(stages, ReproduceConfig())}
    )


def test_the_page_escapes_what_it_shows():
    """Names come from users' files (a pool source, an encoder's run folder): the templates
    escape every value, so markup in one is shown as text, never run."""
    rows = table2_summary(both_views(), ReproduceConfig())
    for row in rows:
        if row["encoder"] == "vdvae":
            row["encoder"] = "<script>alert(1)</script>"
    page = section_summary({"summary": rows})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
