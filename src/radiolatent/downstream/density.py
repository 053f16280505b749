"""Density estimation on codes: a Masked Autoregressive Flow ([A] section 5).

[A] fitted denmarf's MAF (48 MADE blocks of 2 x 512 units, Adam lr 5e-4, 600 epochs)
to the RGZ DR1 codes, then read the log-likelihood of each source of every set: low
values flag out-of-distribution sources. denmarf saves whole pickled objects that do not
load on current PyTorch, so the flow here is zuko's MAF (a maintained library whose
flows are plain nn.Modules) and a fitted model is saved as safetensors + JSON, never
pickled.

`DensityModel` standardises the codes with a fixed affine map fitted to the training
rows, holds out `valid_fraction` of the rows, and keeps the weights of the epoch with the
best held-out log-likelihood, stopping after `patience` epochs without improvement.
Log-likelihoods are in the original code space: the map's log-Jacobian is included.

The map is PCA whitening by default (`standardise="whiten"`): VDVAE codes are strongly
correlated (the pool's covariance eigenvalues span nine orders of magnitude), and a
MAF trained on per-component standardised codes must learn those linear dependencies to
1e-4 precision through its MLPs. Whitened, it only has to model what is not Gaussian.
On the pool codes this lifted the test log-likelihood from 1377 to ~1650 nats/row, past
denmarf's 1484 (docs/discovery.md). `standardise="scale"` divides each component by its
spread instead.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from radiolatent.config import DEFAULT_DENSITY, DensityConfig, dataclass_from_dict
from radiolatent.errors import InputError

#: files of a saved model: the JSON that names the tensors file, and that file's stem.
MODEL_JSON = "density.json"
TENSOR_STEM = "flow"
MODEL_KIND = "density-maf"
#: rows per forward pass when scoring (bounds memory, not results).
_SCORE_CHUNK = 4096


def build_flow(features: int, config: DensityConfig) -> torch.nn.Module:
    """zuko's MAF: `transforms` MADE blocks with Gaussian (affine) conditionals."""
    import zuko

    if features < 1:
        raise InputError("codes", "a flow needs at least one code component")
    return zuko.flows.MAF(features, transforms=config.transforms, hidden_features=tuple(config.hidden),
                          randperm=config.randperm)


@contextlib.contextmanager
def fixed_threads(n: int):
    """Torch and numpy's BLAS on `n` threads: the same seed then gives the same flow in any
    process (a worker process's BLAS thread count would otherwise change the last bits)."""
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(old)


def split_rows(n: int, valid_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): a seeded shuffle, at least one row in each."""
    if n < 2:
        raise InputError("codes", f"need at least 2 rows to hold some out, got {n}")
    n_valid = min(n - 1, max(1, int(round(n * valid_fraction))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def check_codes(X, source: str = "codes", features: int | None = None) -> np.ndarray:
    """A finite (rows, dims) float32 matrix, or InputError naming `source`."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(source, f"expected a non-empty (rows, dims) code matrix, got shape {X.shape}")
    if features is not None and X.shape[1] != features:
        raise InputError(source, f"codes have {X.shape[1]} components, the density model was fitted on {features}")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X).all(axis=1)).sum())
        raise InputError(source, f"{bad} rows have NaN or infinite codes")
    return X


