"""`radiolatent reproduce`: the paper's study on the shipped data, as cached stages.

Each stage below is one part of [A] (and the tools of [B], [C]); `study_stages` lists
them in order with the parameters that key their cache. The report (report.py) is
written from the stages' results at the end of every run.
"""

from __future__ import annotations

import hashlib
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent import __version__
from radiolatent.config import (
    DEFAULT_POOL,
    DEFAULT_SEARCH,
    STUDY_ENCODERS,
    EmbedConfig,
    ReproduceConfig,
    config_hash,
)
from radiolatent.embedding import FLOORS, SHIPPED_MODEL
from radiolatent.errors import InputError
from radiolatent.fileio import write_csv, write_text
from radiolatent.pipeline import Pipeline, Stage, StageContext

CODES = "codes.parquet"
LEARNED = ("vdvae", "simclr", "byol", "simsiam")
WEIGHTS_DIR = SHIPPED_MODEL.parent


# ---------------------------------------------------------------------------
# Which stages run
# ---------------------------------------------------------------------------


def model_source(encoder: str, retrain: bool) -> str | None:
    """Where an encoder's weights come from: a floor's name, a shipped folder, a training
    stage ('train-<encoder>'), or None when it is neither shipped nor trainable here."""
    target = STUDY_ENCODERS[encoder]
    if target in FLOORS:
        return target
    if retrain:
        return f"train-{encoder}"
    folder = WEIGHTS_DIR / target
    return str(folder) if folder.is_dir() else None


def fingerprint(folder: str | Path) -> str:
    """A hash of a model folder's files, so new weights rerun everything that used the old."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors"}:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def study_stages(cfg: ReproduceConfig, retrain: bool = False) -> tuple[list[Stage], list[str]]:
    """The study's stages, and notes on encoders left out (with the reason)."""
    stages = [Stage("pool", stage_pool, params={"pool": config_hash(DEFAULT_POOL)})]
    notes, encoders = [], []
    for encoder in cfg.encoders:
        source = model_source(encoder, retrain)
        if source is None:
            notes.append(f"{encoder}: no shipped checkpoint in {WEIGHTS_DIR}; run with --retrain to train it")
            continue
        encoders.append(encoder)
        if source.startswith("train-"):
            stages.append(Stage(source, partial(stage_train, encoder=encoder), ("pool",),
                                {"encoder": encoder, "config": "cpu", "seed": cfg.seed}))
        stages.append(_embed_stage(cfg, encoder, source))
        stages.append(Stage(f"table2-{encoder}", partial(stage_table2, cfg=cfg), (f"embed-{encoder}",),
                            {"table2": cfg.table2, "seeds": cfg.seeds, "classifiers": cfg.classifiers}))
        stages.append(Stage(f"protocols-{encoder}", partial(stage_protocols, cfg=cfg), (f"embed-{encoder}",),
                            {"seed": cfg.seed, "cluster": config_hash(cfg.cluster)}))
    if "vdvae" in encoders:
        stages.extend(_vdvae_stages(cfg, retrain))
    return stages, notes


def _embed_stage(cfg: ReproduceConfig, encoder: str, source: str) -> Stage:
    sets = list(cfg.sets)
    if encoder == "vdvae":
        sets = list(dict.fromkeys((*sets, *cfg.vdvae_extra_sets, cfg.anomaly_set)))
    needs = ("pool",) + ((source,) if source.startswith("train-") else ())
    weights = fingerprint(source) if Path(source).is_dir() else source
    embed_config = EmbedConfig(dihedral_average=not cfg.single_view)
    params = {"encoder": encoder, "model": weights, "sets": sets, "embed": config_hash(embed_config),
              "version": __version__}
    return Stage(f"embed-{encoder}", partial(stage_embed, source=source, sets=sets, config=embed_config),
                 needs, params)


