"""The study's report: one self-contained `index.html` and a `results.json` with every number.

Figures are embedded as base64 PNGs so the page can be mailed or archived alone. Every
table of ours carries the published value beside it ([A] Table 2, all 144 cells; floors
have none). Every encoder is shown single pass ([A]'s protocol, like for like) and, unless
the study ran --single-view, with codes averaged over 8 orientations (+d8).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import platform
import time
from importlib import metadata
from pathlib import Path

from radiolatent import __version__
from radiolatent.config import ReproduceConfig
from radiolatent.fileio import write_text
from radiolatent.pipeline import StageResult
from radiolatent.reference import PCA_COMPONENTS, other_reference
from radiolatent.report_table2 import section_summary, section_table2, summary, summary_markdown
from radiolatent.text_tables import esc, fmt, table

PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "lightly",
    "zuko",
    "faiss-cpu",
    "umap-learn",
    "astropy",
    "pandas",
)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
.paper{color:#666}.beat{background:#e3f4e3}.miss{background:#fbe9e7}
figure{display:inline-block;margin:.5em;vertical-align:top}figure img{max-width:560px;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555;max-width:560px}.note{color:#8a5300}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
"""


# ---------------------------------------------------------------------------
# results.json
# ---------------------------------------------------------------------------


def versions() -> dict:
    found: dict[str, str | None] = {"python": platform.python_version(), "radiolatent": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def collect(results: dict[str, StageResult], cfg: ReproduceConfig, retrain: bool, notes: list[str]) -> dict:
    """Everything the report shows, as one JSON document."""
    return {
        "meta": {
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "retrain": retrain,
            "seeds": list(range(cfg.seeds)),
            "config": dataclasses.asdict(cfg),
            "versions": versions(),
            "machine": _machine(),
            "notes": notes,
        },
        "timings": {name: {"seconds": r.seconds, "cached": r.cached, "key": r.key} for name, r in results.items()},
        "summary": summary(results, cfg),
        "stages": {name: r.results for name, r in results.items()},
    }


def _machine() -> dict:
    import os

    return {"platform": platform.platform(), "cpus": os.cpu_count()}


# ---------------------------------------------------------------------------
# index.html
# ---------------------------------------------------------------------------


def figure(path: Path, caption: str) -> str:
    if not path.is_file():
        return f'<p class="note">missing figure: {esc(path.name)}</p>'
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def added_sources(pool: dict) -> list[str]:
    """The pool's sources read from a user's path (RGZ DR1, folders): none for the shipped pool."""
    return [s for s in pool["config"]["sources"] if "@" in s]


def pool_line(doc: dict) -> str:
    """One sentence naming the study's pool, its size and cache key."""
    pool = doc["stages"].get("pool")
    if not pool:
        return ""
    added = added_sources(pool)
    which = "the shipped pool" if not added else "the shipped pool with " + ", ".join(added) + " added"
    cut = pool["config"].get("min_las_arcsec") or 0
    return (
        f"<p>Every stage ran on {esc(which)}: {pool['size']} images"
        + (f" of at least {cut:g}″" if cut else "")
        + f" (pool cache key {esc(pool.get('key', '–'))}; "
        "<a href='#pool'>composition</a>).</p>"
    )


def section_pool(doc: dict) -> str:
    pool = doc["stages"].get("pool")
    if not pool:
        return ""
    sources = pool["sources"]
    header = list(sources[0]) if sources else []
    rows = [[s[h] for h in header] for s in sources]
    added = added_sources(pool)
    if added:
        origin = (
            f"The pool adds {esc(', '.join(added))} to the shipped sets; every source of an evaluation "
            "test set is removed by sky position and by image, as are duplicates between sources."
        )
    else:
        origin = (
            "RGZ DR1 is not obtainable here; the pool is built from the shipped sets with every source "
            "of an evaluation test set removed by sky position and by image "
            "(<code>reproduce --add rgz-dr1@DIR</code> runs the study on RGZ DR1)."
        )
    cut = pool["config"].get("min_las_arcsec") or 0
    provenance = (
        f"<p>Sources: {esc(', '.join(pool['config']['sources']))}; "
        + (f"sources under {cut:g}″ dropped; " if cut else "")
        + f"cache key {esc(pool.get('key', '–'))} ({esc(pool.get('path') or '')}). "
        "Per source: candidates read, dropped (and why) and kept.</p>"
    )
    return (
        f"<h2 id='pool'>The pre-training pool: {pool['size']} images</h2><p>{origin}</p>"
        + provenance
        + table(header, rows)
        + f"<pre>{esc(json.dumps(pool['config'], indent=1))}</pre>"
    )


def section_protocols(doc: dict) -> str:
    rows = []
    for name, res in doc["stages"].items():
        if name.startswith("protocols-"):
            rows.append(
                [
                    name.removeprefix("protocols-"),
                    fmt(res["knn_b"]),
                    fmt(res["knn_c"]["mean"], res["knn_c"]["sd"]),
                    fmt(res["cluster_accuracy"]),
                    res["clusters"],
                ]
            )
    if not rows:
        return ""
    cut_row = other_reference("byol-29arcsec-cut")
    assert cut_row is not None  # one of reference.OTHER_REFERENCES
    cut = cut_row["accuracy"]
    return (
        "<h2 id='protocols'>kNN protocols and clustering (MBC)</h2>"
        f"<p>[B]: kNN k=20 fitted on MBC train, accuracy on MBC test (BYOL with a 29″ cut reached {cut}). "
        "[C]: kNN k=5 on 50 random 75/25 splits of MBC; BGMM clusters (PCA 95 %) labelled by majority.</p>"
        + table(["encoder", "kNN [B] acc", "kNN [C] acc", "BGMM cluster acc", "clusters"], rows)
    )


def section_figures(root: Path, doc: dict, stage: str, title: str, items: list[tuple[str, str]], text: str = "") -> str:
    if stage not in doc["stages"]:
        return ""
    folder = root / "stages" / stage
    figs = "".join(figure(folder / name, caption) for name, caption in items)
    return f"<h2 id='{stage}'>{esc(title)}</h2>{text}{figs}"


def section_maps(root: Path, doc: dict) -> str:
    res = doc["stages"].get("maps")
    if not res:
        return ""
    methods = doc["meta"]["config"]["map_methods"]
    text = (
        f"<p>PCA: {res['pca']['n95']} components hold 95 % of the variance and {res['pca']['n98']} hold 98 % "
        f"([A]: {PCA_COMPONENTS['n95']} and {PCA_COMPONENTS['n98']}).</p>"
    )
    items = [(f"map_{m}.png", f"{m} of the pool's codes, coloured by angular size") for m in methods]
    items += [("pca_variance.png", "cumulative PCA variance"), ("importance.png", "random-forest importance for LAS")]
    return section_figures(root, doc, "maps", "Maps, PCA and feature importance (VDVAE codes)", items, text)


def section_encoder_maps(root: Path, doc: dict) -> str:
    res = doc["stages"].get("maps-encoders")
    if not res:
        return ""
    text = (
        f"<p>t-SNE of each learned encoder's single-pass codes of the same {res['rows']} pool sources, "
        "coloured by angular size, as [A] Fig. 6.</p>"
    )
    items = [(f"tsne_{e}.png", f"t-SNE of {e} codes (single pass), coloured by angular size") for e in res["encoders"]]
    return section_figures(root, doc, "maps-encoders", "t-SNE maps of every encoder ([A] Fig. 6)", items, text)


def section_search(root: Path, doc: dict) -> str:
    res = doc["stages"].get("search")
    if not res:
        return ""
    metric = res.get("metric", "cosine")  # studies written before whitened cosine used raw cosine
    parts = [
        f"<p>Metric: {esc(metric)}"
        + (
            " (cosine after PCA-whitening on the searched set; [A]'s raw cosine ranks nearly every pool "
            "source alike, see docs/results.md)"
            if metric == "whitened-cosine"
            else ""
        )
        + ".</p>"
    ]
    for name in ("large", "small"):
        q = res[name]
        rows = [
            [m.get("rank", i + 1), m["id"], fmt(m.get("score")), m.get("label_name", ""), fmt(m.get("las_arcsec"))]
            for i, m in enumerate(q["matches"])
        ]
        parts.append(
            f"<h3>{name} source: {esc(q['query'])} ({esc(q['label'])}, LAS {q['las_arcsec']:.0f}″)</h3>"
            + figure(root / "stages" / "search" / f"search_{name}.png", f"{metric} search from {q['query']}")
            + table(["rank", "id", metric, "label", "LAS″"], rows)
        )
    dup = res["duplicates"]
    kinds = ", ".join(f"{n} {kind}" for kind, n in dup.get("kinds", {}).items())
    rule = f"{dup.get('metric', 'cosine')} ≥ {dup.get('threshold', '')}"
    if dup.get("margin") is not None:
        rule += f", mutual nearest, margin ≥ {dup['margin']} over the next-nearest"
    paper = dup.get("paper_rule")
    paper_text = f" [B]'s rule (raw cosine ≥ {paper['threshold']}) would list {paper['pairs']} pairs." if paper else ""
    parts.append(
        f"<h3>Near-duplicates in the pool: {dup['pairs']} pairs with {esc(rule)}</h3>"
        f"<p>{esc(kinds)}. A pair at the same sky position is one object cut twice ([B]); "
        "look-alikes elsewhere on the sky are mostly unresolved sources, which all look like "
        "the beam; FR-DEEP has no positions. Most alike of each kind first." + esc(paper_text) + "</p>"
    )
    if dup["top"]:
        header = list(dup["top"][0])
        rows = [[fmt(v) if isinstance(v, float) else v for v in r.values()] for r in dup["top"]]
        parts.append(table(header, rows))
    title = "<h2 id='search'>Similarity search from MBC test sources into the pool ([A] Figs. 8, 9)</h2>"
    return title + "".join(parts)


def section_density(root: Path, doc: dict) -> str:
    res = doc["stages"].get("density")
    if not res:
        return ""
    rows = [
        [r["set"], r["count"], fmt(r["min"]), fmt(r["p05"]), fmt(r["median"]), fmt(r["max"])] for r in res["per_set"]
    ]
    lowest = [[r["id"], r["label_name"], fmt(r["loglik"])] for r in res["lowest_mbc"]]
    text = (
        f"<p>Masked Autoregressive Flow ('{esc(res['preset'])}' preset) fitted on the pool's VDVAE codes; "
        f"held-out log-likelihood {fmt(res['held_out_loglik'])} nats per source (best epoch {res['best_epoch']}). "
        "Log-likelihoods are in the original code space. Percentiles, not means: a source off the "
        "pool's code manifold can score -1e10 and would swamp a mean.</p>"
        + table(["set", "rows", "min", "5th percentile", "median", "max"], rows)
    )
    folder = root / "stages" / "density"
    figs = (
        figure(folder / "loglik_hist.png", "log-likelihood per set, generated images included ([A] Fig. 11)")
        + figure(folder / "lowest_mirabest_confident.png", "the least likely MBC sources ([A] Fig. 12)")
        + figure(folder / "search_from_lowest.png", "search in the pool from the least likely one ([A] Fig. 13)")
    )
    return (
        "<h2 id='density'>Density and out-of-distribution sources (VDVAE codes)</h2>"
        + text
        + figs
        + "<h3>Least likely MBC sources</h3>"
        + table(["id", "label", "log-likelihood"], lowest)
    )


def section_anomaly(root: Path, doc: dict) -> str:
    res = doc["stages"].get("anomaly")
    if not res:
        return ""
    header = list(res["recall"][0]) if res["recall"] else []
    rows = [[fmt(v) if isinstance(v, float) else v for v in r.values()] for r in res["recall"]]
    text = (
        f"<p>Interesting class: {esc(res['interesting'])} in {esc(res['set'])}; recall in the top "
        f"{res['k']} for each ranking (active learning asks a label-column oracle, as [C]'s Figure 8). "
        "The MAF is fitted once to these rows (seed 0); the other rankings run once per seed.</p>"
    )
    return (
        "<h2 id='anomaly'>Active-learning anomaly search ([C])</h2>"
        + text
        + table(header, rows)
        + figure(root / "stages" / "anomaly" / "recall.png", "recall of the interesting class against rank")
    )


def section_run(doc: dict) -> str:
    rows = [
        [name, f"{t['seconds']:.1f}", "cached" if t["cached"] else "ran", t["key"]]
        for name, t in doc["timings"].items()
    ]
    total = sum(t["seconds"] for t in doc["timings"].values() if not t["cached"])
    meta = doc["meta"]
    notes = "".join(f"<p class='note'>{esc(n)}</p>" for n in meta["notes"])
    return (
        "<h2 id='run'>Run: stages, timings, versions, configuration</h2>"
        f"<p>Written {esc(meta['written'])}; seeds {esc(meta['seeds'])}; retrain: {meta['retrain']}; "
        f"{total:.0f} s of stages ran in this invocation.</p>{notes}"
        + table(["stage", "seconds", "this run", "cache key"], rows)
        + table(["package", "version"], [[k, v] for k, v in meta["versions"].items()])
        + f"<pre>{esc(json.dumps(meta['machine']))}\n{esc(json.dumps(meta['config'], indent=1))}</pre>"
    )


def render(root: Path, doc: dict) -> str:
    pool = doc["stages"].get("pool")
    on = "a user's pool" if pool and added_sources(pool) else "the shipped data"
    sections = [
        section_summary(doc),
        section_table2(doc),
        section_protocols(doc),
        section_pool(doc),
        section_figures(
            root,
            doc,
            "generative",
            "Reconstructions and samples (VDVAE)",
            [
                ("reconstructions.png", "MBC test inputs beside their reconstructions"),
                (
                    "reconstructions_pool.png",
                    "pool images held out of the VDVAE's training (its "
                    "validation split) beside their reconstructions ([A] Fig. 5)",
                ),
                ("samples.png", "samples from the prior at several temperatures"),
            ],
        ),
        section_encoder_maps(root, doc),
        section_maps(root, doc),
        section_search(root, doc),
        section_density(root, doc),
        section_anomaly(root, doc),
        section_run(doc),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>radiolatent: reproduction of Andrianomena &amp; Tang (2024)</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>radiolatent: the study of Andrianomena &amp; Tang (2024), reproduced on {on}</h1>"
        + pool_line(doc)
        + "".join(sections)
        + "</body></html>"
    )


def write_report(
    out: str | Path,
    results: dict[str, StageResult],
    cfg: ReproduceConfig,
    retrain: bool = False,
    notes: list[str] | None = None,
) -> Path:
    """Write results.json and index.html into `out`; returns the page's path."""
    root = Path(out)
    doc = collect(results, cfg, retrain, notes or [])
    write_text(root / "results.json", json.dumps(doc, indent=2, default=str))
    write_text(root / "summary.md", summary_markdown(doc["summary"]))
    return write_text(root / "index.html", render(root, doc))
