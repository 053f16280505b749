"""The anomaly benchmark ([C] Fig. 8): recall of an interesting class against rank, for
active learning with an oracle standing in for a person (binary or graded, see
`downstream.oracles`), the isolation forest, the flow's likelihood and a random order;
and its plot and table. The curve, its plot and its CSV say which oracle was used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import delayed
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_ACTIVE, ActiveLearningConfig
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_csv
from radiolatent.core.workers import parallel
from radiolatent.data.labels import LabelStore
from radiolatent.downstream.active import check_features, run_session
from radiolatent.downstream.anomaly import RANK_METHODS, isolation_forest_scores, random_scores, ranking
from radiolatent.downstream.oracles import ColumnOracle, ScoreOracle, oracle_for


def recall_curve(scores, interesting, tie_seed: int = 0) -> np.ndarray:
    """Recall of the interesting rows among the top k, for k = 1..N, ranking by `scores`
    (ties in random order)."""
    interesting = np.asarray(interesting, dtype=bool)
    if not interesting.any():
        raise InputError("interesting", "no interesting rows: recall is undefined")
    return np.cumsum(interesting[ranking(scores, tie_seed)]) / interesting.sum()


def recall_at(scores, interesting, k: int) -> float:
    curve = recall_curve(scores, interesting)
    return float(curve[min(k, len(curve)) - 1])


# ---------------------------------------------------------------------------
# Benchmark: recall against rank with an oracle ([C] Fig. 8)
# ---------------------------------------------------------------------------


@dataclass
class RecallCurves:
    """Recall-against-rank curves per method, one per seed; `oracle` says who gave the
    active learner its labels (its `description`)."""

    interesting: np.ndarray
    curves: dict[str, list[np.ndarray]]
    oracle: str = "binary"

    def recall_table(self, k: int) -> pd.DataFrame:
        """Recall in the top k per method: mean, spread and range over seeds; plus the ideal."""
        n_interesting = int(self.interesting.sum())
        rows = [
            {
                "method": "ideal",
                "runs": 1,
                "mean": min(k, n_interesting) / n_interesting,
                "sd": 0.0,
                "min": min(k, n_interesting) / n_interesting,
                "max": min(k, n_interesting) / n_interesting,
            }
        ]
        for method, curves in self.curves.items():
            values = np.array([curve[min(k, len(curve)) - 1] for curve in curves])
            rows.append(
                {
                    "method": method,
                    "runs": len(values),
                    "mean": values.mean(),
                    "sd": values.std(),
                    "min": values.min(),
                    "max": values.max(),
                }
            )
        table = pd.DataFrame(rows)
        table.insert(1, "k", k)
        table["oracle"] = self.oracle
        return table


#: ranking methods by their cost on a benchmark's rows (a flow fit is ~10x an active session).
_SLOWEST_FIRST = ("density", "active", "iforest")


def recall_benchmark(
    X,
    ids,
    interesting,
    config: ActiveLearningConfig = DEFAULT_ACTIVE,
    seeds=(0, 1, 2),
    density_config=None,
    labels_dir: str | Path | None = None,
    methods=RANK_METHODS,
    progress: bool = False,
    density_model=None,
    oracle: ScoreOracle | None = None,
) -> RecallCurves:
    """Rank the rows by each method and record recall of `interesting` against rank.

    active: a labelling session with `oracle` (default the binary `ColumnOracle`:
    interesting = max score, else min; or a graded one from `downstream.oracles`),
    `config.budget` labels, then every row ranked by the GP's predicted score; its labels
    go to `labels_dir/labels-seed<S>.jsonl` (replaced if present). iforest / density /
    random are label-free; density fits a MAF to the rows themselves, once per seed, unless
    a fitted `density_model` is given, which scores them once (fitting is the slow part).
    Every other method runs once per seed.
    """
    import tempfile

    X = check_features(X)
    interesting = np.asarray(interesting, dtype=bool)
    ids = [str(i) for i in ids]
    oracle = oracle or ColumnOracle(interesting)
    if len(oracle.scores) != len(X):
        raise InputError("oracle", f"scores {len(oracle.scores)} rows, the codes have {len(X)}")
    runs = [(m, s) for m in methods for s in (seeds[:1] if m == "density" and density_model is not None else seeds)]
    # flow fits first, so the last one does not run alone while the other worker idles
    runs.sort(key=lambda run: _SLOWEST_FIRST.index(run[0]) if run[0] in _SLOWEST_FIRST else len(_SLOWEST_FIRST))
    curves: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(labels_dir) if labels_dir is not None else Path(scratch)
        # the rankings are independent and seeded, so worker processes give the same curves
        tasks = (
            delayed(_benchmark_scores)(method, X, ids, oracle, config, seed, density_config, folder, density_model)
            for method, seed in runs
        )
        results = parallel(min(config.jobs, len(runs)), return_as="generator")(tasks)
        for (method, seed), scores in tqdm(zip(runs, results), total=len(runs), desc="rankings", disable=not progress):
            curves[method].append(recall_curve(scores, interesting, tie_seed=seed))
    return RecallCurves(interesting, curves, oracle.description)


def _benchmark_scores(
    method, X, ids, oracle: ScoreOracle, config, seed, density_config, folder: Path, density_model=None
) -> np.ndarray:
    if method == "active":
        store_path = folder / f"labels-seed{seed}.jsonl"
        store_path.unlink(missing_ok=True)  # a benchmark starts from no labels
        result = run_session(X, ids, LabelStore(store_path), oracle, config, seed, False)
        assert result.mean is not None  # a score oracle never stops a session, so rows were labelled
        return result.mean
    if method == "iforest":
        return isolation_forest_scores(X, seed, config)
    if method == "density":
        from radiolatent.config import DEFAULT_DENSITY
        from radiolatent.downstream.density import DensityModel

        model = density_model or DensityModel(density_config or DEFAULT_DENSITY).fit(X, seed=seed)
        return -model.score_samples(X)  # least likely first
    if method == "random":
        return random_scores(len(X), seed)
    raise InputError(method, f"unknown ranking method; choose from {RANK_METHODS}")


_METHOD_STYLE = {
    "active": ("tab:red", "active learning (GP)"),
    "iforest": ("tab:blue", "isolation forest"),
    "density": ("tab:green", "MAF likelihood"),
    "random": ("grey", "random order"),
}


def plot_recall(
    curves: RecallCurves, path: str | Path, title: str = "recall against rank", budget: int | None = None
) -> Path:
    """Recall of the interesting class against rank per method (mean over seeds, min-max
    band); the legend names the oracle that labelled for the active learner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.core.fileio import save_figure

    n = len(curves.interesting)
    ranks = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=100)
    ideal = np.minimum(ranks, curves.interesting.sum()) / curves.interesting.sum()
    ax.plot(ranks, ideal, color="black", ls=":", lw=1, label="ideal")
    for method, runs in curves.curves.items():
        colour, name = _METHOD_STYLE.get(method, (None, method))
        if method == "active":
            name = f"{name}, oracle {curves.oracle}"
        stack = np.stack(runs)
        ax.plot(ranks, stack.mean(axis=0), color=colour, label=f"{name} ({len(runs)} run{'s' * (len(runs) > 1)})")
        if len(runs) > 1:
            ax.fill_between(ranks, stack.min(axis=0), stack.max(axis=0), color=colour, alpha=0.2, lw=0)
    if budget:
        ax.axvline(budget, color="tab:red", ls="--", lw=0.8, alpha=0.6, label=f"label budget {budget}")
    ax.set_xlabel("rank (sources looked at)")
    ax.set_ylabel("recall of the interesting class")
    ax.set_xlim(1, n)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def benchmark_rows(
    rows: pd.DataFrame,
    interesting: str,
    out: str | Path,
    *,
    k: int = 100,
    config: ActiveLearningConfig = DEFAULT_ACTIVE,
    seeds=(0, 1, 2),
    density_config=None,
    density_model=None,
    in_spec: str = "rows",
    source: str = "codes",
    progress: bool = True,
    oracle: str = "binary",
) -> tuple[RecallCurves, pd.DataFrame, list[Path]]:
    """`recall_benchmark` on codes-table rows, the rows whose label_name is `interesting`
    being the class sought and `oracle` (a spec of `downstream.oracles.oracle_for`:
    binary, column:NAME[:LOW:HIGH] or rule:...) giving the active learner its labels;
    writes recall.png and recall_at_k.csv (recall in the top k, with the oracle) into
    `out` and returns (curves, that table, the files written)."""
    from radiolatent.data.codes import code_matrix

    names = rows["label_name"].astype(str)
    if interesting not in set(names):
        raise InputError(source, f"no '{interesting}' rows in {in_spec} (labels: {sorted(set(names))})")
    out = Path(out)
    wanted = (names == interesting).to_numpy()
    asked = oracle_for(rows, oracle, wanted)
    curves = recall_benchmark(
        code_matrix(rows),
        rows["id"],
        wanted,
        config,
        list(seeds),
        density_config,
        out,
        progress=progress,
        density_model=density_model,
        oracle=asked,
    )
    table = curves.recall_table(k)
    title = f"{in_spec}: recall of {interesting} against rank\noracle: {curves.oracle}"
    written = [
        plot_recall(curves, out / "recall.png", title=title, budget=config.budget),
        write_csv(table, out / "recall_at_k.csv"),
    ]
    return curves, table, written
