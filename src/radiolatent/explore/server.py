"""The explorer's web server: JSON endpoints over `Explorer` and `Learning`, and the static page.

Security (docs/explore.md; the checks are in `explore.network`): the server binds to loopback unless the user passes
--allow-remote; it answers only requests whose Host is a loopback name (so a web page
elsewhere cannot reach it through DNS rebinding) and refuses state-changing requests
from another origin. It serves nothing outside its data: ids are looked up in the
table (never used as paths) and static files come from a fixed list read from the
package's static folder at start-up.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from radiolatent.config import DEFAULT_ACTIVE, DEFAULT_EXPLORE, SEARCH_METRICS, ActiveLearningConfig, ExploreConfig
from radiolatent.core.errors import InputError, flag
from radiolatent.data.labels import LabelStore
from radiolatent.explore.learning import RANKINGS, Learning
from radiolatent.explore.network import LOOPBACK_NAMES, BodyLimit, same_origin_writes
from radiolatent.explore.network import bind as bind  # bind, serve, check_host: imported from here too
from radiolatent.explore.network import check_host as check_host
from radiolatent.explore.network import serve as serve
from radiolatent.explore.state import ALL_ROWS, HOVER_COLUMNS, Explorer, float_list, json_value
from radiolatent.explore.thumbs import data_url

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: dropped files the embedder reads (FolderConfig's suffixes).
UPLOAD_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".png", ".jpg", ".jpeg", ".npy")
#: how the page names the derived colour columns.
DERIVED_TITLES = {
    "interest": "your interest score (0-5)",
    "al_score": "active-learning score",
    "anomaly": "isolation-forest anomaly score",
    "loglik": "MAF log-likelihood",
}


#: which end of a derived column is worth a look: drawn on top and in the brightest colour.
INTERESTING_END = {"interest": "high", "al_score": "high", "anomaly": "high", "loglik": "low"}


def static_files() -> dict[str, Path]:
    """The only files served under /static: the package's static folder, by name."""
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}


class LabelIn(BaseModel):
    id: str = Field(min_length=1, max_length=1000)
    score: int = Field(ge=0, le=5)


class AppState:
    """Everything a request needs: the table, the learner, the density column."""

    def __init__(self, explorer: Explorer, learning: Learning, loglik: np.ndarray | None, density_dir, encoder=None):
        self.explorer = explorer
        self.learning = learning
        self.loglik = loglik
        self.density_dir = density_dir
        self._encoder = encoder
        self._encoder_lock = threading.Lock()

    def row(self, source_id: str) -> int:
        try:
            return self.explorer.row(source_id)
        except KeyError:
            raise HTTPException(404, f"no source with id '{source_id}' in this codes table") from None

    def derived(self) -> dict[str, np.ndarray]:
        """Per-row columns that come from models and labels rather than the table."""
        out = {"interest": self.learning.interest(), "anomaly": self.learning.anomaly()}
        if self.learning.mean is not None:
            out["al_score"] = self.learning.mean
        if self.loglik is not None:
            out["loglik"] = self.loglik
        return out

    def encoder(self):
        """The encoder that made the table, loaded on the first dropped file."""
        from radiolatent.embedding import encoder_for_table

        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = encoder_for_table(self.explorer.table, None)
            return self._encoder

    def result(self, row: int, labels: dict[str, float], score: float | None = None, rank: int | None = None) -> dict:
        """One source as the page lists it: id, a little metadata, its label and scores."""
        table = self.explorer.table
        source_id = str(table["id"].iat[row])
        item = {"id": source_id, "rank": rank, "score": None if score is None else json_value(float(score))}
        for name in HOVER_COLUMNS:
            item[name] = json_value(table[name].iat[row]) if name in table else None
        item["interest"] = labels.get(source_id)
        return item


def default_labels_path(codes_path: str | Path) -> Path:
    """Labels live beside the codes they score: codes.parquet -> codes.labels.jsonl."""
    codes_path = Path(codes_path)
    return codes_path.with_name(f"{codes_path.stem}.labels.jsonl")


