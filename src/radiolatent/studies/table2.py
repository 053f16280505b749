"""The report's summary and Table 2: every encoder single pass ([A]'s protocol, the
like-for-like comparison) and +d8 (codes averaged over 8 orientations), beside [A]'s
published values (all 144 cells of its Table 2) and the two no-learning floors.

`summary` builds results.json's rows from each of `SUMMARY_SOURCES` in turn; a further
row kind (a supervised ceiling, say) is one more source function returning rows of the
same keys, with a `view` the page knows (`VIEWS`) or its own.
"""

from __future__ import annotations

from radiolatent.config import DIHEDRAL_SUFFIX, FLOORS, ReproduceConfig
from radiolatent.downstream.published import METRICS, published_row
from radiolatent.studies.ids import SUPERVISED, StageId
from radiolatent.studies.pipeline import StageResult
from radiolatent.studies.text_tables import fmt, html_rows, section

METRIC_NAMES = {"accuracy": "acc", "roc_auc": "ROC-AUC", "specificity": "spec", "recall": "rec"}
DATASET_NAMES = {"mbc": "MiraBest Confident (MBC)", "nvss": "FR-DEEP NVSS"}
#: how an encoder's codes were made: one pass of the image ([A]'s protocol) or +d8
VIEWS = {"single": "single pass", "d8": "+d8"}


def table2_stages(stages: dict, single_view: bool) -> list[tuple[str, str, dict]]:
    """(encoder, view, results) of every Table 2 stage: 'table2-X' holds the study's main
    codes (+d8 unless it ran --single-view), 'table2-X-single' the single-pass ones."""
    found = []
    for name, res in stages.items():
        stage = StageId.parse(name)
        if stage is None or stage.kind != "table2":
            continue
        found.append((stage.encoder, "single" if stage.single or single_view else "d8", res))
    return found


def summary(results: dict[str, StageResult], cfg: ReproduceConfig) -> list[dict]:
    """A row per encoder, view and dataset: our best classifier beside [A]'s best row.
    Rows come from each of `SUMMARY_SOURCES` in turn (a ceiling row is one more source)."""
    stages = {name: r.results for name, r in results.items()}
    return [row for source in SUMMARY_SOURCES for row in source(stages, cfg)]


def table2_summary(stages: dict, cfg: ReproduceConfig) -> list[dict]:
    rows = []
    for encoder, view, res in table2_stages(stages, cfg.single_view):
        for dataset, doc in res.items():
            ours = _cells(doc["rows"], doc["best"])
            paper = _paper_best(encoder, dataset)
            rows.append(
                {
                    "encoder": encoder,
                    "model": doc.get("model"),
                    "dataset": dataset,
                    "view": view,
                    "classifier": doc["best"],
                    "like_for_like": view == "single",
                    "accuracy": ours["accuracy"][0],
                    "accuracy_sd": ours["accuracy"][1],
                    "roc_auc": ours["roc_auc"][0],
                    "roc_auc_sd": ours["roc_auc"][1],
                    "paper_accuracy": paper.get("accuracy"),
                    "paper_roc_auc": paper.get("roc_auc"),
                    "paper_classifier": paper.get("classifier"),
                }
            )
    return rows


def ceiling_summary(stages: dict, cfg: ReproduceConfig) -> list[dict]:
    """The supervised ceiling (reproduce's 'supervised' stage, ceiling.py), if it ran."""
    if SUPERVISED not in stages:
        return []
    import pandas as pd

    from radiolatent.studies.ceiling import summary_rows

    return summary_rows(pd.DataFrame(stages[SUPERVISED]["rows"]))


#: where the summary's rows come from, in order
SUMMARY_SOURCES = [table2_summary, ceiling_summary]


def _cells(rows: list[dict], classifier: str) -> dict[str, tuple[float, float | None]]:
    return {r["metric"]: (r["mean"], r["sd"]) for r in rows if r["classifier"] == classifier}


def _paper_best(encoder: str, dataset: str) -> dict:
    """[A]'s best row for an encoder: its highest-accuracy classifier (ties: ROC-AUC)."""
    return published_row(encoder, dataset, "best") or {}


def published(value: float | None) -> str:
    """A published value as printed: two decimals."""
    return "–" if value is None else f"{value:.2f}"


def _verdict(ours: float | None, theirs: float | None) -> tuple[str, str]:
    if ours is None or theirs is None:
        return ("–", "")
    if round(ours, 3) > theirs:
        return ("above", "beat")
    return ("equal", "") if round(ours, 3) == theirs else ("below", "miss")


def _floor_best(rows: list[dict], dataset: str, view: str) -> float | None:
    found = [r["accuracy"] for r in rows if r["encoder"] in FLOORS and r["dataset"] == dataset and r["view"] == view]
    return max(found) if found else None


def section_summary(doc: dict) -> str:
    """The report's summary section, as HTML."""
    return section("summary", summary_tables(doc))


