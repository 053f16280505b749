"""`radiolatent density fit | score | plot` ([A] section 5) and
`radiolatent anomaly label | rank | benchmark` ([C]'s active-learning anomaly search)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.cli import argtypes
from radiolatent.cli.downstream import add_rows_arguments
from radiolatent.config import DEFAULT_ACTIVE, DENSITY_CONFIGS
from radiolatent.fileio import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    density = subparsers.add_parser("density", help="MAF density of the codes and out-of-distribution ranking ([A] sec. 5)")
    sub = density.add_subparsers(dest="density_command", metavar="ACTION", required=True)
    _register_density_fit(sub)
    _register_density_score(sub)
    _register_density_plot(sub)
    anomaly = subparsers.add_parser("anomaly", help="active-learning anomaly search and label-free rankings ([C])")
    sub = anomaly.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)
    _register_anomaly_label(sub)
    _register_anomaly_rank(sub)
    _register_anomaly_benchmark(sub)


def _register_density_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit a Masked Autoregressive Flow to one set's codes")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--on", default="pool", metavar="SPEC", help="rows to fit on (default pool, as [A] used RGZ DR1)")
    p.add_argument("--config", default="cpu", choices=sorted(DENSITY_CONFIGS),
                   help="tiny (tests), cpu (default, minutes on 2 cores) or paper (48 x 2 x 512, 600 epochs)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a setting, e.g. epochs=50 or hidden=128,128 (repeatable)")
    p.add_argument("--out", type=argtypes.output_dir, default="density-model", metavar="DIR", help="model folder (default density-model)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    _add_device_argument(p, "fit the flow")
    p.set_defaults(handler=cmd_density_fit)


def _add_device_argument(p, what: str) -> None:
    from radiolatent.cli.train import add_device_argument

    add_device_argument(p, what)


def _register_density_score(sub) -> None:
    p = sub.add_parser("score", help="log-likelihood of every row of a codes table (and of generated images)")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `density fit`")
    p.add_argument("--sets", default=None, metavar="SPEC,...",
                   help="comma-separated specs to score (default: every set in the table)")
    p.add_argument("--generated", type=argtypes.non_negative_int, default=0, metavar="N",
                   help="also decode N samples of the VDVAE prior, embed them and score them as set 'generated'")
    p.add_argument("--vdvae", default=None, metavar="PATH", help="VDVAE that generates (default: the shipped one)")
    p.add_argument("--encoder", default=None, metavar="PATH",
                   help="model that embeds generated images (default: the table's own, if rebuildable)")
    p.add_argument("--temperature", type=argtypes.positive_float, default=1.0, help="prior temperature of generated samples (default 1)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("--out", type=argtypes.output_file, default="loglik.csv", metavar="CSV", help="id,set,split,label,label_name,loglik")
    _add_device_argument(p, "score")
    p.set_defaults(handler=cmd_density_score)


def _register_density_plot(sub) -> None:
    p = sub.add_parser("plot", help="histograms (Fig. 11), lowest-likelihood gallery (12), search from the lowest (13)")
    p.add_argument("--scores", required=True, metavar="CSV", help="output of `density score`")
    p.add_argument("--codes", required=True, metavar="PATH", help="the codes table that was scored")
    p.add_argument("--set", dest="gallery_set", default="mirabest:confident", metavar="SET",
                   help="set whose lowest-likelihood sources are shown (default mirabest:confident, i.e. MBC)")
    p.add_argument("-n", type=argtypes.positive_int, default=16, help="sources in the gallery (default 16)")
    p.add_argument("--in", dest="in_spec", default="pool", metavar="SPEC", help="set searched from the lowest one")
    p.add_argument("-k", type=argtypes.positive_int, default=8, help="search matches (default 8)")
    p.add_argument("--metric", default="cosine", choices=("cosine", "euclidean-pca"))
    p.add_argument("--out", type=argtypes.output_dir, default="density-figures", metavar="DIR", help="folder for the PNGs and CSVs")
    p.set_defaults(handler=cmd_density_plot)


def _add_density_arguments(p, model_help: str) -> None:
    p.add_argument("--density-model", default=None, metavar="DIR", help=model_help)
    p.add_argument("--density-config", default="cpu", choices=sorted(DENSITY_CONFIGS),
                   help="MAF size when one is fitted here (default cpu)")


def _register_anomaly_label(sub) -> None:
    p = sub.add_parser("label", help="label sources 0-5 at the terminal, chosen by active learning ([C])")
    add_rows_arguments(p, "pool", "rows to search")
    p.add_argument("--labels", type=argtypes.output_file, default="labels.jsonl", metavar="PATH",
                   help="label file (JSON lines, appended to; a rerun resumes from it)")
    p.add_argument("--thumbs", type=argtypes.output_dir, default="thumbs", metavar="DIR", help="folder for the PNG of each source shown")
    p.add_argument("--budget", type=argtypes.positive_int, default=DEFAULT_ACTIVE.budget, help="labels to collect in all")
    p.add_argument("--by", default="person", help="name stored with each label (default person)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.set_defaults(handler=cmd_anomaly_label)


def _register_anomaly_rank(sub) -> None:
    p = sub.add_parser("rank", help="rank sources from most to least interesting / anomalous")
    add_rows_arguments(p, "pool", "rows to rank")
    p.add_argument("--method", choices=("active", "iforest", "density", "random"), default="active",
                   help="active: GP on the labels in --labels; iforest; density: lowest MAF likelihood first; random")
    p.add_argument("--labels", default="labels.jsonl", metavar="PATH", help="label file for --method active")
    _add_density_arguments(p, "for --method density: a `density fit` folder (default: fit one on these rows)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("--out", type=argtypes.output_file, default="ranked.csv", metavar="CSV", help="ranked rows (default ranked.csv)")
    p.set_defaults(handler=cmd_anomaly_rank)


def _register_anomaly_benchmark(sub) -> None:
    p = sub.add_parser("benchmark", help="recall of a labelled class against rank, with a label-column oracle ([C] Fig. 8)")
    add_rows_arguments(p, "first-galaxy", "rows")
    p.add_argument("--interesting", default="Bent", metavar="LABEL_NAME",
                   help="label_name of the interesting class (default Bent)")
    p.add_argument("--budget", type=argtypes.positive_int, default=DEFAULT_ACTIVE.budget)
    p.add_argument("--seeds", default="0,1,2", help="seeds for the random / iforest / density rankings")
    _add_density_arguments(p, "a `density fit` folder to rank by (scored once); default: fit a MAF per seed on these rows")
    p.add_argument("-k", type=argtypes.positive_int, default=100, help="report recall in the top k (default 100)")
    p.add_argument("--out", type=argtypes.output_dir, default="anomaly-benchmark", metavar="DIR", help="folder for the PNG, CSV and labels")
    p.set_defaults(handler=cmd_anomaly_benchmark)


# ---------------------------------------------------------------------------
# density
# ---------------------------------------------------------------------------


def cmd_density_fit(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes, select
    from radiolatent.distributed import device
    from radiolatent.downstream.density import density_config, fit_table, plot_history

    rows = select(read_codes(args.codes), args.on)
    config = density_config(args.config, args.set)
    where = device(args.device)
    print(f"fitting a MAF ('{config.name}': {config.transforms} blocks of {list(config.hidden)}) "
          f"on {len(rows)} rows of {args.on}")
    model = fit_table(rows, config, seed=args.seed, device=where, source=args.codes, on=args.on,
                      progress=True)
    out = model.save(args.out)
    curve = plot_history(model.history, out / "history.png", title=f"MAF on {args.on}: mean log-likelihood per row")
    last = model.history[-1]
    print(f"{len(model.history)} epochs in {last['seconds']:.0f} s; best epoch {model.best_epoch}: held-out "
          f"log-likelihood {model.valid_loglik:.2f} nats/row ({model.info['n_valid']} rows held out)")
    print(f"wrote {out}")
    print(f"wrote {curve}")
    return 0


def cmd_density_score(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes
    from radiolatent.distributed import device
    from radiolatent.downstream.density import load_for, score_table

    table = read_codes(args.codes)
    model = load_for(args.model, table, args.codes, device(args.device))
    sets = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    scores = score_table(table, model, sets, generated=args.generated, vdvae=args.vdvae, encoder=args.encoder,
                         temperature=args.temperature, seed=args.seed)
    path = write_csv(scores, args.out)
    summary = scores.groupby("set", sort=False)["loglik"].describe()[["count", "mean", "50%", "min", "max"]]
    print(summary.round(2).to_string())
    print(f"wrote {path}")
    return 0


def cmd_density_plot(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes
    from radiolatent.downstream.density import density_figures, read_scores

    scores = read_scores(args.scores)
    table = read_codes(args.codes)
    lowest, written = density_figures(scores, table, args.out, args.gallery_set, args.n, args.in_spec, args.k,
                                      args.metric, source=args.scores)
    print(lowest.head(10).to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------
# anomaly
# ---------------------------------------------------------------------------


def _rows(args):
    from radiolatent.codes import code_matrix, read_codes, select

    rows = select(read_codes(args.codes), args.in_spec)
    return rows, code_matrix(rows)


class TerminalOracle:
    """A person at the terminal: shows each source's PNG path and metadata, reads 0-5 or q."""

    name = "person"

    def __init__(self, rows: pd.DataFrame, images: np.ndarray, thumbs: Path, store, budget: int,
                 done: int = 0, ask=None, say=print):
        self.rows, self.images, self.thumbs = rows, images, Path(thumbs)
        self.store, self.budget, self.done = store, budget, done
        # looked up at call time, so a replaced builtins.input (tests, wrappers) is used
        self.ask = ask or (lambda prompt: input(prompt))
        self.say = say
        self.low, self.high = store.min_score, store.max_score

    def __call__(self, row: int) -> float | None:
        meta = self.rows.iloc[row]
        png = self._thumbnail(row, meta)
        self.say(f"[{self.done + 1}/{self.budget}] {meta['id']}  {_describe(meta)}")
        self.say(f"  image: {png}")
        while True:
            try:
                answer = self.ask(f"  interest {self.low:g}-{self.high:g} (q to quit): ").strip().lower()
            except EOFError:
                return None
            if answer in ("q", "quit", "exit"):
                return None
            try:
                score = float(answer)
            except ValueError:
                score = float("nan")
            if np.isfinite(score) and self.low <= score <= self.high:
                self.done += 1
                return score
            self.say(f"  please type a number from {self.low:g} to {self.high:g}, or q")

    def _thumbnail(self, row: int, meta: pd.Series) -> Path:
        from radiolatent.data.grid import caption_for, image_grid
        from radiolatent.downstream.density import safe_name

        path = self.thumbs / f"{safe_name(str(meta['id']))}.png"
        return image_grid(self.images[row : row + 1], [caption_for(meta)], path, title=str(meta["id"]))


