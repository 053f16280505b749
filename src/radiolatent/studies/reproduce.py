"""`radiolatent reproduce`: the paper's study, as cached stages, on the shipped pool or on
any pool (`ReproduceConfig.pool`: RGZ DR1 or a user's folders added to it).

Each stage below is one part of [A] (and the tools of [B], [C]); `study_stages` lists
them in order with the parameters that key their cache. Every stage needs the pool's
stage, directly or through the codes, and that stage is keyed on the pool's own cache
key, so another pool (or changed files under one) reruns them all. The stages call the
library (embedding, training, generative, downstream.*) and keep what it returns; the
report (report.py) is written from their results at the end of every run. The stages on
the codes (pictures, maps, search, density, anomaly) are in study_stages.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from radiolatent.config import (
    STUDY_DISTILLED,
    STUDY_ENCODERS,
    EmbedConfig,
    ReproduceConfig,
    StudyEncoder,
    config_hash,
)
from radiolatent.core import __version__
from radiolatent.core.fileio import write_csv, write_text
from radiolatent.embedding import FLOORS
from radiolatent.models.shipped import SHIPPED_MODEL
from radiolatent.studies.ceiling import has_shipped_table, shipped_table_text
from radiolatent.studies.ids import (
    ANOMALY,
    DENSITY,
    ENCODER_MAPS,
    GENERATIVE,
    MAPS,
    POOL,
    SEARCH,
    SUPERVISED,
    ModelSource,
    StageId,
)
from radiolatent.studies.pipeline import Pipeline, Stage, StageContext
from radiolatent.studies.stages import (
    CODES,
    EMBED_VDVAE,
    UPRIGHT,
    codes_of,
    single_pass_stage,
    stage_anomaly,
    stage_density,
    stage_encoder_maps,
    stage_generative,
    stage_maps,
    stage_search,
)

LEARNED = ("vdvae", "simclr", "byol", "simsiam")
WEIGHTS_DIR = SHIPPED_MODEL.parent


# ---------------------------------------------------------------------------
# Which stages run
# ---------------------------------------------------------------------------


def model_source(encoder: StudyEncoder, retrain: bool) -> ModelSource | None:
    """Where an encoder's weights come from: a floor, a shipped folder, its training stage,
    or None when it is neither shipped nor trainable here."""
    target = STUDY_ENCODERS[encoder]
    if target in FLOORS:
        return ModelSource(floor=target)
    if retrain:
        return ModelSource(stage=StageId("train", encoder))
    folder = WEIGHTS_DIR / target
    return ModelSource(folder=folder) if folder.is_dir() else None


def single_pass_source(cfg: ReproduceConfig, encoder: StudyEncoder, retrain: bool) -> ModelSource | None:
    """Where an encoder's single-pass codes come from when not from its own weights: its
    distilled encoder (shipped, or trained by a distil stage), else None."""
    if not cfg.distilled_single_pass or encoder not in STUDY_DISTILLED:
        return None
    if retrain:
        return ModelSource(stage=StageId("train", encoder, distil=True))
    folder = WEIGHTS_DIR / STUDY_DISTILLED[encoder]
    return ModelSource(folder=folder) if folder.is_dir() else None


def _distil_stage(cfg: ReproduceConfig, encoder: str) -> Stage:
    teacher = str(StageId("train", encoder))
    return Stage(
        str(StageId("train", encoder, distil=True)),
        partial(stage_distil, teacher=teacher, cfg=cfg),
        (POOL, teacher),
        {"config": "cpu", "seed": cfg.seed},
    )


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
    stages = [Stage(POOL, partial(stage_pool, cfg=cfg), params={"pool": pool_key(cfg)})]
    notes, encoders = [], []
    for encoder in cfg.encoders:
        source = model_source(encoder, retrain)
        if source is None:
            notes.append(f"{encoder}: no shipped checkpoint in {WEIGHTS_DIR}; retrain to train it")
            continue
        encoders.append(encoder)
        if source.stage:
            stages.append(
                Stage(
                    str(source.stage),
                    partial(stage_train, encoder=encoder, cfg=cfg),
                    (POOL,),
                    {"encoder": encoder, "config": "cpu", "seed": cfg.seed},
                )
            )
        single = single_pass_source(cfg, encoder, retrain) or source
        if single.stage and single.stage.distil:
            stages.append(_distil_stage(cfg, encoder))
        stages.extend(_encoder_stages(cfg, encoder, source, single))
    learned = [e for e in encoders if e in LEARNED]
    if learned:
        stages.append(
            Stage(
                ENCODER_MAPS,
                partial(stage_encoder_maps, cfg=cfg, encoders=learned),
                tuple(single_pass_stage(cfg, e) for e in learned),
                {"seed": cfg.seed, "max_rows": cfg.map_max_rows, "version": __version__},
            )
        )
    if "vdvae" in encoders:
        stages.extend(_vdvae_stages(cfg, retrain))
    if cfg.ceiling and (cfg.retrain_ceiling or has_shipped_table()):
        stages.append(_supervised_stage(cfg))
    return stages, notes


def _supervised_stage(cfg: ReproduceConfig) -> Stage:
    """The supervised ceiling (ceiling.py): the shipped table, or trained now with
    `retrain_ceiling` (`seeds` seeds x MBC, NVSS: about a minute each on two cores)."""
    shipped = hashlib.sha256(shipped_table_text().encode()).hexdigest()[:16] if has_shipped_table() else ""
    retrain = cfg.retrain_ceiling
    params = {"retrain": retrain, "seeds": cfg.seeds if retrain else None, "table": shipped}
    return Stage(SUPERVISED, partial(stage_supervised, retrain=retrain, seeds=cfg.seeds), (), params)


def stage_supervised(ctx: StageContext, retrain: bool, seeds: int) -> dict:
    from radiolatent.studies.ceiling import ceiling_rows

    rows = ceiling_rows(retrain=retrain, seeds=seeds)
    write_csv(rows, ctx.folder / "supervised.csv")
    return {"source": "trained" if retrain else "shipped", "rows": rows.replace({np.nan: None}).to_dict("records")}


def _encoder_stages(cfg: ReproduceConfig, encoder: str, source: ModelSource, single_source: ModelSource) -> list[Stage]:
    """An encoder's embedding, Table 2 and protocols; without --single-view also its
    single-pass embedding (from `single_source`) and Table 2 (same seeds), the like-for-like
    comparison with [A]."""
    table2 = {"table2": cfg.table2, "seeds": cfg.seeds, "classifiers": cfg.classifiers}
    embed = str(StageId("embed", encoder))
    stages = [
        _embed_stage(cfg, encoder, source, single=cfg.single_view),
        Stage(str(StageId("table2", encoder)), partial(stage_table2, cfg=cfg), (embed,), table2),
        Stage(
            str(StageId("protocols", encoder)),
            partial(stage_protocols, cfg=cfg),
            (embed,),
            {"seed": cfg.seed, "cluster": config_hash(cfg.cluster)},
        ),
    ]
    if not cfg.single_view:
        # the same weights: the +d8 stage's upright views are these codes' sets, to the bit
        upright = embed if single_source == source else None
        single = _embed_stage(
            cfg, encoder, single_source, single=True, name=str(StageId("embed", encoder, single=True)), upright=upright
        )
        table2_single = str(StageId("table2", encoder, single=True))
        stages += [single, Stage(table2_single, partial(stage_table2, cfg=cfg), (single.name,), table2)]
    return stages


def _embed_stage(
    cfg: ReproduceConfig, encoder: str, source: ModelSource, single: bool, name: str = "", upright: str | None = None
) -> Stage:
    """Codes of `cfg.sets`, single pass or +d8. The study's main VDVAE codes add the sets its
    pictures, density and anomaly stages use; single-pass codes of a learned encoder add the
    pool, for its t-SNE map (single pass, as [A] Fig. 6). A +d8 stage also keeps its images'
    upright views' codes (UPRIGHT); a single-pass stage reads those of the +d8 stage
    `upright` of the same weights instead of computing them again."""
    name = name or str(StageId("embed", encoder))
    sets = list(cfg.sets)
    if name == EMBED_VDVAE:
        sets = list(dict.fromkeys((*sets, *cfg.vdvae_extra_sets, cfg.anomaly_set)))
    if encoder in LEARNED and single:
        sets = list(dict.fromkeys((*sets, "pool")))
    needs = (POOL, *source.needs, *((upright,) if upright else ()))
    weights = fingerprint(source.folder) if source.folder else source.key()
    embed_config = EmbedConfig(dihedral_average=not single, precision=cfg.embed_precision)
    params = {
        "encoder": encoder,
        "model": weights,
        "sets": sets,
        "embed": config_hash(embed_config),
        "version": __version__,
    }
    run = partial(stage_embed, source=source, sets=sets, config=embed_config, cfg=cfg, upright=upright)
    return Stage(name, run, needs, params)


def _vdvae_stages(cfg: ReproduceConfig, retrain: bool) -> list[Stage]:
    model = (str(StageId("train", "vdvae")),) if retrain else ()
    common = {"seed": cfg.seed, "version": __version__}
    return [
        Stage(
            GENERATIVE,
            partial(stage_generative, cfg=cfg, retrain=retrain),
            (EMBED_VDVAE, *model),
            {
                **common,
                "n": cfg.reconstructions,
                "samples": cfg.samples_per_temperature,
                "t": cfg.temperatures,
                "held_out": "pool-validation",
            },
        ),
        Stage(
            MAPS,
            partial(stage_maps, cfg=cfg),
            (EMBED_VDVAE,),
            {**common, "methods": cfg.map_methods, "max_rows": cfg.map_max_rows},
        ),
        Stage(SEARCH, partial(stage_search, cfg=cfg), (EMBED_VDVAE,), {**common, "k": cfg.search_k}),
        Stage(
            DENSITY,
            partial(stage_density, cfg=cfg),
            (EMBED_VDVAE, *model),
            {
                **common,
                "preset": cfg.density_preset,
                "threads": cfg.density_threads,
                "generated": cfg.generated,
                "gallery": cfg.ood_gallery,
            },
        ),
        Stage(
            ANOMALY,
            partial(stage_anomaly, cfg=cfg),
            (EMBED_VDVAE,),
            {
                **common,
                "set": cfg.anomaly_set,
                "interesting": cfg.anomaly_interesting,
                "seeds": cfg.seeds,
                "density": cfg.density_preset,
                "threads": cfg.density_threads,
                "flow": "once",
                "k": cfg.anomaly_recall_at,
                "budget": cfg.anomaly_budget,
            },
        ),
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
    from radiolatent.training import METRICS_CSV, MODEL_DIR
    from radiolatent.training.runs import run_config, train_model

    # outside the stage folder, so a killed run's checkpoints survive for --resume
    work = ctx.folder.parents[1] / "work" / str(StageId("train", encoder))
    train_model(encoder, run_config(encoder, "cpu"), work, cfg.pool, resume=True, seed=cfg.seed)
    shutil.copytree(work / MODEL_DIR, ctx.folder / "model")
    shutil.copy(work / METRICS_CSV, ctx.folder / METRICS_CSV)
    return {"encoder": encoder, "epochs": len(pd.read_csv(work / METRICS_CSV))}


def stage_distil(ctx: StageContext, teacher: str, cfg: ReproduceConfig) -> dict:
    """Distil the trained VDVAE's 8-view codes into one pass (`train distil --config cpu`)."""
    from radiolatent.training import METRICS_CSV, MODEL_DIR
    from radiolatent.training.runs import run_config, train_model

    work = ctx.folder.parents[1] / "work" / ctx.folder.name
    run = dataclasses.replace(run_config("distil", "cpu"), teacher=str(ctx.path(teacher, "model")))
    train_model("distil", run, work, cfg.pool, resume=True, seed=cfg.seed)
    shutil.copytree(work / MODEL_DIR, ctx.folder / "model")
    shutil.copy(work / METRICS_CSV, ctx.folder / METRICS_CSV)
    return {"teacher": teacher, "epochs": len(pd.read_csv(work / METRICS_CSV))}


