"""`radiolatent density fit | score | plot` ([A] section 5) and
`radiolatent anomaly label | rank | benchmark` ([C]'s active-learning anomaly search)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.cli import argtypes
from radiolatent.cli.downstream import add_rows_arguments
from radiolatent.config import DEFAULT_ACTIVE, DENSITY_CONFIGS
from radiolatent.errors import InputError
from radiolatent.fileio import write_csv

#: columns of `density score`'s CSV (label_name added for captions).
SCORE_COLUMNS = ("id", "set", "split", "label", "label_name", "loglik")
GENERATED_SET = "generated"


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
    from radiolatent.cli.models import add_device_argument

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


def _density_config(name: str, assignments: list[str]):
    from radiolatent.config import get_density_config, override

    try:
        return override(get_density_config(name), assignments)
    except (KeyError, ValueError) as exc:
        raise InputError("--config/--set", str(exc).strip("'\"")) from None


def cmd_density_fit(args: argparse.Namespace) -> int:
    from radiolatent.codes import code_columns, code_matrix, read_codes, select
    from radiolatent.downstream.density import DensityModel, plot_history

    table = read_codes(args.codes)
    rows = select(table, args.on)
    from radiolatent.distributed import device

    config = _density_config(args.config, args.set)
    model = DensityModel(config, device(args.device))
    model.info.update(codes=str(args.codes), on=args.on, model=str(rows["model"].iloc[0]),
                      columns=len(code_columns(rows)), seed=args.seed)
    print(f"fitting a MAF ('{config.name}': {config.transforms} blocks of {list(config.hidden)}) "
          f"on {len(rows)} rows of {args.on}")
    model.fit(code_matrix(rows), seed=args.seed, progress=True)
    out = model.save(args.out)
    curve = plot_history(model.history, out / "history.png", title=f"MAF on {args.on}: mean log-likelihood per row")
    last = model.history[-1]
    print(f"{len(model.history)} epochs in {last['seconds']:.0f} s; best epoch {model.best_epoch}: held-out "
          f"log-likelihood {model.valid_loglik:.2f} nats/row ({model.info['n_valid']} rows held out)")
    print(f"wrote {out}")
    print(f"wrote {curve}")
    return 0


def cmd_density_score(args: argparse.Namespace) -> int:
    from radiolatent.codes import code_matrix, read_codes, select
    from radiolatent.downstream.density import DensityModel

    from radiolatent.distributed import device

    table = read_codes(args.codes)
    model = DensityModel.load(args.model, device(args.device))
    _check_same_encoder(model, table, args)
    if args.sets:
        parts = [(spec, select(table, spec)) for spec in (s.strip() for s in args.sets.split(",")) if spec]
    else:
        parts = [(name, table[table["set"] == name]) for name in table["set"].astype(str).unique()]
    frames = [_scored(rows, name, model.score_samples(code_matrix(rows))) for name, rows in parts]
    if args.generated > 0:
        frames.append(_generated_scores(table, model, args))
    scores = pd.concat(frames, ignore_index=True)
    path = write_csv(scores, args.out)
    summary = scores.groupby("set", sort=False)["loglik"].describe()[["count", "mean", "50%", "min", "max"]]
    print(summary.round(2).to_string())
    print(f"wrote {path}")
    return 0


def _check_same_encoder(model, table: pd.DataFrame, args) -> None:
    """A density fitted on one encoder's codes means nothing for another's."""
    fitted_on = model.info.get("model")
    made_by = sorted(table["model"].astype(str).unique())
    if fitted_on and made_by != [fitted_on]:
        raise InputError(args.codes, f"codes made by {made_by}, the density model was fitted on codes of {fitted_on!r}")


def _given_density_model(rows: pd.DataFrame, args):
    """The flow in --density-model, checked against the rows' encoder; None without one."""
    if not args.density_model:
        return None
    from radiolatent.downstream.density import DensityModel

    model = DensityModel.load(args.density_model)
    _check_same_encoder(model, rows, args)
    return model


def _scored(rows: pd.DataFrame, set_name: str, loglik: np.ndarray) -> pd.DataFrame:
    out = rows[["id", "split", "label", "label_name"]].reset_index(drop=True).copy()
    out.insert(1, "set", set_name)
    out["loglik"] = loglik
    return out[list(SCORE_COLUMNS)]


