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

from radiolatent.config import ReproduceConfig
from radiolatent.core import __version__
from radiolatent.core.fileio import write_text
from radiolatent.downstream.published import PCA_COMPONENTS, other_reference
from radiolatent.studies.ids import StageId
from radiolatent.studies.pipeline import StageResult
from radiolatent.studies.table2 import summary, summary_markdown, summary_tables, table2_tables
from radiolatent.studies.text_tables import fmt, html_rows, templates

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
        "timings": {
            name: {"seconds": r.seconds, "cpu_seconds": r.cpu_seconds, "cached": r.cached, "key": r.key}
            for name, r in results.items()
        },
        "summary": summary(results, cfg),
        "stages": {name: r.results for name, r in results.items()},
    }


def _machine() -> dict:
    import os

    return {"platform": platform.platform(), "cpus": os.cpu_count()}


# ---------------------------------------------------------------------------
# index.html
# ---------------------------------------------------------------------------


def figure(path: Path, caption: str) -> dict:
    """A figure for the templates: the PNG inline as base64 (none if the file is missing)."""
    data = base64.b64encode(path.read_bytes()).decode() if path.is_file() else None
    return {"name": path.name, "caption": caption, "data": data}


def added_sources(pool: dict) -> list[str]:
    """The pool's sources read from a user's path (RGZ DR1, folders): none for the shipped pool."""
    return [s for s in pool["config"]["sources"] if "@" in s]


def pool_line(doc: dict) -> dict | None:
    """The sentence naming the study's pool, its size and cache key."""
    pool = doc["stages"].get("pool")
    if not pool:
        return None
    added = added_sources(pool)
    which = "the shipped pool" if not added else "the shipped pool with " + ", ".join(added) + " added"
    cut = pool["config"].get("min_las_arcsec") or 0
    return {"which": which, "size": pool["size"], "cut": f"{cut:g}" if cut else "", "key": pool.get("key", "–")}


def section_pool(doc: dict) -> dict | None:
    pool = doc["stages"].get("pool")
    if not pool:
        return None
    sources = pool["sources"]
    header = list(sources[0]) if sources else []
    cut = pool["config"].get("min_las_arcsec") or 0
    return {
        "size": pool["size"],
        "added": ", ".join(added_sources(pool)),
        "sources": ", ".join(pool["config"]["sources"]),
        "cut": f"{cut:g}" if cut else "",
        "key": pool.get("key", "–"),
        "path": pool.get("path") or "",
        "header": header,
        "rows": html_rows([[s[h] for h in header] for s in sources]),
        "config": json.dumps(pool["config"], indent=1),
    }


def section_protocols(doc: dict) -> dict | None:
    rows = [
        [
            stage.encoder,
            fmt(res["knn_b"]),
            fmt(res["knn_c"]["mean"], res["knn_c"]["sd"]),
            fmt(res["cluster_accuracy"]),
            res["clusters"],
        ]
        for name, res in doc["stages"].items()
        if (stage := StageId.parse(name)) and stage.kind == "protocols"
    ]
    if not rows:
        return None
    cut_row = other_reference("byol-29arcsec-cut")
    assert cut_row is not None  # one of published.OTHER_REFERENCES
    header = ["encoder", "kNN [B] acc", "kNN [C] acc", "BGMM cluster acc", "clusters"]
    return {"cut": cut_row["accuracy"], "header": header, "rows": html_rows(rows)}


def section_figures(
    root: Path, doc: dict, stage: str, title: str, items: list[tuple[str, str]], text: str = ""
) -> dict | None:
    if stage not in doc["stages"]:
        return None
    folder = root / "stages" / stage
    figures = [figure(folder / name, caption) for name, caption in items]
    return {"stage": stage, "title": title, "text": text, "figures": figures}


def section_generative(root: Path, doc: dict) -> dict | None:
    items = [
        ("reconstructions.png", "MBC test inputs beside their reconstructions"),
        (
            "reconstructions_pool.png",
            "pool images held out of the VDVAE's training (its validation split) beside their reconstructions "
            "([A] Fig. 5)",
        ),
        ("samples.png", "samples from the prior at several temperatures"),
    ]
    return section_figures(root, doc, "generative", "Reconstructions and samples (VDVAE)", items)


def section_maps(root: Path, doc: dict) -> dict | None:
    res = doc["stages"].get("maps")
    if not res:
        return None
    methods = doc["meta"]["config"]["map_methods"]
    text = (
        f"PCA: {res['pca']['n95']} components hold 95 % of the variance and {res['pca']['n98']} hold 98 % "
        f"([A]: {PCA_COMPONENTS['n95']} and {PCA_COMPONENTS['n98']})."
    )
    items = [(f"map_{m}.png", f"{m} of the pool's codes, coloured by angular size") for m in methods]
    items += [("pca_variance.png", "cumulative PCA variance"), ("importance.png", "random-forest importance for LAS")]
    return section_figures(root, doc, "maps", "Maps, PCA and feature importance (VDVAE codes)", items, text)


def section_encoder_maps(root: Path, doc: dict) -> dict | None:
    res = doc["stages"].get("maps-encoders")
    if not res:
        return None
    text = (
        f"t-SNE of each learned encoder's single-pass codes of the same {res['rows']} pool sources, "
        "coloured by angular size, as [A] Fig. 6."
    )
    items = [(f"tsne_{e}.png", f"t-SNE of {e} codes (single pass), coloured by angular size") for e in res["encoders"]]
    return section_figures(root, doc, "maps-encoders", "t-SNE maps of every encoder ([A] Fig. 6)", items, text)