def summary_tables(doc: dict) -> list[dict]:
    """Per dataset, our best classifier of every encoder beside [A]'s and the floors'."""
    rows_in = doc["summary"]
    views = [v for v in VIEWS if any(r["view"] == v for r in rows_in)]
    header = ["encoder"]
    for v in views:
        header += [f"{VIEWS[v]}: best clf", "acc", "ROC-AUC", "vs floors"]
    header += ["[A] best: acc / ROC-AUC (clf)", "single pass vs [A]"]
    tables = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows_in):
        rows = []
        for encoder in dict.fromkeys(r["encoder"] for r in rows_in if r["dataset"] == dataset):
            mine = {r["view"]: r for r in rows_in if r["encoder"] == encoder and r["dataset"] == dataset}
            row: list = [labelled(encoder, mine)]
            for v in views:
                r = mine.get(v)
                if r is None:
                    row += ["–"] * 4
                    continue
                floor = None if encoder in FLOORS else _floor_best(rows_in, dataset, v)
                row += [
                    r["classifier"],
                    fmt(r["accuracy"], r["accuracy_sd"]),
                    fmt(r["roc_auc"], r["roc_auc_sd"]),
                    _verdict(r["accuracy"], floor),
                ]
            first = next(iter(mine.values()))
            paper = first["paper_accuracy"]
            row.append(
                (
                    f"{published(paper)} / {published(first['paper_roc_auc'])} ({first['paper_classifier']})"
                    if paper is not None
                    else "–",
                    "paper",
                )
            )
            single = mine.get("single")
            row.append(_verdict(single["accuracy"] if single else None, paper))
            rows.append(row)
        tables.append({"title": DATASET_NAMES.get(dataset, dataset), "header": header, "rows": html_rows(rows)})
    return tables


def section_table2(doc: dict) -> str:
    """The report's Table 2 section, as HTML."""
    return section("table2", table2_tables(doc))


def table2_tables(doc: dict) -> list[dict]:
    """Every classifier of every encoder, each metric single pass and +d8, [A]'s value beside."""
    tables = []
    found = table2_stages(doc["stages"], doc["meta"]["config"].get("single_view", False))
    views = [v for v in VIEWS if any(view == v for _, view, _ in found)]
    by = {(e, v): res for e, v, res in found}
    for dataset in dict.fromkeys(d for _, _, res in found for d in res):
        header = ["encoder", "clf"]
        for m in METRICS:
            header += [f"{METRIC_NAMES[m]} {VIEWS[v]}" if len(views) > 1 else METRIC_NAMES[m] for v in views] + ["[A]"]
        rows, n = [], None
        for encoder in dict.fromkeys(e for e, _, _ in found):
            docs = {v: by[(encoder, v)][dataset] for v in views if dataset in by.get((encoder, v), {})}
            if not docs:
                continue
            n = n or next(iter(docs.values()))
            for clf in dict.fromkeys(r["classifier"] for d in docs.values() for r in d["rows"]):
                cells = {v: _cells(d["rows"], clf) for v, d in docs.items()}
                best = [VIEWS[v] for v, d in docs.items() if d["best"] == clf]
                paper = published_row(encoder, dataset, clf) or {}
                row = [encoder, clf + (f" (best {', '.join(best)})" if best else "")]
                for m in METRICS:
                    row += [fmt(*cells[v][m]) if v in cells else "–" for v in views]
                    row.append((published(paper.get(m)), "paper"))
                rows.append(row)
        if n is None:  # no encoder has this dataset in the views shown
            continue
        title = f"{DATASET_NAMES.get(dataset, dataset)}: train {n['n_train']}, test {n['n_test']}"
        tables.append({"title": title, "header": header, "rows": html_rows(rows)})
    return tables


def labelled(encoder: str, views: dict[str, dict]) -> str:
    """The encoder's name, and the model of its single-pass row where another model made
    it (the VDVAE's distilled encoder: `ReproduceConfig.distilled_single_pass`)."""
    single, d8 = views.get("single", {}).get("model"), views.get("d8", {}).get("model")
    if not single or not d8 or single == str(d8).removesuffix(DIHEDRAL_SUFFIX):
        return encoder
    return f"{encoder} (single pass: {single})"


def summary_markdown(rows: list[dict]) -> str:
    """The summary as a Markdown table (the study writes it as summary.md, for docs/results.md):
    per encoder and dataset, single pass and +d8 side by side, then [A]'s best row."""
    header = "| encoder | dataset | single pass: clf, acc, ROC-AUC | +d8: clf, acc, ROC-AUC | [A] best: acc / ROC-AUC |"
    lines = [header, "| --- | --- | --- | --- | --- |"]
    keys = dict.fromkeys((r["encoder"], r["dataset"]) for r in rows)
    for encoder, dataset in sorted(keys, key=lambda k: (k[1] != "mbc", list(keys).index(k))):
        mine = {r["view"]: r for r in rows if r["encoder"] == encoder and r["dataset"] == dataset}
        cells = [
            f"{r['classifier']} {fmt(r['accuracy'], r['accuracy_sd'] or None)}, {fmt(r['roc_auc'])}"
            if (r := mine.get(v))
            else "–"
            for v in VIEWS
        ]
        first = next(iter(mine.values()))
        paper = (
            f"{published(first['paper_accuracy'])} / {published(first['paper_roc_auc'])} ({first['paper_classifier']})"
            if first["paper_accuracy"] is not None
            else "–"
        )
        lines.append(
            f"| {labelled(encoder, mine)} | {DATASET_NAMES.get(dataset, dataset)} | {' | '.join(cells)} | {paper} |"
        )
    return "\n".join(lines) + "\n"