def _generated_scores(table: pd.DataFrame, model, args) -> pd.DataFrame:
    """Codes of images decoded from the VDVAE prior: [A]'s black curve."""
    import torch

    from radiolatent.cli.models import as_uint8
    from radiolatent.embedding import SHIPPED_MODEL, encode_images, table_embed_config
    from radiolatent.models.checkpoint import load_model

    sampler = load_model(args.vdvae or SHIPPED_MODEL)
    config = table_embed_config(table)
    encoder = _generated_encoder(table, args, config)
    torch.manual_seed(args.seed)
    images = []
    for start in range(0, args.generated, config.batch_size):
        n = min(config.batch_size, args.generated - start)
        images.append(as_uint8(sampler.sample(n, temperature=args.temperature)))
    codes = encode_images(encoder, np.concatenate(images), config, progress=True)
    n = len(codes)
    rows = pd.DataFrame({"id": [f"generated-{i}" for i in range(n)], "split": "all", "label": -1,
                         "label_name": f"generated T={args.temperature:g}"})
    return _scored(rows, GENERATED_SET, model.score_samples(codes))


def _generated_encoder(table: pd.DataFrame, args, config):
    """The encoder for generated images: --encoder, else the --vdvae model itself when it
    made the table (a freshly trained run cannot be rebuilt by name), else the table's own."""
    from radiolatent.embedding import encoder_for_table, load_encoder, table_model

    if args.encoder is None and args.vdvae:
        sampler_encoder = load_encoder(Path(args.vdvae), config)
        if sampler_encoder.name == table_model(table):
            return sampler_encoder
    return encoder_for_table(table, args.encoder, config)


