"""`radiolatent reproduce`: the paper's study, as cached stages, on the shipped pool or on
any pool (`ReproduceConfig.pool`: RGZ DR1 or a user's folders added to it).

Each stage below is one part of [A] (and the tools of [B], [C]); `study_stages` lists
them in order with the parameters that key their cache. Every stage needs the pool's
stage, directly or through the codes, and that stage is keyed on the pool's own cache
key, so another pool (or changed files under one) reruns them all. The stages call the
library (embedding, training, generative, downstream.*) and keep what it returns; the
report (report.py) is written from their results at the end of every run.
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
    DEFAULT_ACTIVE,
    DEFAULT_SEARCH,
    STUDY_ENCODERS,
    EmbedConfig,
    ReproduceConfig,
    config_hash,
)
from radiolatent.embedding import FLOORS, SHIPPED_MODEL
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


def pool_key(cfg: ReproduceConfig) -> str:
    """The pool's cache key: its settings and, for sources on a user's path, those files'
    names, sizes and times (the shipped pool's key is the hash of its settings alone)."""
    from radiolatent.data.pools import pool_dir

    return pool_dir(cfg.pool).name


def study_stages(cfg: ReproduceConfig, retrain: bool = False) -> tuple[list[Stage], list[str]]:
    """The study's stages, and notes on encoders left out (with the reason)."""
    stages = [Stage("pool", partial(stage_pool, cfg=cfg), params={"pool": pool_key(cfg)})]
    notes, encoders = [], []
    for encoder in cfg.encoders:
        source = model_source(encoder, retrain)
        if source is None:
            notes.append(f"{encoder}: no shipped checkpoint in {WEIGHTS_DIR}; run with --retrain to train it")
            continue
        encoders.append(encoder)
        if source.startswith("train-"):
            stages.append(Stage(source, partial(stage_train, encoder=encoder, cfg=cfg), ("pool",),
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
    return Stage(f"embed-{encoder}", partial(stage_embed, source=source, sets=sets, config=embed_config,
                                             cfg=cfg), needs, params)


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


def stage_pool(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """Build the study's pool; its composition, per-source report and cache key are kept."""
    from radiolatent.data.pools import build_pool

    pool = build_pool(cfg.pool)
    write_csv(pool.report, ctx.folder / "pool_report.csv")
    return {**pool.summary(), "key": pool_key(cfg)}


def stage_train(ctx: StageContext, encoder: str, cfg: ReproduceConfig) -> dict:
    """Train a learned encoder with its cpu config on the study's pool; its own checkpoints
    make this resumable."""
    from radiolatent.runs import run_config, train_model
    from radiolatent.training import METRICS_CSV, MODEL_DIR

    # outside the stage folder, so a killed run's checkpoints survive for --resume
    work = ctx.folder.parents[1] / "work" / f"train-{encoder}"
    train_model(encoder, run_config(encoder, "cpu"), work, cfg.pool, resume=True, seed=cfg.seed)
    shutil.copytree(work / MODEL_DIR, ctx.folder / "model")
    shutil.copy(work / METRICS_CSV, ctx.folder / METRICS_CSV)
    return {"encoder": encoder, "epochs": len(pd.read_csv(work / METRICS_CSV))}


def stage_embed(ctx: StageContext, source: str, sets: list[str], config: EmbedConfig, cfg: ReproduceConfig) -> dict:
    from radiolatent.codes import write_codes
    from radiolatent.embedding import embed

    model = str(ctx.path(source, "model")) if source.startswith("train-") else source
    table = embed(model, sets, config, cfg.pool)
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
    from radiolatent.generative import reconstruction_grid, sample_grid

    model = _vdvae(ctx)
    reconstruction_grid(model, "mbc:test", cfg.reconstructions, cfg.seed, ctx.folder / "reconstructions.png")
    sample_grid(model, cfg.samples_per_temperature, list(cfg.temperatures), cfg.seed, ctx.folder / "samples.png")
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
    from radiolatent.codes import code_matrix, select
    from radiolatent.downstream.search import (
        DUPLICATE_KINDS, duplicate_rule, find_duplicates, search_picture, search_table, similar_pairs,
    )

    codes_path = ctx.path("embed-vdvae", CODES)
    table = codes_of(ctx, "embed-vdvae")
    test = select(table, "mbc:test").dropna(subset=["las_arcsec"]).sort_values("las_arcsec")
    queries = {"large": test.iloc[-1], "small": test.iloc[0]}
    metric = DEFAULT_SEARCH.metric
    out = {"metric": metric}
    for name, row in queries.items():
        png = ctx.folder / f"search_{name}.png"
        found, _ = search_table(table, str(row["id"]), "pool", k=cfg.search_k, metric=metric, codes_path=codes_path)
        write_csv(found, png.with_suffix(".csv"))
        search_picture(table, found, str(row["id"]), png, metric=metric, in_spec="pool")
        found = found.replace({np.nan: None})
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
    from radiolatent.downstream.density import density_figures, score_table

    table = codes_of(ctx, "embed-vdvae")
    model = _fit_flow(ctx, table, "pool", ctx.folder / "model", cfg)
    scores = score_table(table, model, generated=cfg.generated, vdvae=_vdvae(ctx), seed=cfg.seed)
    write_csv(scores, ctx.folder / "loglik.csv")
    lowest, _ = density_figures(scores, table, ctx.folder, "mirabest:confident", cfg.ood_gallery, "pool",
                                cfg.search_k)
    # percentiles, not means: a few sources off the pool's code manifold score -1e10 and would swamp a mean
    per_set = scores.groupby("set", sort=False)["loglik"].describe(percentiles=[0.05, 0.5])
    per_set = per_set[["count", "min", "5%", "50%", "max"]]
    return {"held_out_loglik": model.valid_loglik, "best_epoch": model.best_epoch, "preset": cfg.density_preset,
            "per_set": per_set.rename(columns={"5%": "p05", "50%": "median"}).reset_index().to_dict("records"),
            "lowest_mbc": lowest[["id", "label_name", "loglik"]].to_dict("records")}


def stage_anomaly(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[C] Fig. 8: recall of an interesting class against rank, for active learning with a
    label-column oracle, isolation forest, MAF likelihood and random order. The flow is fitted
    to the ranked rows, as [C] does (the pool's flow ranks Bent sources about half as well),
    once on both cores: a fit per seed tripled the stage's time and moved recall@100 by ~0.01."""
    import dataclasses

    from radiolatent.codes import select
    from radiolatent.downstream.anomaly import benchmark_rows
    from radiolatent.downstream.density import density_config

    table = codes_of(ctx, "embed-vdvae")
    flow = _fit_flow(ctx, table, cfg.anomaly_set, ctx.folder / "flow", cfg)
    _, table, _ = benchmark_rows(
        select(table, cfg.anomaly_set), cfg.anomaly_interesting, ctx.folder, k=cfg.anomaly_recall_at,
        config=dataclasses.replace(DEFAULT_ACTIVE, budget=cfg.anomaly_budget), seeds=range(cfg.seeds),
        density_config=density_config("cpu"), density_model=flow, in_spec=cfg.anomaly_set,
        source=str(ctx.path("embed-vdvae", CODES)))
    return {"set": cfg.anomaly_set, "interesting": cfg.anomaly_interesting, "k": cfg.anomaly_recall_at,
            "recall": table.replace({np.nan: None}).to_dict("records")}


def _fit_flow(ctx: StageContext, table: pd.DataFrame, rows: str, out: Path, cfg: ReproduceConfig):
    """The study's MAF preset fitted on `rows` of the codes table on `density_threads` cores,
    saved in `out` (with its training curve) and returned as saved."""
    from radiolatent.codes import select
    from radiolatent.distributed import device
    from radiolatent.downstream.density import DensityModel, density_config, fit_table, plot_history

    config = density_config(cfg.density_preset, [f"threads={cfg.density_threads}"])
    model = fit_table(select(table, rows), config, seed=cfg.seed, device=device("auto"),
                      source=str(ctx.path("embed-vdvae", CODES)), on=rows, progress=True)
    model.save(out)
    plot_history(model.history, out / "history.png", title=f"MAF on {rows}: mean log-likelihood per row")
    return DensityModel.load(out)


def _vdvae(ctx: StageContext) -> str:
    """The study's VDVAE: the one trained here with --retrain, else the shipped one."""
    return str(ctx.path("train-vdvae", "model")) if "train-vdvae" in ctx.needs else str(SHIPPED_MODEL)


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def reproduce(out: str | Path, cfg: ReproduceConfig = ReproduceConfig(), retrain: bool = False,
              log=print) -> Path:
    """Run (or resume) the study in `out` and write `out/index.html` and `out/results.json`."""
    from radiolatent.data.pools import check_sources
    from radiolatent.report import write_report

    check_sources(cfg.pool)  # every source path, before any work
    stages, notes = study_stages(cfg, retrain)
    for note in notes:
        log(f"note: {note}")
    results = Pipeline(out, stages, log).run()
    return write_report(out, results, cfg, retrain=retrain, notes=notes)