def load_density(density_dir: str | Path | None):
    """A fitted density model (`radiolatent density fit`), or None without one."""
    if density_dir is None:
        return None
    from radiolatent.downstream.density import DensityModel

    return DensityModel.load(density_dir)


def create_app(
    codes_path: str | Path,
    labels_path: str | Path | None = None,
    density_dir: str | Path | None = None,
    model: str | Path | None = None,
    config: ExploreConfig = DEFAULT_EXPLORE,
    active_config: ActiveLearningConfig = DEFAULT_ACTIVE,
    cache_dir: str | Path | None = None,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_NAMES,
    preload_images: bool = False,
    log=None,
    predictions: str | Path | None = None,
) -> FastAPI:
    """The explorer app for one codes table. `labels_path` defaults to beside the codes;
    `allowed_hosts=None` accepts any Host header (for --allow-remote); `preload_images`
    starts reading the images in the background so the first thumbnails come quickly;
    `model` embeds dropped files (default: the table's own model, if it can be rebuilt);
    `predictions` (a `radiolatent predict` catalogue) adds its columns to colour the map by."""
    density = load_density(density_dir)  # first: a wrong folder fails before any slow work
    labels_path = Path(labels_path) if labels_path is not None else default_labels_path(codes_path)
    LabelStore(labels_path).check_writable()  # now, not as an HTTP 500 on the first label
    explorer = Explorer(codes_path, config, cache_dir=cache_dir, log=log, predictions=predictions)
    encoder = None
    if model is not None:
        from radiolatent.embedding import checked_encoder_for_table, table_embed_config

        encoder = checked_encoder_for_table(explorer.table, model, table_embed_config(explorer.table))
    if preload_images:
        explorer.load_images_in_background()
    learning = Learning(list(explorer.table["id"]), explorer.codes, labels_path, active_config, seed=config.seed)
    learning.anomaly()  # computed now so no request waits for the forest
    loglik = None if density is None else np.asarray(density.score_samples(explorer.codes), dtype=np.float64)
    state = AppState(explorer, learning, loglik, density_dir, encoder)
    app = FastAPI(title="radiolatent explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.data = state
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.middleware("http")(same_origin_writes)
    app.add_middleware(BodyLimit, limit=lambda path: body_limit(config, path))
    app.exception_handler(InputError)(input_error)
    app.exception_handler(RequestValidationError)(validation_error)
    add_page_routes(app)
    add_data_routes(app, state)
    add_search_routes(app, state)
    add_label_routes(app, state)
    return app


async def input_error(request: Request, exc: InputError):
    """400 with the one-line problem, settings spelled as the flags the explorer was started with."""
    return JSONResponse({"detail": exc.line(flag)}, status_code=400)


async def validation_error(request: Request, exc: RequestValidationError):
    """422 with what was wrong, never the request's own content (FastAPI's default echoes it)."""
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', 'invalid')}" for e in exc.errors()
    ]
    return JSONResponse({"detail": "; ".join(problems[:3])[:300]}, status_code=422)


def body_limit(config: ExploreConfig, path: str) -> int:
    """A dropped file may be max_upload_bytes (plus its multipart wrapping); nothing else
    the page sends is more than a few hundred bytes."""
    return config.max_upload_bytes + 2**16 if path == "/api/search/upload" else config.max_body_bytes


# ---------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------


