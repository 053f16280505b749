"""Compare the Table 2 cells of two study runs (`results.json` written by `radiolatent
reproduce`): how many are identical, and the largest difference. Used to check that a
refactoring left the study's numbers unchanged.

    python benchmarks/compare_table2.py OLD/results.json NEW/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


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


if __name__ == "__main__":
    main()