def _describe(meta: pd.Series) -> str:
    from radiolatent.downstream.density import label_text

    parts = [f"dataset={meta.get('dataset', '')}", f"split={meta.get('split', '')}",
             f"label={label_text(meta.get('label_name'))}"]
    for key, unit in (("las_arcsec", "″"), ("ra", "°"), ("dec", "°")):
        value = meta.get(key)
        if value is not None and np.isfinite(float(value)):
            parts.append(f"{key}={float(value):.4g}{unit}")
    return "  ".join(parts)


def cmd_anomaly_label(args: argparse.Namespace) -> int:
    from radiolatent import embedding
    from radiolatent.downstream.anomaly import LabelStore, known_labels, run_session

    rows, X = _rows(args)
    store = LabelStore(args.labels)
    config = dataclasses.replace(DEFAULT_ACTIVE, budget=args.budget)
    done = len(known_labels(store, rows["id"]))
    print(f"{len(rows)} sources in {args.in_spec}; {done} already labelled in {args.labels}; budget {args.budget}")
    oracle = TerminalOracle(rows, embedding.load_images_for(rows), Path(args.thumbs), store, args.budget, done)
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
    ranked = rank_rows(rows, args.method, labels=args.labels, density_model=flow,
                       density_config=density_config(args.density_config), seed=args.seed, in_spec=args.in_spec)
    path = write_csv(ranked, args.out)
    print(ranked.head(10).to_string(index=False))
    print(f"wrote {path}")
    return 0


def _given_density_model(rows: pd.DataFrame, args):
    """The flow in --density-model, checked against the rows' encoder; None without one."""
    from radiolatent.downstream.density import load_for

    return load_for(args.density_model, rows, args.codes) if args.density_model else None


def cmd_anomaly_benchmark(args: argparse.Namespace) -> int:
    from radiolatent.downstream.anomaly import benchmark_rows
    from radiolatent.downstream.density import density_config

    rows, X = _rows(args)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    config = dataclasses.replace(DEFAULT_ACTIVE, budget=args.budget)
    curves, table, written = benchmark_rows(
        rows, args.interesting, args.out, k=args.k, config=config, seeds=seeds,
        density_config=density_config(args.density_config), density_model=_given_density_model(rows, args),
        in_spec=args.in_spec, source=args.codes)
    print(f"{args.in_spec}: {int(curves.interesting.sum())} of {len(X)} rows are {args.interesting}")
    print(table.to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    sys.stdout.flush()
    return 0
