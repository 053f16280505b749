"""Our MAF (zuko, early stopping) against denmarf, the library [A] used, on the same codes.

    .venv/bin/pip install -r benchmarks/requirements-denmarf.txt   # benchmark only
    .venv/bin/python benchmarks/density_denmarf.py --codes codes.parquet
    .venv/bin/python benchmarks/density_denmarf.py --codes codes.parquet --denmarf-config paper --denmarf-epochs 10

Both fit the same standardised pool codes with the same rows for training, for choosing
the best epoch (held out), and for the final test (never seen by either): 10 % of the
rows are set aside as the test split, and DensityModel's own train / held-out split of
the rest is handed to denmarf, whose internal random split is replaced by it. denmarf
gets the codes through the same affine map as ours (PCA whitening by default;
`--denmarf-standardise scale` divides each component by its spread instead). Log-
likelihoods are mean nats per row in the original code space (both get the map's
log-Jacobian). Torch runs on `--threads` threads for both.

denmarf settings (`--denmarf-config`):
  same   our config's blocks, hidden units, learning rate and batch size, for our
         config's maximum number of epochs (denmarf has no early stopping: it trains
         every epoch and keeps the best held-out one)
  paper  [A]: 48 MADE blocks of 512 units, lr 5e-4, 600 epochs (`--denmarf-epochs`
         caps the epochs; the wall time for all 600 is then extrapolated per epoch)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
import types

import numpy as np
import torch

from radiolatent.config import preset
from radiolatent.data.codes import code_matrix, read_codes, select
from radiolatent.downstream.density import DensityModel, standardiser
from radiolatent.training.parts import split_indices

INSTALL = ".venv/bin/pip install -r benchmarks/requirements-denmarf.txt"
PAST_TENSE = {"whiten": "whitened", "scale": "scaled"}


def import_denmarf():
    try:
        import denmarf.density
    except ImportError as exc:
        sys.exit(f"denmarf is not installed ({exc}); install it for this benchmark only with:\n    {INSTALL}")
    return denmarf.density


def fixed_split(module, n_train: int, n_valid: int):
    """Make denmarf's `data.random_split` return our rows in order: train, held out, test."""
    import torch.utils.data as data

    def split(dataset, lengths):
        starts = np.cumsum([0, *lengths])
        assert tuple(lengths)[:2] == (n_train, n_valid), f"denmarf asked for {lengths}"
        return [data.Subset(dataset, range(a, b)) for a, b in itertools.pairwise(starts)]

    module.data = types.SimpleNamespace(
        **{k: getattr(data, k) for k in ("TensorDataset", "DataLoader")}, random_split=split
    )


def fit_ours(x_fit: np.ndarray, x_test: np.ndarray, config, seed: int) -> dict:
    start = time.perf_counter()
    model = DensityModel(config).fit(x_fit, seed=seed, progress=True)
    seconds = time.perf_counter() - start
    return {
        "name": f"ours (zuko, '{config.name}')",
        "seconds": seconds,
        "epochs": len(model.history),
        "best_epoch": model.best_epoch,
        "valid": model.valid_loglik,
        "test": model.score(x_test),
        "train": model.score(x_fit),
    }