class DensityModel:
    """A MAF density on codes, scikit-learn style: `fit(X)`, `score_samples(X)`.

    After `fit`: `mean` and `matrix` hold the standardisation z = matrix @ (x - mean),
    `history` one dict per epoch (epoch, train_loglik, valid_loglik: mean log-likelihood
    per row in the original code space), `best_epoch` and `valid_loglik` (the held-out
    value of the kept weights). `info` is free-form metadata saved with the model (e.g.
    the codes table and set it was fitted on).
    """

    def __init__(self, config: DensityConfig = DEFAULT_DENSITY, device: str | torch.device = "cpu"):
        self.config = config
        #: where the flow fits and scores (`density fit --device`); saved weights are on the CPU.
        self.device = torch.device(device)
        self.flow: torch.nn.Module | None = None
        self.mean: np.ndarray | None = None
        self.matrix: np.ndarray | None = None
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.valid_loglik: float | None = None
        self.info: dict = {}

    @property
    def features(self) -> int | None:
        return None if self.mean is None else len(self.mean)

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, seed: int = 0, progress: bool = False) -> DensityModel:
        """Fit on the rows of X (N, D); holds out `valid_fraction` of them for early stopping."""
        X = check_codes(X)
        cfg = self.config
        train_rows, valid_rows = split_rows(len(X), cfg.valid_fraction, seed)
        with fixed_threads(cfg.threads):
            self.mean, self.matrix = standardiser(X[train_rows], cfg)
            train = torch.from_numpy(self._standardise(X[train_rows])).to(self.device)
            valid = torch.from_numpy(self._standardise(X[valid_rows])).to(self.device)
            torch.manual_seed(seed)
            self.flow = build_flow(X.shape[1], cfg).to(self.device)
            self._train(train, valid, seed, progress)
        self.info.setdefault("n_train", int(len(train_rows)))
        self.info.setdefault("n_valid", int(len(valid_rows)))
        return self

    def _train(self, train: torch.Tensor, valid: torch.Tensor, seed: int, progress: bool) -> None:
        cfg = self.config
        optimiser = torch.optim.Adam(self.flow.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        offset = self._log_jacobian()
        best, best_state, since_best = -math.inf, None, 0
        self.history = []
        started = time.perf_counter()
        bar = tqdm(range(cfg.epochs), desc="fitting flow", disable=not progress, leave=False)
        for epoch in bar:
            train_ll = self._epoch(train, optimiser, generator)
            valid_ll = float(self._log_prob(valid).mean()) + offset
            self.history.append({"epoch": epoch + 1, "train_loglik": train_ll + offset, "valid_loglik": valid_ll,
                                 "seconds": time.perf_counter() - started})
            if valid_ll > best:
                best, best_state, since_best = valid_ll, copy.deepcopy(self.flow.state_dict()), 0
                self.best_epoch = epoch + 1
            else:
                since_best += 1
            bar.set_postfix(valid=f"{valid_ll:.1f}", best=f"{best:.1f}")
            if cfg.patience and since_best >= cfg.patience:
                break
        if best_state is None:
            raise InputError("codes", "the flow's held-out log-likelihood was never finite; check the codes")
        self.flow.load_state_dict(best_state)
        self.flow.eval()
        self.valid_loglik = best

    def _epoch(self, train: torch.Tensor, optimiser, generator: torch.Generator) -> float:
        """One pass over the training rows in shuffled minibatches; mean standardised log-likelihood."""
        cfg = self.config
        self.flow.train()
        total, count = 0.0, 0
        for batch in torch.randperm(len(train), generator=generator).split(cfg.batch_size):
            log_prob = self.flow().log_prob(train[batch.to(train.device)])
            loss = -log_prob.mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.flow.parameters(), cfg.grad_clip)
            if torch.isfinite(loss):
                optimiser.step()
            total += float(log_prob.detach().sum())
            count += len(batch)
        return total / count

    # -- scoring ----------------------------------------------------------------

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood of each row of X (N, D) under the flow, in nats, in the original
        code space: log p(x) = log q(z) + log|det A|, with z = A (x - mean) the
        standardised code and log|det A| the standardisation's log-Jacobian (for
        per-component scaling, -sum(log spread)). Float64, shape (N,)."""
        self._check_fitted()
        X = check_codes(X, features=self.features)
        with fixed_threads(self.config.threads):
            z = torch.from_numpy(self._standardise(X))
            parts = [self._log_prob(chunk.to(self.device)).cpu() for chunk in z.split(_SCORE_CHUNK)]
        return torch.cat(parts).double().numpy() + self._log_jacobian()

    def score(self, X) -> float:
        """Mean log-likelihood per row."""
        return float(np.mean(self.score_samples(X)))

    @torch.no_grad()
    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        self.flow.eval()
        return self.flow().log_prob(z)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) @ self.matrix.T).astype(np.float32)

    def _log_jacobian(self) -> float:
        return float(np.linalg.slogdet(self.matrix)[1])

    def _check_fitted(self) -> None:
        if self.flow is None:
            raise RuntimeError("DensityModel.fit (or load) must run first")

    # -- saving -----------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write `density.json` + `flow-<sha>.safetensors` into `directory` (atomically, no pickle)."""
        import zuko

        from radiolatent.models.checkpoint import save_pair

        self._check_fitted()
        tensors = {f"flow.{k}": v.detach().cpu().contiguous().clone() for k, v in self.flow.state_dict().items()}
        tensors["standardise.mean"] = torch.from_numpy(np.ascontiguousarray(self.mean, dtype=np.float64))
        tensors["standardise.matrix"] = torch.from_numpy(np.ascontiguousarray(self.matrix, dtype=np.float64))
        meta = {
            "kind": MODEL_KIND,
            "library": f"zuko {zuko.__version__}",
            "features": self.features,
            "config": dataclasses.asdict(self.config),
            "best_epoch": self.best_epoch,
            "valid_loglik": self.valid_loglik,
            "history": self.history,
            "info": self.info,
        }
        save_pair(directory, MODEL_JSON, TENSOR_STEM, tensors, meta)
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> DensityModel:
        """A model saved by `save` (scoring on `device`); InputError naming the file if it is
        missing or corrupt."""
        from radiolatent.models.checkpoint import load_pair

        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(directory, "no such density model folder")
        meta, tensors = load_pair(directory, MODEL_JSON)
        json_path = directory / MODEL_JSON
        if meta.get("kind") != MODEL_KIND:
            raise InputError(json_path, f"not a density model (kind {meta.get('kind')!r})")
        try:
            model = cls(dataclass_from_dict(DensityConfig, meta.get("config")))
            features = int(meta["features"])
            model.mean = tensors.pop("standardise.mean").double().numpy()
            model.matrix = tensors.pop("standardise.matrix").double().numpy()
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(json_path, f"bad density model description ({exc})") from None
        if model.mean.shape != (features,) or model.matrix.shape != (features, features):
            raise InputError(json_path, "standardisation does not fit the recorded number of features")
        if not np.isfinite(model._log_jacobian()):
            raise InputError(json_path, "standardisation matrix is singular")
        flow = build_flow(features, model.config)
        state = {k.removeprefix("flow."): v for k, v in tensors.items()}
        try:
            flow.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(directory / meta["tensors_file"], f"weights do not fit the config ({first})") from None
        model.device = torch.device(device)
        model.flow = flow.to(model.device).eval()
        model.history = list(meta.get("history") or [])
        model.best_epoch = meta.get("best_epoch")
        model.valid_loglik = meta.get("valid_loglik")
        model.info = dict(meta.get("info") or {})
        return model


