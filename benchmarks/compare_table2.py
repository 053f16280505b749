"""Compare the Table 2 cells of two study runs (`results.json` written by `radiolatent
reproduce`): how many are identical, and the largest difference. Used to check that a
refactoring left the study's numbers unchanged, and how far a change of arithmetic moved
them: the cells whose accuracy moved by more than one test image (1 / the test set's size),
and the summary's best rows of both.

    python benchmarks/compare_table2.py OLD/results.json NEW/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def test_sizes(path: str) -> dict[tuple[str, str], int]:
    """(stage, dataset) -> the number of test images."""
    stages: dict[str, Any] = json.loads(Path(path).read_text())["stages"]
    return {
        (stage, dataset): int(table["n_test"])
        for stage, sets in stages.items()
        if stage.startswith("table2-")
        for dataset, table in sets.items()
        if isinstance(table, dict) and "n_test" in table
    }


def summary_rows(path: str) -> dict[tuple[str, str, str], str]:
    """(encoder, dataset, view) -> "classifier accuracy ROC-AUC" of the summary's best rows."""
    rows = json.loads(Path(path).read_text()).get("summary", [])
    return {
        (
            str(r["encoder"]),
            str(r["dataset"]),
            str(r["view"]),
        ): f"{r['classifier']} {r['accuracy']:.3f} {r['roc_auc']:.3f}"
        for r in rows
        if isinstance(r, dict) and r.get("accuracy") is not None
    }


def table2_cells(path: str) -> dict[tuple[str, str, str, str], float]:
    """(stage, dataset, classifier, metric) -> mean, for every table2-* stage."""
    stages: dict[str, Any] = json.loads(Path(path).read_text())["stages"]
    cells = {}
    for stage, sets in stages.items():
        if not stage.startswith("table2-"):
            continue
        for dataset, table in sets.items():
            if isinstance(table, dict) and "rows" in table:
                for row in table["rows"]:
                    cells[(stage, dataset, row["classifier"], row["metric"])] = row["mean"]
    return cells


def main() -> None:
    old, new = table2_cells(sys.argv[1]), table2_cells(sys.argv[2])
    shared = sorted(set(old) & set(new))
    diffs = {key: abs(old[key] - new[key]) for key in shared}
    same = sum(d < 1e-9 for d in diffs.values())
    worst = max(diffs.items(), key=lambda item: item[1], default=(None, 0.0))
    print(f"{same} of {len(shared)} shared Table 2 cells identical; largest difference {worst[1]:.3g} at {worst[0]}")
    print(f"only in the first: {len(set(old) - set(new))}; only in the second: {len(set(new) - set(old))}")
    sizes = test_sizes(sys.argv[2])
    accuracy = [key for key in shared if key[3] == "accuracy" and (key[0], key[1]) in sizes]
    beyond = [key for key in accuracy if diffs[key] > 1.0 / sizes[(key[0], key[1])] + 1e-9]
    print(f"accuracy cells moved by more than one test image: {len(beyond)} of {len(accuracy)}")
    for key in beyond:
        print(f"  {key}: {old[key]:.4f} -> {new[key]:.4f}")
    old_best, new_best = summary_rows(sys.argv[1]), summary_rows(sys.argv[2])
    changed = [key for key in sorted(set(old_best) & set(new_best)) if old_best[key] != new_best[key]]
    print(f"summary's best rows changed: {len(changed)} of {len(set(old_best) & set(new_best))}")
    for key in changed:
        print(f"  {' / '.join(key)}: {old_best[key]} -> {new_best[key]}")


if __name__ == "__main__":
    main()