def add_page_routes(app: FastAPI) -> None:
    files = static_files()

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(files["index.html"], media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        # a fixed list of names: no path is ever built from the request
        if name not in files:
            raise HTTPException(404, "no such file")
        return FileResponse(files[name], headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------------
# rows, map, colours, thumbnails
# ---------------------------------------------------------------------------


def add_data_routes(app: FastAPI, state: AppState) -> None:
    explorer = state.explorer

    @app.get("/api/info")
    def info():
        table = explorer.table
        return {
            "codes": explorer.codes_path.name,
            "rows": len(explorer),
            "dims": int(explorer.codes.shape[1]),
            "model": str(table["model"].iat[0]),
            "sets": sorted(table["set"].astype(str).unique()),
            "scopes": explorer.scopes(),
            "metrics": list(SEARCH_METRICS),
            "metric": explorer.config.metric,
            "k": explorer.config.k,
            "list_length": explorer.config.list_length,
            "rankings": list(RANKINGS),
            "density": state.density_dir is not None,
            "density_hint": None
            if state.density_dir is not None
            else "colour and sort by log-likelihood: `radiolatent density fit` then restart with --density DIR",
            "labels_file": state.learning.labels_path.name,
            "labelled": len(state.learning.scores()),
            "fitted_on": state.learning.fitted_on,
        }

    map_body: list[bytes] = []  # encoded on the first request, then served as is (the map never changes)

    @app.get("/api/map")
    def map_points():
        if not map_body:
            table = explorer.table
            hover = {name: [json_value(v) for v in table[name].tolist()] for name in HOVER_COLUMNS if name in table}
            points = {
                "ids": table["id"].tolist(),
                "x": float_list(explorer.xy[:, 0]),
                "y": float_list(explorer.xy[:, 1]),
                "hover": hover,
            }
            map_body.append(plain_json(points))
        return Response(map_body[0], media_type="application/json")

    @app.get("/api/columns")
    def columns():
        kinds = explorer.colour_kinds(state.derived())
        out = [{"name": name, "kind": kind, "title": DERIVED_TITLES.get(name, name)} for name, kind in kinds.items()]
        if state.loglik is None:
            out.append({"name": "loglik", "kind": "unavailable", "title": DERIVED_TITLES["loglik"]})
        return {"columns": out}

    @app.get("/api/colour/{name}")
    def colour(name: str):
        column = explorer.colour(name, state.derived())
        if column is None:
            raise HTTPException(404, f"no colour column '{name}'")
        return Response(
            plain_json(
                {
                    "name": name,
                    "title": DERIVED_TITLES.get(name, name),
                    "interesting": INTERESTING_END.get(name),
                    **column,
                }
            ),
            media_type="application/json",
        )

    @app.get("/api/source/{source_id:path}")
    def source(source_id: str):
        row = state.row(source_id)
        derived = state.derived()
        scores = {name: json_value(float(values[row])) for name, values in derived.items()}
        return {
            "id": source_id,
            "metadata": explorer.metadata(row),
            "scores": scores,
            "interest": state.learning.scores().get(source_id),
        }

    @app.get("/api/find")
    def find(q: Annotated[str, Query(max_length=200)] = ""):
        return {"ids": explorer.find(q)}

    @app.get("/api/thumb/{source_id:path}")
    def thumbnail(source_id: str):
        png = explorer.thumbnail(state.row(source_id))
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def plain_json(body: dict) -> bytes:
    """JSON of plain Python values, encoded directly: FastAPI's own encoder walks every
    element and takes seconds on the per-point lists of a 100,000-row map."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


# ---------------------------------------------------------------------------
# similarity search
# ---------------------------------------------------------------------------


def add_search_routes(app: FastAPI, state: AppState) -> None:
    explorer = state.explorer
    config = explorer.config

    @app.get("/api/neighbours/{source_id:path}")
    def neighbours(
        source_id: str,
        k: Annotated[int, Query(ge=1, le=100)] = config.k,
        metric: str = config.metric,
        scope: Annotated[str, Query(alias="in")] = ALL_ROWS,
    ):
        row = state.row(source_id)
        hits = explorer.neighbours(explorer.codes[row], k, metric, scope, exclude_row=row)
        return {"query": source_id, "metric": metric, "in": scope, "results": results(state, hits)}

    @app.post("/api/search/upload")
    def upload(
        file: Annotated[UploadFile, File()],
        k: Annotated[int, Form(ge=1, le=100)] = config.k,
        metric: Annotated[str, Form()] = config.metric,
        scope: Annotated[str, Form(alias="in")] = ALL_ROWS,
        pixel_scale: Annotated[float, Form(gt=0)] = config.upload_pixel_scale,
    ):
        image, code = embed_upload(state, file, pixel_scale)
        hits = explorer.neighbours(code, k, metric, scope)
        return {
            "query": Path(file.filename or "upload").name,
            "metric": metric,
            "in": scope,
            "preview": data_url(explorer.picture(image)),
            "results": results(state, hits),
        }


def results(state: AppState, hits: list[tuple[int, float]]) -> list[dict]:
    labels = state.learning.scores()
    return [state.result(row, labels, score, rank) for rank, (row, score) in enumerate(hits, start=1)]


def embed_upload(state: AppState, file: UploadFile, pixel_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A dropped file's model input and code; it is read from a private temporary folder."""
    from radiolatent.embedding import embed_file, table_embed_config

    name = (file.filename or "").lower()
    suffix = next((s for s in UPLOAD_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise HTTPException(415, f"drop a FITS, PNG, JPEG or .npy image (got '{file.filename}')")
    data = file.file.read(state.explorer.config.max_upload_bytes + 1)
    if len(data) > state.explorer.config.max_upload_bytes:
        raise HTTPException(413, f"file larger than {state.explorer.config.max_upload_bytes} bytes")
    # the same orientation averaging the table's codes had, or the search compares unlike codes
    embed_config = table_embed_config(state.explorer.table)
    with tempfile.TemporaryDirectory(prefix="radiolatent-upload-") as folder:
        path = Path(folder) / f"query{suffix}"  # our name, never the client's
        path.write_bytes(data)
        try:
            return embed_file(path, state.encoder(), pixel_scale, embed_config)
        except InputError as exc:
            if exc.source != str(path):
                raise  # not about the file (e.g. no encoder for this table)
            # the reader's message may quote our temporary path: show the person's file name
            shown = Path(file.filename or "upload").name
            raise HTTPException(400, f"{shown}: {exc.spelled(flag).replace(str(path), shown)}") from None


# ---------------------------------------------------------------------------
# labels, retraining, rankings
# ---------------------------------------------------------------------------


def add_label_routes(app: FastAPI, state: AppState) -> None:
    learning = state.learning

    @app.get("/api/labels")
    def labels():
        return {"labels": learning.scores(), "fitted_on": learning.fitted_on}

    @app.post("/api/labels")
    def add_label(item: LabelIn):
        state.row(item.id)
        learning.label(item.id, item.score)
        return {"id": item.id, "score": item.score, "labelled": len(learning.scores())}

    @app.get("/api/labels.csv")
    def export_labels():
        with tempfile.TemporaryDirectory(prefix="radiolatent-labels-") as folder:
            text = learning.export_csv(Path(folder) / "labels.csv").read_text()
        headers = {"Content-Disposition": f'attachment; filename="{learning.labels_path.stem}.csv"'}
        return Response(text, media_type="text/csv", headers=headers)

    @app.post("/api/retrain")
    def retrain():
        seen = learning.retrain()
        return {"fitted_on": seen, "top": ranking_rows(state, "active", 10)}

    @app.get("/api/ranking")
    def ranking(
        by: str = "acquisition", limit: Annotated[int, Query(ge=1, le=10_000)] = state.explorer.config.list_length
    ):
        listing = learning.ranking(by, limit, state.loglik)
        return {
            "by": by,
            "available": listing["available"],
            "message": listing["message"],
            "fitted_on": learning.fitted_on,
            "rows": _rows(state, listing["rows"]),
        }


def ranking_rows(state: AppState, by: str, limit: int) -> list[dict]:
    return _rows(state, state.learning.ranking(by, limit, state.loglik)["rows"])


def _rows(state: AppState, items: list[dict]) -> list[dict]:
    out, labels = [], state.learning.scores()
    for item in items:
        row = state.result(item["row"], labels, item["value"], item["rank"])
        for extra in ("spread", "moved"):
            if extra in item:
                row[extra] = json_value(item[extra])
        out.append(row)
    return out