def _vdvae_stages(cfg: ReproduceConfig, retrain: bool) -> list[Stage]:
    model = ("train-vdvae",) if retrain else ()
    common = {"seed": cfg.seed, "version": __version__}
    return [
        Stage("generative", partial(stage_generative, cfg=cfg), ("embed-vdvae",) + model,
              {**common, "n": cfg.reconstructions, "samples": cfg.samples_per_temperature, "t": cfg.temperatures}),
        Stage("maps", partial(stage_maps, cfg=cfg), ("embed-vdvae",),
              {**common, "methods": cfg.map_methods, "max_rows": cfg.map_max_rows}),
        Stage("search", partial(stage_search, cfg=cfg), ("embed-vdvae",), {**common, "k": cfg.search_k}),
        Stage("density", partial(stage_density, cfg=cfg), ("embed-vdvae",) + model,
              {**common, "preset": cfg.density_preset, "threads": cfg.density_threads, "generated": cfg.generated,
               "gallery": cfg.ood_gallery}),
        Stage("anomaly", partial(stage_anomaly, cfg=cfg), ("embed-vdvae",),
              {**common, "set": cfg.anomaly_set, "interesting": cfg.anomaly_interesting, "seeds": cfg.seeds,
               "density": cfg.density_preset, "threads": cfg.density_threads, "flow": "once",
               "k": cfg.anomaly_recall_at, "budget": cfg.anomaly_budget}),
    ]


# ---------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------


def stage_pool(ctx: StageContext) -> dict:
    from radiolatent.data.pools import build_pool

    pool = build_pool(DEFAULT_POOL)
    write_csv(pool.report, ctx.folder / "pool_report.csv")
    return pool.summary()


def stage_train(ctx: StageContext, encoder: str) -> dict:
    """Train a learned encoder with its cpu config; its own checkpoints make this resumable."""
    from radiolatent.cli import main

    from radiolatent.training import METRICS_CSV, MODEL_DIR

    # outside the stage folder, so a killed run's checkpoints survive for --resume
    work = ctx.folder.parents[1] / "work" / f"train-{encoder}"
    _cli(main, ["train", encoder, "--config", "cpu", "--out", str(work), "--resume"])
    shutil.copytree(work / MODEL_DIR, ctx.folder / "model")
    shutil.copy(work / METRICS_CSV, ctx.folder / METRICS_CSV)
    return {"encoder": encoder, "epochs": len(pd.read_csv(work / METRICS_CSV))}


def stage_embed(ctx: StageContext, source: str, sets: list[str], config: EmbedConfig) -> dict:
    from radiolatent.codes import write_codes
    from radiolatent.embedding import embed

    model = str(ctx.path(source, "model")) if source.startswith("train-") else source
    table = embed(model, sets, config)
    write_codes(table, ctx.folder / CODES)
    return {"model": str(table["model"].iloc[0]), "rows": {s: int(n) for s, n in table["set"].value_counts().items()},
            "dimension": int(sum(c.startswith("z") and c[1:].isdigit() for c in table.columns))}


def codes_of(ctx: StageContext, stage: str) -> pd.DataFrame:
    from radiolatent.codes import read_codes

    return read_codes(ctx.path(stage, CODES))