def standardiser(X: np.ndarray, config: DensityConfig) -> tuple[np.ndarray, np.ndarray]:
    """(mean, A) of the affine map z = A (x - mean) fitted to the rows of X.

    "whiten": A = diag(lambda)^-1/2 U^T from the covariance's eigenvectors U and values
    lambda, each floored at `min_eigen_fraction` of the largest (a direction the rows do
    not span must not get an unbounded density). "scale": A = diag(1 / spread), spreads
    floored at `min_scale_fraction` of the largest.
    """
    X = X.astype(np.float64)
    mean = X.mean(axis=0)
    if config.standardise == "whiten":
        values, vectors = np.linalg.eigh(np.atleast_2d(np.cov(X, rowvar=False, bias=True)))
        floor = max(float(values.max()) * config.min_eigen_fraction, 1e-300)
        return mean, (vectors / np.sqrt(np.maximum(values, floor))).T
    if config.standardise == "scale":
        spread = X.std(axis=0)
        floor = max(float(spread.max()) * config.min_scale_fraction, 1e-12)
        return mean, np.diag(1.0 / np.maximum(spread, floor))
    raise InputError("config", f"unknown standardise {config.standardise!r}; choose whiten or scale")


def standard_normal_loglik(X) -> np.ndarray:
    """Log-density of each row under a standard normal in the codes' own space (a baseline)."""
    X = np.asarray(X, dtype=np.float64)
    return -0.5 * (X**2).sum(axis=1) - 0.5 * X.shape[1] * math.log(2 * math.pi)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def plot_history(history: list[dict], path: str | Path, title: str = "MAF training") -> Path:
    """Mean log-likelihood per row on the training and held-out rows, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radiolatent.fileio import save_figure

    if not history:
        raise InputError(path, "no training history to plot")
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h["train_loglik"] for h in history], label="train")
    ax.plot(epochs, [h["valid_loglik"] for h in history], label="held out")
    best = max(history, key=lambda h: h["valid_loglik"])
    ax.axvline(best["epoch"], color="grey", ls=":", label=f"best epoch {best['epoch']}")
    # the first epochs can be far below the rest; show the part worth reading
    values = np.array([h["valid_loglik"] for h in history] + [h["train_loglik"] for h in history])
    low, high = np.percentile(values, 5), values.max()
    ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean log-likelihood per row (nats)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return save_figure(fig, path)


#: display order and colours of the sets in the histogram ([A] Fig. 11: generated in black).
_SET_COLOURS = {"pool": "tab:blue", "mirabest:confident": "tab:orange", "frdeep-n": "tab:green",
                "generated": "black"}


def plot_loglik_histograms(scores, path: str | Path, title: str = "log-likelihood under the MAF") -> Path:
    """One normalised histogram per set of a `density score` table ([A] Fig. 11).

    The x range spans the 0.5th to 100th percentile of all values, so a few extreme
    outliers do not squash the rest; how many rows of each set fall below is in the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from radiolatent.fileio import save_figure

    values = scores["loglik"].to_numpy(dtype=float)
    low, high = np.percentile(values, 0.5), values.max()
    bins = np.linspace(low, high, 60)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    names = list(dict.fromkeys(scores["set"].astype(str)))
    known = [n for n in _SET_COLOURS if n in names]
    others = [n for n in names if n not in _SET_COLOURS]
    used = {to_hex(c) for c in _SET_COLOURS.values()}
    spare = iter(c for c in plt.rcParams["axes.prop_cycle"].by_key()["color"] if to_hex(c) not in used)
    colours = {**{n: _SET_COLOURS[n] for n in known}, **{n: next(spare, "tab:grey") for n in others}}
    for name in known + others:
        ll = scores.loc[scores["set"] == name, "loglik"].to_numpy(dtype=float)
        below = int((ll < low).sum())
        label = f"{name} ({len(ll)}" + (f", {below} below range)" if below else ")")
        ax.hist(np.clip(ll, low, None), bins=bins, density=True, histtype="step", lw=1.5,
                color=colours[name], label=label)
    ax.set_xlabel("log-likelihood (nats)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------
# On codes tables: fit, score, figures (`density fit | score | plot`, the study's stages)
# ---------------------------------------------------------------------------

#: columns of a scores table (`density score`'s CSV; label_name added for captions).
SCORE_COLUMNS = ("id", "set", "split", "label", "label_name", "loglik")
#: the set name of images decoded from the VDVAE prior and scored beside the data.
GENERATED_SET = "generated"


def density_config(name: str, assignments: list[str] | tuple[str, ...] = ()) -> DensityConfig:
    """A named MAF preset with NAME=VALUE overrides, e.g. ('threads=2',)."""
    from radiolatent.config import get_density_config, override

    try:
        return override(get_density_config(name), list(assignments))
    except (KeyError, ValueError) as exc:
        raise InputError("--config/--set", str(exc).strip("'\"")) from None


def fit_table(rows, config: DensityConfig, *, seed: int = 0, device: str | torch.device = "cpu",
              source: str = "", on: str = "", progress: bool = False) -> DensityModel:
    """A MAF fitted to the codes of codes-table rows; its info records where they came from
    (the table `source`, the rows `on`, the model that made them), so scoring another
    encoder's codes with it is refused."""
    from radiolatent.codes import code_columns, code_matrix

    model = DensityModel(config, device)
    model.info.update(codes=str(source), on=on, model=str(rows["model"].iloc[0]),
                      columns=len(code_columns(rows)), seed=seed)
    return model.fit(code_matrix(rows), seed=seed, progress=progress)


def check_same_encoder(model: DensityModel, table, source: str) -> None:
    """A density fitted on one encoder's codes means nothing for another's."""
    fitted_on = model.info.get("model")
    made_by = sorted(table["model"].astype(str).unique())
    if fitted_on and made_by != [fitted_on]:
        raise InputError(source, f"codes made by {made_by}, the density model was fitted on codes of {fitted_on!r}")


def load_for(path: str | Path, table, source: str, device: str | torch.device = "cpu") -> DensityModel:
    """The flow saved in `path`, refused unless it was fitted on codes of the table's encoder."""
    model = DensityModel.load(path, device)
    check_same_encoder(model, table, source)
    return model


def scored_rows(rows, set_name: str, loglik: np.ndarray):
    """A scores table (SCORE_COLUMNS) of codes-table rows and their log-likelihoods."""
    out = rows[["id", "split", "label", "label_name"]].reset_index(drop=True).copy()
    out.insert(1, "set", set_name)
    out["loglik"] = loglik
    return out[list(SCORE_COLUMNS)]


def score_table(table, model: DensityModel, sets: list[str] | None = None, *, generated: int = 0,
                vdvae: str | Path | None = None, encoder: str | None = None, temperature: float = 1.0,
                seed: int = 0):
    """Log-likelihood of every row of `sets` (specs; default every set of the table), and of
    `generated` images decoded from the VDVAE prior (`vdvae`, default the shipped one),
    embedded like the table's rows: [A]'s black curve."""
    import pandas as pd

    from radiolatent.codes import code_matrix, select

    if sets:
        parts = [(spec, select(table, spec)) for spec in sets]
    else:
        parts = [(name, table[table["set"] == name]) for name in table["set"].astype(str).unique()]
    frames = [scored_rows(rows, name, model.score_samples(code_matrix(rows))) for name, rows in parts]
    if generated > 0:
        frames.append(_generated_scores(table, model, generated, vdvae, encoder, temperature, seed))
    return pd.concat(frames, ignore_index=True)


def _generated_scores(table, model: DensityModel, n: int, vdvae, encoder, temperature: float, seed: int):
    import pandas as pd

    from radiolatent.embedding import SHIPPED_MODEL, encode_images, table_embed_config
    from radiolatent.generative import prior_samples
    from radiolatent.models.checkpoint import load_model

    sampler = load_model(vdvae or SHIPPED_MODEL)
    config = table_embed_config(table)
    coder = _generated_encoder(table, vdvae, encoder, config)
    torch.manual_seed(seed)
    images = prior_samples(sampler, n, temperature, config.batch_size)
    codes = encode_images(coder, images, config, progress=True)
    rows = pd.DataFrame({"id": [f"generated-{i}" for i in range(len(codes))], "split": "all", "label": -1,
                         "label_name": f"generated T={temperature:g}"})
    return scored_rows(rows, GENERATED_SET, model.score_samples(codes))


def _generated_encoder(table, vdvae, encoder, config):
    """The encoder for generated images: `encoder`, else the `vdvae` model itself when it
    made the table (a freshly trained run cannot be rebuilt by name), else the table's own."""
    from radiolatent.embedding import encoder_for_table, load_encoder, table_model

    if encoder is None and vdvae:
        sampler_encoder = load_encoder(Path(vdvae), config)
        if sampler_encoder.name == table_model(table):
            return sampler_encoder
    return encoder_for_table(table, encoder, config)


def read_scores(path: str | Path):
    """A scores CSV written by `density score`, checked."""
    import pandas as pd

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


def lowest(scores, set_name: str, n: int, source: str = "scores"):
    """The n least likely rows of one set of a scores table, least likely first."""
    rows = scores[scores["set"] == set_name]
    if rows.empty:
        raise InputError(source, f"no rows of set '{set_name}' (sets: {sorted(scores['set'].unique())})")
    if n < 1:
        raise InputError("-n", f"must be at least 1, got {n}")
    return rows.sort_values("loglik", kind="stable").head(n).reset_index(drop=True)


def density_figures(scores, table, out: str | Path, gallery_set: str = "mirabest:confident", n: int = 16,
                    in_spec: str = "pool", k: int = 8, metric: str = "cosine", source: str = "scores"):
    """[A]'s Figures 11-13 from a scores table and the codes table it scored: histograms per
    set, a gallery of `gallery_set`'s n least likely sources, and a search in `in_spec` from
    the least likely one. Returns (the n least likely rows, the files written)."""
    out = Path(out)
    least = lowest(scores, gallery_set, n, source)
    written = [plot_loglik_histograms(scores, out / "loglik_hist.png")]
    written += _gallery(table, least, gallery_set, out)
    written += _search_from_lowest(table, least.iloc[0], gallery_set, in_spec, k, metric, out)
    return least, written


def _gallery(table, least, set_name: str, out: Path) -> list[Path]:
    from radiolatent import embedding
    from radiolatent.data.grid import image_grid
    from radiolatent.fileio import write_csv

    rows = _table_rows(table, least, set_name)
    captions = [f"{label_text(name)}\nlog L {ll:.0f}" for name, ll in zip(least["label_name"], least["loglik"])]
    safe = safe_name(set_name)
    png = image_grid(embedding.load_images_for(rows), captions, out / f"lowest_{safe}.png",
                     title=f"lowest-likelihood sources of {set_name}")
    return [png, write_csv(least, out / f"lowest_{safe}.csv")]


def _search_from_lowest(table, query, set_name: str, in_spec: str, k: int, metric: str, out: Path) -> list[Path]:
    from radiolatent import embedding
    from radiolatent.data.grid import caption_for
    from radiolatent.downstream.search import result_captions, search_grid, similar
    from radiolatent.fileio import write_csv

    result = similar(table, str(query["id"]), in_spec, k=k, metric=metric, exclude_self=True)
    query_row = _table_rows(table, query.to_frame().T, set_name)
    result_rows = table.drop_duplicates("id").set_index("id").loc[result["id"]].reset_index()
    png = search_grid(embedding.load_images_for(query_row)[0], embedding.load_images_for(result_rows),
                      result_captions(result, metric), out / "search_from_lowest.png",
                      query_caption=f"query · {caption_for(query_row.iloc[0])}",
                      title=f"{in_spec}, {metric}: like the least likely source")
    return [png, write_csv(result, out / "search_from_lowest.csv")]


def _table_rows(table, picked, set_name: str):
    """The codes-table rows of `picked` ids (from `set_name` when the id appears in several sets)."""
    rows = table[table["set"].astype(str) == set_name]
    if rows.empty:
        rows = table
    rows = rows.drop_duplicates("id").set_index("id")
    missing = [i for i in picked["id"] if i not in rows.index]
    if missing:
        raise InputError(table.attrs.get("source", "codes table"), f"no row with id {missing[0]!r}: scores and codes differ")
    return rows.loc[list(picked["id"])].reset_index()


def label_text(name) -> str:
    """A label name for a caption; a missing one is 'unlabelled'."""
    return str(name) if isinstance(name, str) and name else "unlabelled"


def safe_name(text: str) -> str:
    """`text` with every run of characters unsafe in a file name replaced by '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