def fit_denmarf(density, x_fit, x_test, train_rows, valid_rows, config, seed, epochs, blocks, hidden, lr, batch):
    """denmarf on our standardised rows, ordered [train | held out | test]."""
    mean, matrix = standardiser(x_fit[train_rows], config)
    log_jacobian = np.linalg.slogdet(matrix)[1]
    z = lambda x: ((x - mean) @ matrix.T).astype(np.float32)  # noqa: E731
    ordered = np.concatenate([z(x_fit[train_rows]), z(x_fit[valid_rows]), z(x_test)])
    n = len(ordered)
    fixed_split(density, len(train_rows), len(valid_rows))
    estimate = density.DensityEstimate(seed=seed, device="cpu", use_cuda=False)
    start = time.perf_counter()
    # p_train / p_test are turned into counts with int(); the +0.5 makes them exact
    estimate.fit(
        ordered,
        num_blocks=blocks,
        num_hidden=hidden,
        num_epochs=epochs,
        learning_rate=lr,
        weight_decay=config.weight_decay,
        batch_size=batch,
        p_train=(len(train_rows) + 0.5) / n,
        p_test=(len(x_test) + 0.5) / n,
        verbose=True,
    )
    seconds = time.perf_counter() - start
    score = lambda x: float(np.mean(estimate.score_samples(z(x)))) + log_jacobian  # noqa: E731
    return {
        "name": f"denmarf ({blocks} x {hidden}, lr {lr:g}, batch {batch}, codes {PAST_TENSE[config.standardise]})",
        "seconds": seconds,
        "epochs": epochs,
        "best_epoch": None,
        "valid": score(x_fit[valid_rows]),
        "test": score(x_test),
        "train": score(x_fit[train_rows]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", required=True, help="codes table (parquet)")
    parser.add_argument("--on", default="pool", help="rows to fit (default pool)")
    parser.add_argument("--config", default="cpu", help="our density config (default cpu)")
    parser.add_argument("--denmarf-config", choices=("same", "paper"), default="same")
    parser.add_argument("--denmarf-epochs", type=int, default=None, help="cap denmarf's epochs")
    parser.add_argument(
        "--denmarf-standardise",
        choices=("same", "scale"),
        default="same",
        help="denmarf's input: the same map as ours (default) or each component by its spread",
    )
    parser.add_argument("--skip-ours", action="store_true", help="only run denmarf")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    density = import_denmarf()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(preset("density", args.config), threads=args.threads)
    x = code_matrix(select(read_codes(args.codes), args.on))
    fit_rows, test_rows = split_indices(len(x), round(len(x) * args.test_fraction), 1000 + args.seed)
    x_fit, x_test = x[fit_rows], x[test_rows]
    train_rows, valid_rows = split_indices(len(x_fit), round(len(x_fit) * config.valid_fraction), args.seed)
    print(
        f"{args.on}: {len(x)} rows x {x.shape[1]} dims; train {len(train_rows)}, held out {len(valid_rows)}, "
        f"test {len(test_rows)}; torch threads {args.threads}",
        flush=True,
    )

    results = []
    if not args.skip_ours:
        results.append(fit_ours(x_fit, x_test, config, args.seed))
        print_result(results[-1])
    if args.denmarf_config == "same":
        blocks, hidden, lr, batch, epochs = (
            config.transforms,
            config.hidden[0],
            config.lr,
            config.batch_size,
            config.epochs,
        )
    else:
        paper = preset("density", "paper")
        blocks, hidden, lr, batch, epochs = paper.transforms, paper.hidden[0], paper.lr, config.batch_size, paper.epochs
    ran = min(epochs, args.denmarf_epochs or epochs)
    denmarf_input = config if args.denmarf_standardise == "same" else dataclasses.replace(config, standardise="scale")
    result = fit_denmarf(
        density, x_fit, x_test, train_rows, valid_rows, denmarf_input, args.seed, ran, blocks, hidden, lr, batch
    )
    if ran < epochs:
        result["extrapolated_seconds"] = result["seconds"] / ran * epochs
        result["name"] += f", {ran} of {epochs} epochs"
    results.append(result)
    print_result(result)
    if len(results) == 2:
        ours, theirs = results
        total = theirs.get("extrapolated_seconds", theirs["seconds"])
        print(
            f"speed-up: {total / ours['seconds']:.1f}x"
            + (" (against denmarf's extrapolated full run)" if "extrapolated_seconds" in theirs else "")
            + f"; test log-likelihood difference (ours - denmarf): {ours['test'] - theirs['test']:+.1f} nats/row"
        )


def print_result(r: dict) -> None:
    extra = f", {r['extrapolated_seconds']:.0f} s extrapolated to all epochs" if "extrapolated_seconds" in r else ""
    best = f", best epoch {r['best_epoch']}" if r.get("best_epoch") else ""
    print(
        f"{r['name']}: {r['seconds']:.1f} s{extra}; {r['epochs']} epochs{best}; mean log-likelihood per row: "
        f"train {r['train']:.1f}, held out {r['valid']:.1f}, test {r['test']:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