def stage_table2(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    from radiolatent.downstream.classify import classify_codes

    table = codes_of(ctx, next(iter(ctx.needs)))
    out = {}
    for dataset, train, test in cfg.table2:
        result = classify_codes(table, train, test, seeds=range(cfg.seeds), classifiers=cfg.classifiers)
        write_csv(result.to_frame(), ctx.folder / f"table2_{dataset}.csv")
        write_text(ctx.folder / f"table2_{dataset}.md", result.to_markdown())
        out[dataset] = {"encoder": result.encoder, "model": result.model, "best": result.best(),
                        "n_train": result.n_train, "n_test": result.n_test,
                        "rows": result.to_frame()[["classifier", "metric", "mean", "sd", "reference"]]
                        .replace({np.nan: None}).to_dict("records")}
    return out


def stage_protocols(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[B]'s kNN (k=20, MBC test), [C]'s kNN on random splits and its BGMM cluster accuracy."""
    from radiolatent.codes import code_matrix, select
    from radiolatent.downstream.classify import knn_protocol_b, knn_protocol_c
    from radiolatent.downstream.cluster import cluster, cluster_accuracy

    table = codes_of(ctx, next(iter(ctx.needs)))
    train, test, both = select(table, "mbc:train"), select(table, "mbc:test"), select(table, "mbc")
    X, y = code_matrix(both), both["label"].to_numpy(dtype=int)
    labels, _ = cluster(X, seed=cfg.seed, config=cfg.cluster)
    knn_c = knn_protocol_c(X, y, seed=cfg.seed)
    return {
        "knn_b": knn_protocol_b(code_matrix(train), train["label"].to_numpy(int),
                                code_matrix(test), test["label"].to_numpy(int)),
        "knn_c": {k: knn_c[k] for k in ("mean", "sd", "n_splits", "k")},
        "cluster_accuracy": cluster_accuracy(labels, y),
        "clusters": int(len(np.unique(labels))),
    }


def stage_generative(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    from radiolatent.cli import main

    model = str(ctx.path("train-vdvae", "model")) if "train-vdvae" in ctx.needs else str(SHIPPED_MODEL)
    temps = ",".join(str(t) for t in cfg.temperatures)
    _cli(main, ["reconstruct", "--model", model, "--data", "mbc:test", "-n", str(cfg.reconstructions),
                "--seed", str(cfg.seed), "-o", str(ctx.folder / "reconstructions.png")])
    _cli(main, ["generate", "--model", model, "-n", str(cfg.samples_per_temperature), "--temperatures", temps,
                "--seed", str(cfg.seed), "-o", str(ctx.folder / "samples.png")])
    return {"model": model, "temperatures": list(cfg.temperatures)}


def stage_maps(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """t-SNE / UMAP of the pool by angular size, the PCA variance curve, RF importance."""
    from joblib import delayed

    from radiolatent.codes import code_matrix, select
    from radiolatent.downstream.importance import feature_importance, las_source_of, plot_importance
    from radiolatent.downstream.maps import embed_2d, pca_variance, plot_map, plot_pca_variance
    from radiolatent.workers import parallel

    rows = select(codes_of(ctx, "embed-vdvae"), "pool")
    X, las = code_matrix(rows), rows["las_arcsec"].to_numpy(dtype=float)
    shown = np.arange(len(rows))
    if cfg.map_max_rows is not None and len(rows) > cfg.map_max_rows:
        shown = np.sort(np.random.default_rng(cfg.seed).choice(len(rows), cfg.map_max_rows, replace=False))
    # t-SNE and UMAP are mostly single-threaded: one worker each
    maps = parallel(len(cfg.map_methods))(delayed(embed_2d)(X[shown], m, seed=cfg.seed) for m in cfg.map_methods)
    for method, xy in zip(cfg.map_methods, maps):
        plot_map(xy, las[shown], ctx.folder / f"map_{method}.png",
                 f"{method} of the pool ({len(shown)} of {len(rows)} sources)", "las_arcsec")
    pca = pca_variance(X)
    plot_pca_variance(pca, ctx.folder / "pca_variance.png", title="PCA of the pool's VDVAE codes")
    importance = feature_importance(X, las, seed=cfg.seed)
    plot_importance(importance, ctx.folder / "importance.png", las_source=las_source_of(rows),
                    title="Random-forest importance for angular size (pool)")
    top = importance.sort_values("importance", ascending=False).head(10)
    return {"pca": {"n95": pca["n95"], "n98": pca["n98"]}, "importance_top10": top.to_dict("records"),
            "importance_trees": importance.attrs.get("n_trees"), "rows": len(rows)}


def stage_search(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """Search the pool from the largest and the smallest MBC test source ([A] Figs. 8, 9)."""
    from radiolatent.cli import main
    from radiolatent.codes import code_matrix, select
    from radiolatent.downstream.search import DUPLICATE_KINDS, duplicate_rule, find_duplicates, similar_pairs

    codes_path = str(ctx.path("embed-vdvae", CODES))
    table = codes_of(ctx, "embed-vdvae")
    test = select(table, "mbc:test").dropna(subset=["las_arcsec"]).sort_values("las_arcsec")
    queries = {"large": test.iloc[-1], "small": test.iloc[0]}
    out = {"metric": DEFAULT_SEARCH.metric}
    for name, row in queries.items():
        png = ctx.folder / f"search_{name}.png"
        _cli(main, ["search", "--codes", codes_path, "--query", str(row["id"]), "--in", "pool",
                    "-k", str(cfg.search_k), "-o", str(png)])
        found = pd.read_csv(png.with_suffix(".csv"))
        out[name] = {"query": str(row["id"]), "las_arcsec": float(row["las_arcsec"]),
                     "label": str(row["label_name"]), "matches": found.to_dict("records")}
    pairs = find_duplicates(table, "pool")
    write_csv(pairs, ctx.folder / "duplicates.csv")
    kinds = pairs["kind"].value_counts()
    # the paper's rule beside ours: raw cosine >= 0.99 ([B]), counted only
    paper = duplicate_rule("cosine")
    paper["pairs"] = len(similar_pairs(code_matrix(select(table, "pool")), paper["threshold"])["a"])
    out["duplicates"] = {"pairs": len(pairs), **pairs.attrs["rule"], "paper_rule": paper,
                         "kinds": {k: int(kinds.get(k, 0)) for k in DUPLICATE_KINDS},
                         "top": pairs.head(10).replace({np.nan: None}).to_dict("records")}
    return out


def stage_density(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[A] section 5: a MAF on the pool's codes; log-likelihood of every set and of generated
    images (Fig. 11), the least likely MBC sources (Fig. 12) and a search from the lowest (Fig. 13)."""
    from radiolatent.cli import main
    from radiolatent.downstream.density import DensityModel

    codes = str(ctx.path("embed-vdvae", CODES))
    vdvae = str(ctx.path("train-vdvae", "model")) if "train-vdvae" in ctx.needs else str(SHIPPED_MODEL)
    model_dir, scores = ctx.folder / "model", ctx.folder / "loglik.csv"
    _fit_flow(codes, "pool", model_dir, cfg)
    _cli(main, ["density", "score", "--codes", codes, "--model", str(model_dir), "--generated", str(cfg.generated),
                "--vdvae", vdvae, "--seed", str(cfg.seed), "--out", str(scores)])
    _cli(main, ["density", "plot", "--scores", str(scores), "--codes", codes, "--set", "mirabest:confident",
                "-n", str(cfg.ood_gallery), "--in", "pool", "-k", str(cfg.search_k), "--out", str(ctx.folder)])
    model = DensityModel.load(model_dir)
    table = pd.read_csv(scores, dtype={"id": str})
    # percentiles, not means: a few sources off the pool's code manifold score -1e10 and would swamp a mean
    per_set = table.groupby("set", sort=False)["loglik"].describe(percentiles=[0.05, 0.5])
    per_set = per_set[["count", "min", "5%", "50%", "max"]]
    lowest = pd.read_csv(ctx.folder / "lowest_mirabest_confident.csv", dtype={"id": str})
    return {"held_out_loglik": model.valid_loglik, "best_epoch": model.best_epoch, "preset": cfg.density_preset,
            "per_set": per_set.rename(columns={"5%": "p05", "50%": "median"}).reset_index().to_dict("records"),
            "lowest_mbc": lowest[["id", "label_name", "loglik"]].to_dict("records")}


def stage_anomaly(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[C] Fig. 8: recall of an interesting class against rank, for active learning with a
    label-column oracle, isolation forest, MAF likelihood and random order. The flow is fitted
    to the ranked rows, as [C] does (the pool's flow ranks Bent sources about half as well),
    once on both cores: a fit per seed tripled the stage's time and moved recall@100 by ~0.01."""
    from radiolatent.cli import main

    codes, flow = str(ctx.path("embed-vdvae", CODES)), ctx.folder / "flow"
    _fit_flow(codes, cfg.anomaly_set, flow, cfg)
    seeds = ",".join(str(s) for s in range(cfg.seeds))
    _cli(main, ["anomaly", "benchmark", "--codes", codes, "--in", cfg.anomaly_set, "--interesting",
                cfg.anomaly_interesting, "--seeds", seeds, "--density-model", str(flow),
                "--budget", str(cfg.anomaly_budget), "-k", str(cfg.anomaly_recall_at), "--out", str(ctx.folder)])
    table = pd.read_csv(ctx.folder / "recall_at_k.csv")
    return {"set": cfg.anomaly_set, "interesting": cfg.anomaly_interesting, "k": cfg.anomaly_recall_at,
            "recall": table.replace({np.nan: None}).to_dict("records")}


def _fit_flow(codes: str, rows: str, out: Path, cfg: ReproduceConfig) -> None:
    """`density fit` of the study's MAF preset on `rows` of the codes table, on both cores."""
    from radiolatent.cli import main

    _cli(main, ["density", "fit", "--codes", codes, "--on", rows, "--config", cfg.density_preset,
                "--set", f"threads={cfg.density_threads}", "--out", str(out), "--seed", str(cfg.seed)])


def _cli(main, argv: list[str]) -> None:
    """Run a radiolatent command in-process; a failure stops the stage with its name."""
    if main(argv) != 0:
        raise InputError(f"radiolatent {argv[0]}", "failed (see the message above)")


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def reproduce(out: str | Path, cfg: ReproduceConfig = ReproduceConfig(), retrain: bool = False,
              log=print) -> Path:
    """Run (or resume) the study in `out` and write `out/index.html` and `out/results.json`."""
    from radiolatent.report import write_report

    stages, notes = study_stages(cfg, retrain)
    for note in notes:
        log(f"note: {note}")
    results = Pipeline(out, stages, log).run()
    return write_report(out, results, cfg, retrain=retrain, notes=notes)
