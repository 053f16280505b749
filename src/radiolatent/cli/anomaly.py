"""`radiolatent anomaly label | rank | benchmark`: [C]'s active-learning anomaly search, the
label-free rankings and their recall benchmark. The work is in downstream.active,
downstream.anomaly, downstream.oracles and downstream.recall."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from radiolatent.cli import argtypes
from radiolatent.cli.argtypes import add_rows_arguments
from radiolatent.cli.density import add_density_arguments
from radiolatent.config import DEFAULT_ACTIVE, ReproduceConfig
from radiolatent.core.fileio import write_csv
from radiolatent.data import inputs
from radiolatent.downstream.oracles import ORACLE_FORMS

#: the benchmark's defaults are the study's ([C]'s Figure 8: Bent sources, recall in the top 100)
_STUDY = ReproduceConfig()


def register(subparsers: argparse._SubParsersAction) -> None:
    anomaly = subparsers.add_parser("anomaly", help="active-learning anomaly search and label-free rankings ([C])")
    sub = anomaly.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)
    _register_label(sub)
    _register_rank(sub)
    _register_benchmark(sub)


def _register_label(sub) -> None:
    p = sub.add_parser("label", help="label sources 0-5 at the terminal, chosen by active learning ([C])")
    add_rows_arguments(p, "pool", "rows to search")
    p.add_argument(
        "--labels",
        type=argtypes.output_of("jsonl"),
        default="labels.jsonl",
        metavar="PATH",
        help="label file (JSON lines, appended to; a rerun resumes from it)",
    )
    p.add_argument(
        "--thumbs",
        type=argtypes.output_dir,
        default="thumbs",
        metavar="DIR",
        help="folder for the PNG of each source shown",
    )
    _add_active_settings(p, budget="labels to collect in all")
    p.add_argument("--by", default="person", help="name stored with each label (default person)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.set_defaults(handler=cmd_anomaly_label)


def _register_rank(sub) -> None:
    p = sub.add_parser("rank", help="rank sources from most to least interesting / anomalous")
    add_rows_arguments(p, "pool", "rows to rank")
    p.add_argument(
        "--method",
        choices=("active", "iforest", "density", "random"),
        default="active",
        help="active: GP on the labels in --labels; iforest; density: lowest MAF likelihood first; random",
    )
    p.add_argument("--labels", default="labels.jsonl", metavar="PATH", help="label file for --method active")
    add_density_arguments(p, "for --method density: a `density fit` folder (default: fit one on these rows)")
    _add_active_settings(p)
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "--out",
        type=argtypes.output_of("csv"),
        default="ranked.csv",
        metavar="CSV",
        help="ranked rows (default ranked.csv)",
    )
    p.set_defaults(handler=cmd_anomaly_rank)


def _register_benchmark(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="recall of a labelled class against rank, with an oracle giving the labels ([C] Fig. 8)"
    )
    add_rows_arguments(p, "first-galaxy", "rows")
    p.add_argument(
        "--interesting",
        default=_STUDY.anomaly_interesting,
        metavar="LABEL_NAME",
        help=f"label_name of the interesting class (default {_STUDY.anomaly_interesting})",
    )
    _add_active_settings(p, budget="labels the active learner asks for")
    p.add_argument(
        "--oracle",
        default="binary",
        metavar="SPEC",
        help=f"who labels for the active learner: {ORACLE_FORMS}. binary (default): 5 for the interesting "
        "class, else 0; column:las_arcsec:10:300 grades 0-5 from a number; rule:Bent=5,FRI=2 grades by label "
        "([C] graded 0-5 from vote fractions)",
    )
    p.add_argument("--seeds", default="0,1,2", help="seeds for the random / iforest / density rankings")
    add_density_arguments(
        p, "a `density fit` folder to rank by (scored once); default: fit a MAF per seed on these rows"
    )
    p.add_argument(
        "-k",
        type=argtypes.positive_int,
        default=_STUDY.anomaly_recall_at,
        help=f"report recall in the top k (default {_STUDY.anomaly_recall_at})",
    )
    p.add_argument(
        "--out",
        type=argtypes.output_dir,
        default="anomaly-benchmark",
        metavar="DIR",
        help="folder for the PNG, CSV and labels",
    )
    p.set_defaults(handler=cmd_anomaly_benchmark)


def _add_active_settings(p: argparse.ArgumentParser, budget: str = "") -> None:
    """--config/--set of the active learner; with `budget` (its help), also --budget."""
    argtypes.add_settings_arguments(p, "active", "default", "the active learner's settings ([C]'s)", "ei_tradeoff=0.1")
    if budget:
        p.add_argument(
            "--budget", type=argtypes.positive_int, default=None, help=f"{budget} (default {DEFAULT_ACTIVE.budget})"
        )


def _active_config(args: argparse.Namespace):
    """--config/--set with --budget, which wins over --set budget=..."""
    return argtypes.settings(args, "active", given={"budget": args.budget})


def _rows(args):
    from radiolatent.data.codes import code_matrix, read_codes, select

    rows = select(read_codes(args.codes), args.in_spec)
    return rows, code_matrix(rows)


def cmd_anomaly_label(args: argparse.Namespace) -> int:
    from radiolatent.data.labels import LabelStore, known_labels
    from radiolatent.downstream.active import run_session
    from radiolatent.downstream.oracles import TerminalOracle

    config = _active_config(args)
    rows, X = _rows(args)
    store = LabelStore(args.labels)
    store.check_writable()
    done = len(known_labels(store, rows["id"]))
    print(f"{len(rows)} sources in {args.in_spec}; {done} already labelled in {args.labels}; budget {config.budget}")
    oracle = TerminalOracle(rows, inputs.load_images_for(rows), Path(args.thumbs), store, config.budget, done)
    oracle.name = args.by  # stored with each label
    result = run_session(X, rows["id"], store, oracle, config, seed=args.seed)
    state = "budget reached" if result.finished else "stopped; rerun the same command to resume"
    print(f"{len(result.labelled)} labelled ({result.asked} this session), {state}")
    print(f"labels in {args.labels}")
    return 0


def cmd_anomaly_rank(args: argparse.Namespace) -> int:
    from radiolatent.downstream.anomaly import rank_rows
    from radiolatent.downstream.density import density_config

    rows, _ = _rows(args)
    flow = _given_density_model(rows, args) if args.method == "density" else None
    ranked = rank_rows(
        rows,
        args.method,
        labels=args.labels,
        density_model=flow,
        density_config=density_config(args.density_config),
        seed=args.seed,
        in_spec=args.in_spec,
        config=argtypes.settings(args, "active"),
    )
    path = write_csv(ranked, args.out)
    print(ranked.head(10).to_string(index=False))
    print(f"wrote {path}")
    return 0


def _given_density_model(rows: pd.DataFrame, args):
    """The flow in --density-model, checked against the rows' encoder; None without one."""
    from radiolatent.downstream.density_tables import load_for

    return load_for(args.density_model, rows, args.codes) if args.density_model else None


def cmd_anomaly_benchmark(args: argparse.Namespace) -> int:
    from radiolatent.downstream.density import density_config
    from radiolatent.downstream.recall import benchmark_rows

    config = _active_config(args)
    rows, X = _rows(args)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    curves, table, written = benchmark_rows(
        rows,
        args.interesting,
        args.out,
        k=args.k,
        config=config,
        seeds=seeds,
        density_config=density_config(args.density_config),
        density_model=_given_density_model(rows, args),
        in_spec=args.in_spec,
        source=args.codes,
        oracle=args.oracle,
    )
    print(
        f"{args.in_spec}: {int(curves.interesting.sum())} of {len(X)} rows are {args.interesting}; "
        f"oracle: {curves.oracle}"
    )
    print(table.to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    sys.stdout.flush()
    return 0
