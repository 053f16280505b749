"""The supervised ceiling in the study: rows in the classifier results' columns, from the
shipped table (measured by `radiolatent train supervised`, docs/results.md gives the
command) or trained now (`reproduce --retrain-ceiling`), and the summary rows the report shows.
Light on imports (no torch) unless it trains: the report reads it."""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

from radiolatent.config.supervised import ENCODER
from radiolatent.downstream.published import other_reference

#: the measured ceiling shipped with the package (one row per labelled set and seed).
SHIPPED_TABLE = "weights/supervised/ceiling.csv"
#: the published number beside each dataset's ceiling (reference.OTHER_REFERENCES): [B]'s
#: supervised ResNet-18 on MiraBest; a transfer-learned CNN on FR-DEEP NVSS ([A] quotes it).
CEILING_REFERENCE = {
    "mbc": ("supervised-resnet18", "[B] supervised ResNet-18"),
    "nvss": ("transfer-cnn-nvss", "transfer-learned CNN"),
}


def has_shipped_table() -> bool:
    return resources.files("radiolatent").joinpath(SHIPPED_TABLE).is_file()


def shipped_table_text() -> str:
    return resources.files("radiolatent").joinpath(SHIPPED_TABLE).read_text()


def shipped_rows() -> pd.DataFrame:
    """The measured ceiling shipped with the package."""
    return pd.read_csv(io.StringIO(shipped_table_text()))


def ceiling_rows(retrain: bool = False, seeds: int = 3, progress: bool = True) -> pd.DataFrame:
    """The supervised ceiling's rows (dataset, accuracy, roc_auc, specificity, recall, seed,
    then the run's own columns): the shipped table, or trained now with `retrain`."""
    if not retrain:
        return shipped_rows()
    from radiolatent.config.supervised import SUPERVISED_SETS
    from radiolatent.studies.supervised import ceiling_run, run_ceiling

    return run_ceiling(list(SUPERVISED_SETS), seeds, ceiling_run(), progress=progress)


def summary_rows(rows: pd.DataFrame) -> list[dict]:
    """The ceiling as the study summary's rows (report_table2.summary's keys): one per
    dataset, mean and sd over seeds, the published supervised number beside it."""
    out = []
    for dataset, group in rows.groupby("dataset", sort=False):
        name, label = CEILING_REFERENCE.get(str(dataset), ("", ""))
        ref = other_reference(name) or {}
        several = len(group) > 1
        out.append(
            {
                "encoder": ENCODER,
                "dataset": dataset,
                "view": "single",
                "classifier": f"supervised, {len(group)} seed{'s' if several else ''}",
                "like_for_like": False,
                "accuracy": float(group["accuracy"].mean()),
                "accuracy_sd": float(group["accuracy"].std()) if several else None,
                "roc_auc": float(group["roc_auc"].mean()),
                "roc_auc_sd": float(group["roc_auc"].std()) if several else None,
                "paper_accuracy": ref.get("accuracy"),
                "paper_roc_auc": ref.get("roc_auc"),
                "paper_classifier": label if ref else None,
            }
        )
    return out