def section_search(root: Path, doc: dict) -> dict | None:
    res = doc["stages"].get("search")
    if not res:
        return None
    metric = res.get("metric", "cosine")  # studies written before whitened cosine used raw cosine
    folder = root / "stages" / "search"
    queries = []
    for name in ("large", "small"):
        q = res[name]
        rows = [
            [m.get("rank", i + 1), m["id"], fmt(m.get("score")), m.get("label_name", ""), fmt(m.get("las_arcsec"))]
            for i, m in enumerate(q["matches"])
        ]
        queries.append(
            {
                "name": name,
                "query": q["query"],
                "label": q["label"],
                "las": f"{q['las_arcsec']:.0f}",
                "figure": figure(folder / f"search_{name}.png", f"{metric} search from {q['query']}"),
                "header": ["rank", "id", metric, "label", "LAS″"],
                "rows": html_rows(rows),
            }
        )
    return {"metric": metric, "queries": queries, "dup": _duplicates(res["duplicates"])}


def _duplicates(dup: dict) -> dict:
    rule = f"{dup.get('metric', 'cosine')} ≥ {dup.get('threshold', '')}"
    if dup.get("margin") is not None:
        rule += f", mutual nearest, margin ≥ {dup['margin']} over the next-nearest"
    paper = dup.get("paper_rule")
    top = dup["top"]
    return {
        "pairs": dup["pairs"],
        "rule": rule,
        "kinds": ", ".join(f"{n} {kind}" for kind, n in dup.get("kinds", {}).items()),
        "paper": f" [B]'s rule (raw cosine ≥ {paper['threshold']}) would list {paper['pairs']} pairs." if paper else "",
        "header": list(top[0]) if top else [],
        "rows": html_rows([[fmt(v) if isinstance(v, float) else v for v in r.values()] for r in top]),
    }


def section_density(root: Path, doc: dict) -> dict | None:
    res = doc["stages"].get("density")
    if not res:
        return None
    rows = [
        [r["set"], r["count"], fmt(r["min"]), fmt(r["p05"]), fmt(r["median"]), fmt(r["max"])] for r in res["per_set"]
    ]
    folder = root / "stages" / "density"
    return {
        "preset": res["preset"],
        "held_out": fmt(res["held_out_loglik"]),
        "best_epoch": res["best_epoch"],
        "header": ["set", "rows", "min", "5th percentile", "median", "max"],
        "rows": html_rows(rows),
        "figures": [
            figure(folder / "loglik_hist.png", "log-likelihood per set, generated images included ([A] Fig. 11)"),
            figure(folder / "lowest_mirabest_confident.png", "the least likely MBC sources ([A] Fig. 12)"),
            figure(folder / "search_from_lowest.png", "search in the pool from the least likely one ([A] Fig. 13)"),
        ],
        "lowest_header": ["id", "label", "log-likelihood"],
        "lowest": html_rows([[r["id"], r["label_name"], fmt(r["loglik"])] for r in res["lowest_mbc"]]),
    }


def section_anomaly(root: Path, doc: dict) -> dict | None:
    res = doc["stages"].get("anomaly")
    if not res:
        return None
    return {
        "interesting": res["interesting"],
        "set": res["set"],
        "k": res["k"],
        "header": list(res["recall"][0]) if res["recall"] else [],
        "rows": html_rows([[fmt(v) if isinstance(v, float) else v for v in r.values()] for r in res["recall"]]),
        "figure": figure(root / "stages" / "anomaly" / "recall.png", "recall of the interesting class against rank"),
    }


def section_run(doc: dict) -> dict:
    rows = [[name, *_times(t), "cached" if t["cached"] else "ran", t["key"]] for name, t in doc["timings"].items()]
    meta = doc["meta"]
    return {
        "written": meta["written"],
        "seeds": meta["seeds"],
        "retrain": meta["retrain"],
        "total": f"{sum(t['seconds'] for t in doc['timings'].values() if not t['cached']):.0f}",
        "notes": meta["notes"],
        "header": ["stage", "wall s", "CPU s", "cores busy", "this run", "cache key"],
        "rows": html_rows(rows),
        "versions": html_rows([[k, v] for k, v in meta["versions"].items()]),
        "machine": json.dumps(meta["machine"]),
        "config": json.dumps(meta["config"], indent=1),
    }


def _times(timing: dict) -> list[str]:
    """Wall seconds, CPU seconds on every core and their ratio (how many cores were busy)."""
    wall, cpu = timing["seconds"], timing.get("cpu_seconds")
    if cpu is None:  # a stage record written before CPU time was kept
        return [f"{wall:.1f}", "–", "–"]
    return [f"{wall:.1f}", f"{cpu:.1f}", f"{cpu / wall:.2f}" if wall > 0 else "–"]


def render(root: Path, doc: dict) -> str:
    """index.html from the templates (studies/templates/report.html.j2), autoescaped."""
    pool = doc["stages"].get("pool")
    figure_sections = [section_generative(root, doc), section_encoder_maps(root, doc), section_maps(root, doc)]
    return (
        templates()
        .get_template("report.html.j2")
        .render(
            style=STYLE,
            on="a user's pool" if pool and added_sources(pool) else "the shipped data",
            pool_line=pool_line(doc),
            summary=summary_tables(doc),
            table2=table2_tables(doc),
            protocols=section_protocols(doc),
            pool=section_pool(doc),
            figure_sections=[s for s in figure_sections if s],
            search=section_search(root, doc),
            density=section_density(root, doc),
            anomaly=section_anomaly(root, doc),
            run=section_run(doc),
        )
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
