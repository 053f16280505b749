"""The study's stages that work on codes already made: reconstructions and samples, the
t-SNE maps of every encoder, the VDVAE's maps, search, density and anomaly search
(`reproduce.study_stages` lists them with their cache keys). Importing it does not import
torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import DEFAULT_ACTIVE, DEFAULT_SEARCH, ReproduceConfig
from radiolatent.core.fileio import write_csv
from radiolatent.studies.ids import StageId
from radiolatent.studies.pipeline import StageContext

CODES = "codes.parquet"
#: a +d8 embedding stage's single-pass codes of its images' upright views, by image (`embed(upright=)`)
UPRIGHT = "upright.npz"
#: the study's main VDVAE codes, which its pictures, maps, search, density and anomaly use
EMBED_VDVAE = str(StageId("embed", "vdvae"))


def single_pass_stage(cfg: ReproduceConfig, encoder: str) -> str:
    """The embedding stage holding an encoder's single-pass codes ([A]'s protocol)."""
    return str(StageId("embed", encoder, single=not cfg.single_view))


def codes_of(ctx: StageContext, stage: str) -> pd.DataFrame:
    from radiolatent.data.codes import read_codes

    return read_codes(ctx.path(stage, CODES))


def stage_generative(ctx: StageContext, cfg: ReproduceConfig, retrain: bool = False) -> dict:
    """Reconstructions of MBC test images and of pool images held out of the VDVAE's training
    (its validation split, as [A] Fig. 5 reconstructs pre-training test images); prior samples."""
    from radiolatent.config import DEFAULT_POOL
    from radiolatent.downstream.generative import held_out_reconstruction_grid, reconstruction_grid, sample_grid

    model = _vdvae(ctx)
    reconstruction_grid(model, "mbc:test", cfg.reconstructions, cfg.seed, ctx.folder / "reconstructions.png")
    # the shipped VDVAE was trained on the default pool; a retrained one on the study's
    trained_on = cfg.pool if retrain else DEFAULT_POOL
    _, held = held_out_reconstruction_grid(
        model, cfg.reconstructions, cfg.seed, ctx.folder / "reconstructions_pool.png", trained_on
    )
    sample_grid(model, cfg.samples_per_temperature, list(cfg.temperatures), cfg.seed, ctx.folder / "samples.png")
    return {"model": model, "temperatures": list(cfg.temperatures), "held_out_pool": held}


def stage_encoder_maps(ctx: StageContext, cfg: ReproduceConfig, encoders: Sequence[str]) -> dict:
    """[A] Fig. 6: a t-SNE map of each learned encoder's single-pass pool codes, coloured by
    angular size; the same rows for every encoder."""
    from joblib import delayed

    from radiolatent.core.workers import parallel
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.downstream.maps import embed_2d, plot_map

    pools = {e: select(codes_of(ctx, single_pass_stage(cfg, e)), "pool") for e in encoders}
    n = min(len(rows) for rows in pools.values())
    shown = np.arange(n)
    if cfg.map_max_rows is not None and n > cfg.map_max_rows:
        shown = np.sort(np.random.default_rng(cfg.seed).choice(n, cfg.map_max_rows, replace=False))
    # t-SNE is mostly single-threaded: two maps at a time on two cores
    maps = parallel(min(2, len(encoders)))(
        delayed(embed_2d)(code_matrix(pools[e])[shown], "tsne", seed=cfg.seed) for e in encoders
    )
    for encoder, xy in zip(encoders, maps):
        las = pools[encoder]["las_arcsec"].to_numpy(dtype=float)[shown]
        plot_map(
            xy,
            las,
            ctx.folder / f"tsne_{encoder}.png",
            f"t-SNE of {encoder} single-pass codes, pool ({len(shown)} sources)",
            "las_arcsec",
        )
    return {"encoders": encoders, "rows": len(shown)}


def stage_maps(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """t-SNE / UMAP of the pool by angular size, the PCA variance curve, RF importance."""
    from joblib import delayed

    from radiolatent.core.workers import parallel
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.downstream.importance import feature_importance, las_source_of, plot_importance
    from radiolatent.downstream.maps import embed_2d, pca_variance, plot_map, plot_pca_variance

    rows = select(codes_of(ctx, EMBED_VDVAE), "pool")
    X, las = code_matrix(rows), rows["las_arcsec"].to_numpy(dtype=float)
    shown = np.arange(len(rows))
    if cfg.map_max_rows is not None and len(rows) > cfg.map_max_rows:
        shown = np.sort(np.random.default_rng(cfg.seed).choice(len(rows), cfg.map_max_rows, replace=False))
    # t-SNE and UMAP are mostly single-threaded: one worker each, and the importance forest
    # runs on the first one free (UMAP compiles for ~14 s in every new process)
    jobs = [delayed(embed_2d)(X[shown], m, seed=cfg.seed) for m in cfg.map_methods]
    *maps, importance = parallel(len(cfg.map_methods))([*jobs, delayed(feature_importance)(X, las, seed=cfg.seed)])
    for method, xy in zip(cfg.map_methods, maps):
        plot_map(
            xy,
            las[shown],
            ctx.folder / f"map_{method}.png",
            f"{method} of the pool ({len(shown)} of {len(rows)} sources)",
            "las_arcsec",
        )
    pca = pca_variance(X)
    plot_pca_variance(pca, ctx.folder / "pca_variance.png", title="PCA of the pool's VDVAE codes")
    plot_importance(
        importance,
        ctx.folder / "importance.png",
        las_source=las_source_of(rows),
        title="Random-forest importance for angular size (pool)",
    )
    top = importance.sort_values("importance", ascending=False).head(10)
    return {
        "pca": {"n95": pca["n95"], "n98": pca["n98"]},
        "importance_top10": top.to_dict("records"),
        "importance_trees": importance.attrs.get("n_trees"),
        "rows": len(rows),
    }


def stage_search(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """Search the pool from the largest and the smallest MBC test source ([A] Figs. 8, 9)."""
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.downstream.duplicates import (
        DUPLICATE_KINDS,
        duplicate_rule,
        find_duplicates,
        similar_pairs,
        similarity_vectors,
    )
    from radiolatent.downstream.search import search_picture, search_table

    codes_path = ctx.path(EMBED_VDVAE, CODES)
    table = codes_of(ctx, EMBED_VDVAE)
    test = select(table, "mbc:test").dropna(subset=["las_arcsec"]).sort_values("las_arcsec")
    queries = {"large": test.iloc[-1], "small": test.iloc[0]}
    metric = DEFAULT_SEARCH.metric
    out: dict[str, object] = {"metric": metric}
    for name, row in queries.items():
        png = ctx.folder / f"search_{name}.png"
        found, _ = search_table(table, str(row["id"]), "pool", k=cfg.search_k, metric=metric, codes_path=codes_path)
        write_csv(found, png.with_suffix(".csv"))
        search_picture(table, found, str(row["id"]), png, metric=metric, in_spec="pool")
        found = found.replace({np.nan: None})
        out[name] = {
            "query": str(row["id"]),
            "las_arcsec": float(row["las_arcsec"]),
            "label": str(row["label_name"]),
            "matches": found.to_dict("records"),
        }
    pairs = find_duplicates(table, "pool")
    write_csv(pairs, ctx.folder / "duplicates.csv")
    kinds = pairs["kind"].value_counts()
    # the paper's rule beside ours: raw cosine >= 0.99 ([B]), counted only
    paper = duplicate_rule("cosine")
    paper["pairs"] = len(
        similar_pairs(similarity_vectors(code_matrix(select(table, "pool")), "cosine"), paper["threshold"])["a"]
    )
    out["duplicates"] = {
        "pairs": len(pairs),
        **pairs.attrs["rule"],
        "paper_rule": paper,
        "kinds": {k: int(kinds.get(k, 0)) for k in DUPLICATE_KINDS},
        "top": pairs.head(10).replace({np.nan: None}).to_dict("records"),
    }
    return out


def stage_density(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[A] section 5: a MAF on the pool's codes; log-likelihood of every set and of generated
    images (Fig. 11), the least likely MBC sources (Fig. 12) and a search from the lowest (Fig. 13)."""
    from radiolatent.downstream.density_plots import density_figures
    from radiolatent.downstream.density_tables import score_table

    table = codes_of(ctx, EMBED_VDVAE)
    model = _fit_flow(ctx, table, "pool", ctx.folder / "model", cfg)
    scores = score_table(table, model, generated=cfg.generated, vdvae=_vdvae(ctx), seed=cfg.seed)
    write_csv(scores, ctx.folder / "loglik.csv")
    lowest, _ = density_figures(scores, table, ctx.folder, "mirabest:confident", cfg.ood_gallery, "pool", cfg.search_k)
    # percentiles, not means: a few sources off the pool's code manifold score -1e10 and would swamp a mean
    per_set = scores.groupby("set", sort=False)["loglik"].describe(percentiles=[0.05, 0.5])
    per_set = per_set[["count", "min", "5%", "50%", "max"]]
    return {
        "held_out_loglik": model.valid_loglik,
        "best_epoch": model.best_epoch,
        "preset": cfg.density_preset,
        "per_set": per_set.rename(columns={"5%": "p05", "50%": "median"}).reset_index().to_dict("records"),
        "lowest_mbc": lowest[["id", "label_name", "loglik"]].to_dict("records"),
    }


