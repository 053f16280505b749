"""A classification run's result (`ClassificationResult`): its table of mean and sd per
classifier and metric, what it was run on, and its Markdown, CSV and JSON forms beside
the published values of [A] Table 2; `compare` puts several encoders side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radiolatent.downstream.published import METRICS, TABLE2, reference_row

METRIC_LABELS = {"accuracy": "acc", "roc_auc": "ROC-AUC", "specificity": "spec", "recall": "rec"}


def _fmt(mean: float, sd: float) -> str:
    return f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


@dataclass
class ClassificationResult:
    """One encoder's classification table with what it was run on."""

    table: pd.DataFrame
    encoder: str
    model: str
    train_spec: str
    test_spec: str
    dataset: str | None
    standardise: bool
    seeds: list[int]
    n_train: int
    n_test: int
    source: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    #: the test rows' codes table when it is not the train table ("" when the same)
    test_source: str = ""

    def value(self, classifier: str, metric: str) -> tuple[float, float]:
        """(mean, sd) of one cell."""
        row = self.table[(self.table["classifier"] == classifier) & (self.table["metric"] == metric)]
        return float(row["mean"].iloc[0]), float(row["sd"].iloc[0])

    def best(self) -> str:
        """The classifier with the highest mean accuracy (ties: ROC-AUC)."""
        names = list(dict.fromkeys(self.table["classifier"]))
        return max(names, key=lambda n: (self.value(n, "accuracy")[0], self.value(n, "roc_auc")[0]))

    def reference(self, classifier: str) -> dict | None:
        """The published (or measured-floor) row for this encoder, dataset and classifier."""
        if self.dataset is None:
            return None
        return reference_row(self.encoder, self.dataset, classifier)

    def header(self) -> str:
        scaling = "standardised (StandardScaler fitted on train)" if self.standardise else "unscaled"
        test_from = f" of {self.test_source}" if self.test_source else ""
        return (
            f"{self.encoder} ({self.model}): train {self.train_spec} ({self.n_train}), "
            f"test {self.test_spec}{test_from} ({self.n_test}); features {scaling}; seeds {self.seeds}"
        )

    def to_markdown(self) -> str:
        """A row per classifier: ours as 'mean ± sd', the reference value beside each metric."""
        lines = [self.header(), ""]
        cols = [h for m in METRICS for h in (METRIC_LABELS[m], "ref")]
        lines.append("| clf | " + " | ".join(cols) + " |")
        lines.append("|" + " --- |" * (len(cols) + 1))
        for name in dict.fromkeys(self.table["classifier"]):
            ref = self.reference(name) or {}
            cells = []
            for m in METRICS:
                cells.append(_fmt(*self.value(name, m)))
                cells.append(f"{ref[m]:.2f}" if m in ref else "–")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.extend(self._reference_notes())
        return "\n".join(lines) + "\n"

    def _reference_notes(self) -> list[str]:
        notes = []
        sources = {
            (r["source"], r["note"]) for n in dict.fromkeys(self.table["classifier"]) if (r := self.reference(n))
        }
        for source, note in sorted(sources):
            notes.append(f"ref: {source}" + (f" ({note})" if note else ""))
        best = self.reference("best")
        if best and best["source"] == TABLE2:
            values = ", ".join(f"{METRIC_LABELS[m]} {best[m]:.2f}" for m in METRICS if m in best)
            notes.append(
                f"{best['source']} best row for {self.encoder} on {self.dataset}: {best['classifier']}, {values}"
            )
        return ["", *notes] if notes else []

    def to_frame(self) -> pd.DataFrame:
        """The table with run details and reference values as columns (for CSV)."""
        out = self.table.copy()
        refs = [(self.reference(c) or {}).get(m, np.nan) for c, m in zip(out["classifier"], out["metric"])]
        return out.assign(
            reference=refs,
            encoder=self.encoder,
            model=self.model,
            train=self.train_spec,
            test=self.test_spec,
            standardise=self.standardise,
            codes=self.source,
            test_codes=self.test_source or self.source,
        )

    def to_json(self) -> str:
        """The result and its settings as a JSON document."""
        doc = {
            "encoder": self.encoder,
            "model": self.model,
            "codes": self.source,
            "test_codes": self.test_source or self.source,
            "train": self.train_spec,
            "test": self.test_spec,
            "dataset": self.dataset,
            "standardise": self.standardise,
            "seeds": self.seeds,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "dropped": self.dropped,
            "results": [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                for row in self.to_frame()[["classifier", "metric", "mean", "sd", "n_seeds", "reference"]].to_dict(
                    "records"
                )
            ],
        }
        return json.dumps(doc, indent=2)


def compare(results: list[ClassificationResult]) -> str:
    """Several encoders side by side: each one's best classifier by accuracy, with ROC-AUC."""
    lines = [
        "| encoder | model | train | test | scaling | best clf | acc | ROC-AUC | ref best acc / ROC-AUC | ref source |",
        "|" + " --- |" * 10,
    ]
    for r in results:
        name = r.best()
        ref = r.reference("best")
        ref_text = f"{ref['accuracy']:.2f} / {ref['roc_auc']:.2f} ({ref['classifier']})" if ref else "–"
        lines.append(
            f"| {r.encoder} | {r.model} | {r.train_spec} | {r.test_spec} | "
            f"{'std' if r.standardise else 'raw'} | {name} | {_fmt(*r.value(name, 'accuracy'))} | "
            f"{_fmt(*r.value(name, 'roc_auc'))} | {ref_text} | {ref['source'] if ref else '–'} |"
        )
    return "\n".join(lines) + "\n"
