"""`radiolatent density fit | score | plot`: a Masked Autoregressive Flow on the codes and
the log-likelihood of every source ([A] section 5). The work is in downstream.density,
downstream.density_tables and downstream.density_plots."""

from __future__ import annotations

import argparse

from radiolatent.cli import argtypes
from radiolatent.cli.train import add_device_argument
from radiolatent.config import DEFAULT_DENSITY, DEFAULT_SEARCH, DENSITY_CONFIGS
from radiolatent.core.fileio import write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    density = subparsers.add_parser(
        "density", help="MAF density of the codes and out-of-distribution ranking ([A] sec. 5)"
    )
    sub = density.add_subparsers(dest="density_command", metavar="ACTION", required=True)
    _register_fit(sub)
    _register_score(sub)
    _register_plot(sub)


def add_density_arguments(p, model_help: str) -> None:
    """--density-model (a `density fit` folder) and --density-config (the MAF fitted without one)."""
    p.add_argument("--density-model", default=None, metavar="DIR", help=model_help)
    p.add_argument(
        "--density-config",
        default=DEFAULT_DENSITY.name,
        choices=sorted(DENSITY_CONFIGS),
        help=f"MAF size when one is fitted here (default {DEFAULT_DENSITY.name})",
    )


def _register_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit a Masked Autoregressive Flow to one set's codes")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument(
        "--in",
        dest="in_spec",
        default="pool",
        metavar="SPEC",
        help="rows to fit on (default pool, as [A] used RGZ DR1)",
    )
    argtypes.add_deprecated(p, "--on", "--in", "in_spec")
    p.add_argument(
        "--config",
        default=DEFAULT_DENSITY.name,
        choices=sorted(DENSITY_CONFIGS),
        help="tiny (tests), cpu (default, minutes on 2 cores) or paper (48 x 2 x 512, 600 epochs)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting, e.g. epochs=50 or hidden=128,128 (repeatable)",
    )
    p.add_argument(
        "--out",
        type=argtypes.output_dir,
        default="density-model",
        metavar="DIR",
        help="model folder (default density-model)",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    add_device_argument(p, "fit the flow")
    p.set_defaults(handler=cmd_density_fit)


def _register_score(sub) -> None:
    p = sub.add_parser("score", help="log-likelihood of every row of a codes table (and of generated images)")
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `density fit`")
    p.add_argument(
        "--in",
        dest="sets",
        default=None,
        metavar="SPEC,...",
        help="comma-separated specs of the rows to score (default: every row of the table)",
    )
    argtypes.add_deprecated(p, "--sets", "--in", "sets")
    p.add_argument(
        "--generated",
        type=argtypes.non_negative_int,
        default=0,
        metavar="N",
        help="also decode N samples of the VDVAE prior, embed them and score them as set 'generated'",
    )
    p.add_argument("--vdvae", default=None, metavar="PATH", help="VDVAE that generates (default: the shipped one)")
    p.add_argument(
        "--encoder",
        default=None,
        metavar="PATH",
        help="model that embeds generated images (default: the table's own, if rebuildable)",
    )
    p.add_argument(
        "--temperature",
        type=argtypes.positive_float,
        default=1.0,
        help="prior temperature of generated samples (default 1)",
    )
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument(
        "--out",
        type=argtypes.output_of("csv"),
        default="loglik.csv",
        metavar="CSV",
        help="id,set,split,label,label_name,loglik",
    )
    add_device_argument(p, "score")
    p.set_defaults(handler=cmd_density_score)


def _register_plot(sub) -> None:
    p = sub.add_parser("plot", help="histograms (Fig. 11), lowest-likelihood gallery (12), search from the lowest (13)")
    p.add_argument("--scores", required=True, metavar="CSV", help="output of `density score`")
    p.add_argument("--codes", required=True, metavar="PATH", help="the codes table that was scored")
    p.add_argument(
        "--gallery",
        dest="gallery_set",
        default="mirabest:confident",
        metavar="SPEC",
        help="rows whose lowest-likelihood sources are shown (default mirabest:confident, i.e. MBC)",
    )
    argtypes.add_deprecated(p, "--set", "--gallery", "gallery_set")
    p.add_argument("-n", type=argtypes.positive_int, default=16, help="sources in the gallery (default 16)")
    p.add_argument("--in", dest="in_spec", default="pool", metavar="SPEC", help="set searched from the lowest one")
    p.add_argument(
        "-k", type=argtypes.positive_int, default=DEFAULT_SEARCH.k, help=f"search matches (default {DEFAULT_SEARCH.k})"
    )
    p.add_argument("--metric", default="cosine", choices=("cosine", "euclidean-pca"))
    p.add_argument(
        "--out", type=argtypes.output_dir, default="density-figures", metavar="DIR", help="folder for the PNGs and CSVs"
    )
    p.set_defaults(handler=cmd_density_plot)


def cmd_density_fit(args: argparse.Namespace) -> int:
    from radiolatent.core.distributed import device
    from radiolatent.data.codes import read_codes, select
    from radiolatent.downstream.density import density_config
    from radiolatent.downstream.density_plots import plot_history
    from radiolatent.downstream.density_tables import fit_table

    config = density_config(args.config, args.set)  # settings first: a typo costs no reading
    rows = select(read_codes(args.codes), args.in_spec)
    where = device(args.device)
    print(
        f"fitting a MAF ('{config.name}': {config.transforms} blocks of {list(config.hidden)}) "
        f"on {len(rows)} rows of {args.in_spec}"
    )
    model = fit_table(rows, config, seed=args.seed, device=where, source=args.codes, on=args.in_spec, progress=True)
    out = model.save(args.out)
    curve = plot_history(
        model.history, out / "history.png", title=f"MAF on {args.in_spec}: mean log-likelihood per row"
    )
    last = model.history[-1]
    print(
        f"{len(model.history)} epochs in {last['seconds']:.0f} s; best epoch {model.best_epoch}: held-out "
        f"log-likelihood {model.valid_loglik:.2f} nats/row ({model.info['n_valid']} rows held out)"
    )
    print(f"wrote {out}")
    print(f"wrote {curve}")
    return 0


def cmd_density_score(args: argparse.Namespace) -> int:
    from radiolatent.core.distributed import device
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.density_tables import load_for, score_table

    table = read_codes(args.codes)
    model = load_for(args.model, table, args.codes, device(args.device))
    sets = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    scores = score_table(
        table,
        model,
        sets,
        generated=args.generated,
        vdvae=args.vdvae,
        encoder=args.encoder,
        temperature=args.temperature,
        seed=args.seed,
    )
    path = write_csv(scores, args.out)
    summary = scores.groupby("set", sort=False)["loglik"].describe()[["count", "mean", "50%", "min", "max"]]
    print(summary.round(2).to_string())
    print(f"wrote {path}")
    return 0


def cmd_density_plot(args: argparse.Namespace) -> int:
    from radiolatent.data.codes import read_codes
    from radiolatent.downstream.density_plots import density_figures
    from radiolatent.downstream.density_tables import read_scores

    scores = read_scores(args.scores)
    table = read_codes(args.codes)
    lowest, written = density_figures(
        scores, table, args.out, args.gallery_set, args.n, args.in_spec, args.k, args.metric, source=args.scores
    )
    print(lowest.head(10).to_string(index=False))
    for path in written:
        print(f"wrote {path}")
    return 0