def stage_anomaly(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[C] Fig. 8: recall of an interesting class against rank, for active learning with a
    label-column oracle, isolation forest, MAF likelihood and random order. The flow is fitted
    to the ranked rows, as [C] does (the pool's flow ranks Bent sources about half as well),
    once on both cores rather than once per seed (docs/discovery.md gives what that changes)."""
    import dataclasses

    from radiolatent.data.codes import select
    from radiolatent.downstream.density import density_config
    from radiolatent.downstream.recall import benchmark_rows

    table = codes_of(ctx, EMBED_VDVAE)
    flow = _fit_flow(ctx, table, cfg.anomaly_set, ctx.folder / "flow", cfg)
    _, table, _ = benchmark_rows(
        select(table, cfg.anomaly_set),
        cfg.anomaly_interesting,
        ctx.folder,
        k=cfg.anomaly_recall_at,
        config=dataclasses.replace(DEFAULT_ACTIVE, budget=cfg.anomaly_budget),
        seeds=range(cfg.seeds),
        density_config=density_config("cpu"),
        density_model=flow,
        in_spec=cfg.anomaly_set,
        source=str(ctx.path(EMBED_VDVAE, CODES)),
    )
    return {
        "set": cfg.anomaly_set,
        "interesting": cfg.anomaly_interesting,
        "k": cfg.anomaly_recall_at,
        "recall": table.replace({np.nan: None}).to_dict("records"),
    }


def _fit_flow(ctx: StageContext, table: pd.DataFrame, rows: str, out: Path, cfg: ReproduceConfig):
    """The study's MAF preset fitted on `rows` of the codes table on `density_threads` cores,
    saved in `out` (with its training curve) and returned as saved."""
    from radiolatent.core.distributed import device
    from radiolatent.data.codes import select
    from radiolatent.downstream.density import DensityModel, density_config
    from radiolatent.downstream.density_plots import plot_history
    from radiolatent.downstream.density_tables import fit_table

    config = density_config(cfg.density_preset, [f"threads={cfg.density_threads}"])
    model = fit_table(
        select(table, rows),
        config,
        seed=cfg.seed,
        device=device("auto"),
        source=str(ctx.path(EMBED_VDVAE, CODES)),
        on=rows,
        progress=True,
    )
    model.save(out)
    plot_history(model.history, out / "history.png", title=f"MAF on {rows}: mean log-likelihood per row")
    return DensityModel.load(out)


def _vdvae(ctx: StageContext) -> str:
    """The study's VDVAE: the one trained here with --retrain, else the shipped one."""
    from radiolatent.models.shipped import SHIPPED_MODEL  # here: importing embedding imports torch

    trained = str(StageId("train", "vdvae"))
    return str(ctx.path(trained, "model")) if trained in ctx.needs else str(SHIPPED_MODEL)