def cmd_density_plot(args: argparse.Namespace) -> int:
    from radiolatent.codes import read_codes
    from radiolatent.downstream.density import plot_loglik_histograms

    scores = _read_scores(args.scores)
    table = read_codes(args.codes)
    out = Path(args.out)
    written = [plot_loglik_histograms(scores, out / "loglik_hist.png")]
    lowest = _lowest(scores, args.gallery_set, args.n, args.scores)
    written += _gallery(table, lowest, args.gallery_set, out)
    written += _search_from_lowest(table, lowest.iloc[0], args, out)
    print(lowest.head(10).to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    return 0


def _read_scores(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputError(path, "no such scores file")
    try:
        scores = pd.read_csv(path, dtype={"id": str, "set": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(path, f"not a readable CSV ({exc})") from None
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise InputError(path, f"lacks columns {missing}; write it with `density score`")
    if not np.isfinite(scores["loglik"].to_numpy(dtype=float)).all():
        raise InputError(path, "loglik holds NaN or infinite values")
    return scores


def _lowest(scores: pd.DataFrame, set_name: str, n: int, source: str) -> pd.DataFrame:
    rows = scores[scores["set"] == set_name]
    if rows.empty:
        raise InputError(source, f"no rows of set '{set_name}' (sets: {sorted(scores['set'].unique())})")
    if n < 1:
        raise InputError("-n", f"must be at least 1, got {n}")
    return rows.sort_values("loglik", kind="stable").head(n).reset_index(drop=True)


def _gallery(table: pd.DataFrame, lowest: pd.DataFrame, set_name: str, out: Path) -> list[Path]:
    from radiolatent import embedding
    from radiolatent.data.grid import image_grid

    rows = _table_rows(table, lowest, set_name)
    captions = [f"{_label(name)}\nlog L {ll:.0f}" for name, ll in zip(lowest["label_name"], lowest["loglik"])]
    safe = _safe(set_name)
    png = image_grid(embedding.load_images_for(rows), captions, out / f"lowest_{safe}.png",
                     title=f"lowest-likelihood sources of {set_name}")
    return [png, write_csv(lowest, out / f"lowest_{safe}.csv")]


def _search_from_lowest(table: pd.DataFrame, query: pd.Series, args, out: Path) -> list[Path]:
    from radiolatent import embedding
    from radiolatent.data.grid import caption_for
    from radiolatent.downstream.search import result_captions, search_grid, similar

    result = similar(table, str(query["id"]), args.in_spec, k=args.k, metric=args.metric, exclude_self=True)
    query_row = _table_rows(table, query.to_frame().T, args.gallery_set)
    result_rows = table.drop_duplicates("id").set_index("id").loc[result["id"]].reset_index()
    png = search_grid(embedding.load_images_for(query_row)[0], embedding.load_images_for(result_rows),
                      result_captions(result, args.metric), out / "search_from_lowest.png",
                      query_caption=f"query · {caption_for(query_row.iloc[0])}",
                      title=f"{args.in_spec}, {args.metric}: like the least likely source")
    return [png, write_csv(result, out / "search_from_lowest.csv")]


def _table_rows(table: pd.DataFrame, picked: pd.DataFrame, set_name: str) -> pd.DataFrame:
    """The codes-table rows of `picked` ids (from `set_name` when the id appears in several sets)."""
    rows = table[table["set"].astype(str) == set_name]
    if rows.empty:
        rows = table
    rows = rows.drop_duplicates("id").set_index("id")
    missing = [i for i in picked["id"] if i not in rows.index]
    if missing:
        raise InputError(table.attrs.get("source", "codes table"), f"no row with id {missing[0]!r}: scores and codes differ")
    return rows.loc[list(picked["id"])].reset_index()


def _label(name) -> str:
    return str(name) if isinstance(name, str) and name else "unlabelled"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


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

        path = self.thumbs / f"{_safe(str(meta['id']))}.png"
        return image_grid(self.images[row : row + 1], [caption_for(meta)], path, title=str(meta["id"]))


def _describe(meta: pd.Series) -> str:
    parts = [f"dataset={meta.get('dataset', '')}", f"split={meta.get('split', '')}",
             f"label={_label(meta.get('label_name'))}"]
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
    rows, X = _rows(args)
    extra = {}
    if args.method == "active":
        score, extra = _active_scores(rows, X, args)
    elif args.method == "iforest":
        from radiolatent.downstream.anomaly import isolation_forest_scores

        score = isolation_forest_scores(X, seed=args.seed)
    elif args.method == "density":
        score = -_density_loglik(rows, X, args)
    else:
        from radiolatent.downstream.anomaly import random_scores

        score = random_scores(len(X), seed=args.seed)
    ranked = _ranked_frame(rows, score, extra)
    path = write_csv(ranked, args.out)
    print(ranked.head(10).to_string(index=False))
    print(f"wrote {path}")
    return 0


def _active_scores(rows: pd.DataFrame, X: np.ndarray, args) -> tuple[np.ndarray, dict]:
    from radiolatent.downstream.anomaly import ActiveLearner, LabelStore, known_labels

    known = known_labels(LabelStore(args.labels), rows["id"])
    if not known:
        raise InputError(args.labels, f"no labels for rows of {args.in_spec}; run `anomaly label` first")
    learner = ActiveLearner(DEFAULT_ACTIVE, seed=args.seed).fit(X, list(known), list(known.values()))
    mean, std = learner.predict(X)
    given = np.full(len(X), np.nan)
    given[list(known)] = list(known.values())
    return mean, {"std": std, "given": given}


def _density_loglik(rows: pd.DataFrame, X: np.ndarray, args) -> np.ndarray:
    from radiolatent.downstream.density import DensityModel

    model = _given_density_model(rows, args)
    if model is None:
        print(f"fitting a '{args.density_config}' MAF on the {len(X)} rows (give --density-model to reuse one)")
        model = DensityModel(_density_config(args.density_config, [])).fit(X, seed=args.seed, progress=True)
    return model.score_samples(X)


def _ranked_frame(rows: pd.DataFrame, score: np.ndarray, extra: dict) -> pd.DataFrame:
    from radiolatent.downstream.anomaly import ranking

    order = ranking(score)
    out = pd.DataFrame({"rank": np.arange(1, len(order) + 1), "id": rows["id"].to_numpy()[order],
                        "score": np.asarray(score)[order]})
    for name, values in extra.items():
        out[name] = np.asarray(values)[order]
    for col in ("dataset", "label_name", "las_arcsec", "ra", "dec"):
        if col in rows.columns:
            out[col] = rows[col].to_numpy()[order]
    return out


def cmd_anomaly_benchmark(args: argparse.Namespace) -> int:
    from radiolatent.downstream.anomaly import plot_recall, recall_benchmark

    rows, X = _rows(args)
    names = rows["label_name"].astype(str)
    if args.interesting not in set(names):
        raise InputError(args.codes, f"no '{args.interesting}' rows in {args.in_spec} (labels: {sorted(set(names))})")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    config = dataclasses.replace(DEFAULT_ACTIVE, budget=args.budget)
    out = Path(args.out)
    curves = recall_benchmark(X, rows["id"], (names == args.interesting).to_numpy(), config, seeds,
                              _density_config(args.density_config, []), out, progress=True,
                              density_model=_given_density_model(rows, args))
    table = curves.recall_table(args.k)
    print(f"{args.in_spec}: {int(curves.interesting.sum())} of {len(X)} rows are {args.interesting}")
    print(table.to_string(index=False))
    title = f"{args.in_spec}: recall of {args.interesting} against rank"
    written = [plot_recall(curves, out / "recall.png", title=title, budget=args.budget),
               write_csv(table, out / "recall_at_k.csv")]
    for path in written:
        print(f"wrote {path}")
    sys.stdout.flush()
    return 0