def stage_embed(
    ctx: StageContext,
    source: ModelSource,
    sets: list[str],
    config: EmbedConfig,
    cfg: ReproduceConfig,
    upright: str | None = None,
) -> dict:
    from radiolatent.data.codes import write_codes
    from radiolatent.embedding import embed, load_codes_by_image, save_codes_by_image

    model = str(ctx.path(str(source.stage), "model")) if source.stage else (source.floor or str(source.folder))
    known = load_codes_by_image(ctx.path(upright, UPRIGHT)) if upright else {}
    table = embed(model, sets, config, cfg.pool, upright=known)
    write_codes(table, ctx.folder / CODES)
    if config.dihedral_average:
        save_codes_by_image(known, ctx.folder / UPRIGHT)
    return {
        "model": str(table["model"].iloc[0]),
        "rows": {s: int(n) for s, n in table["set"].value_counts().items()},
        "dimension": int(sum(c.startswith("z") and c[1:].isdigit() for c in table.columns)),
    }


def stage_table2(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    from radiolatent.downstream.classify import classify_codes

    table = codes_of(ctx, next(iter(ctx.needs)))
    out = {}
    for dataset, train, test in cfg.table2:
        result = classify_codes(table, train, test, seeds=range(cfg.seeds), classifiers=cfg.classifiers)
        write_csv(result.to_frame(), ctx.folder / f"table2_{dataset}.csv")
        write_text(ctx.folder / f"table2_{dataset}.md", result.to_markdown())
        out[dataset] = {
            "encoder": result.encoder,
            "model": result.model,
            "best": result.best(),
            "n_train": result.n_train,
            "n_test": result.n_test,
            "rows": result.to_frame()[["classifier", "metric", "mean", "sd", "reference"]]
            .replace({np.nan: None})
            .to_dict("records"),
        }
    return out


def stage_protocols(ctx: StageContext, cfg: ReproduceConfig) -> dict:
    """[B]'s kNN (k=20, MBC test), [C]'s kNN on random splits and its BGMM cluster accuracy."""
    from radiolatent.data.codes import code_matrix, select
    from radiolatent.downstream.classify import knn_protocol_b, knn_protocol_c
    from radiolatent.downstream.cluster import cluster, cluster_accuracy

    table = codes_of(ctx, next(iter(ctx.needs)))
    train, test, both = select(table, "mbc:train"), select(table, "mbc:test"), select(table, "mbc")
    X, y = code_matrix(both), both["label"].to_numpy(dtype=int)
    labels, _ = cluster(X, seed=cfg.seed, config=cfg.cluster)
    knn_c = knn_protocol_c(X, y, seed=cfg.seed)
    return {
        "knn_b": knn_protocol_b(
            code_matrix(train), train["label"].to_numpy(int), code_matrix(test), test["label"].to_numpy(int)
        ),
        "knn_c": {k: knn_c[k] for k in ("mean", "sd", "n_splits", "k")},
        "cluster_accuracy": cluster_accuracy(labels, y),
        "clusters": len(np.unique(labels)),
    }


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def reproduce(out: str | Path, cfg: ReproduceConfig | None = None, retrain: bool = False, log=print) -> Path:
    """Run (or resume) the study in `out` and write `out/index.html` and `out/results.json`."""
    cfg = cfg or ReproduceConfig()
    from radiolatent.data.pools import check_sources
    from radiolatent.studies.report import write_report

    check_sources(cfg.pool)  # every source path, before any work
    stages, notes = study_stages(cfg, retrain)
    for note in notes:
        log(f"note: {note}")
    results = Pipeline(out, stages, log).run()
    return write_report(out, results, cfg, retrain=retrain, notes=notes)
