"""The papers' published numbers, as data, plus the project's measured no-learning floors.

[A] S. Andrianomena and H. Tang, "Radio Galaxy Zoo: Leveraging latent space
    representations from variational autoencoder", JCAP 06 (2024) 034.
[B] I. V. Slijepcevic, A. M. M. Scaife, M. Walmsley and M. Bowles, "Learning useful
    representations for radio astronomy 'in the wild' with contrastive learning" (2022;
    BYOL on RGZ DR1).
[C] M. Mohale and M. Lochner, "Enabling unsupervised discovery in astronomical images
    through self-supervised representations" (2024; BYOL, clustering and active-learning
    anomaly detection).

`PUBLISHED_TABLE2` is all of [A] Table 2 (24 rows, 144 cells): test-set accuracy, ROC-AUC,
specificity and recall (FRII positive) for six classifiers on each of four encoders, on
MiraBest Confident ('mbc') and FR-DEEP NVSS ('nvss'). `OTHER_REFERENCES` holds [B]'s and
[A]'s other headline numbers; `PROTOCOLS` the published settings of [B]'s and [C]'s
evaluations (for [C] its protocol only: no result numbers of [C] are stored). The floors
are not published: this project measures them, in the study itself (`radiolatent reproduce
--seeds 3`, stages table2-pixels-pca and table2-random-conv; recorded in docs/results.md,
"The VDVAE's six classifiers beside [A]'s").
"""

from __future__ import annotations

METRICS = ("accuracy", "roc_auc", "specificity", "recall")
ENCODERS = ("vdvae", "simclr", "byol", "simsiam")
DATASETS = ("mbc", "nvss")
TABLE2 = "[A] Table 2"


def _row(encoder: str, dataset: str, classifier: str, values: tuple, source: str, note: str = "") -> dict:
    row = {"encoder": encoder, "dataset": dataset, "classifier": classifier, "source": source, "note": note}
    row.update(zip(METRICS, values))
    return row


# (encoder, classifier, MBC acc/roc/spec/rec, NVSS acc/roc/spec/rec): all 24 rows, 144 cells
_TABLE2_ROWS = (
    ("vdvae", "knn", (0.76, 0.86, 0.73, 0.78), (0.74, 0.83, 0.55, 0.89)),
    ("vdvae", "rf", (0.80, 0.89, 0.80, 0.80), (0.80, 0.83, 0.73, 0.86)),
    ("vdvae", "svc", (0.75, 0.88, 0.69, 0.80), (0.72, 0.84, 0.55, 0.86)),
    ("vdvae", "lr", (0.73, 0.82, 0.63, 0.82), (0.72, 0.85, 0.50, 0.89)),
    ("vdvae", "grad", (0.80, 0.89, 0.76, 0.84), (0.76, 0.86, 0.64, 0.86)),
    ("vdvae", "ext", (0.82, 0.90, 0.82, 0.82), (0.80, 0.87, 0.73, 0.86)),
    ("simclr", "knn", (0.63, 0.72, 0.57, 0.69), (0.72, 0.78, 0.45, 0.93)),
    ("simclr", "rf", (0.67, 0.76, 0.55, 0.78), (0.74, 0.82, 0.50, 0.93)),
    ("simclr", "svc", (0.72, 0.82, 0.71, 0.73), (0.76, 0.83, 0.50, 0.96)),
    ("simclr", "lr", (0.71, 0.73, 0.63, 0.78), (0.86, 0.84, 0.77, 0.93)),
    ("simclr", "grad", (0.64, 0.73, 0.69, 0.60), (0.78, 0.82, 0.64, 0.89)),
    ("simclr", "ext", (0.67, 0.75, 0.55, 0.78), (0.76, 0.82, 0.55, 0.93)),
    ("byol", "knn", (0.63, 0.72, 0.67, 0.60), (0.72, 0.78, 0.41, 0.96)),
    ("byol", "rf", (0.70, 0.77, 0.61, 0.78), (0.72, 0.84, 0.50, 0.89)),
    ("byol", "svc", (0.73, 0.77, 0.73, 0.73), (0.84, 0.88, 0.68, 0.96)),
    ("byol", "lr", (0.70, 0.68, 0.61, 0.78), (0.80, 0.84, 0.64, 0.93)),
    ("byol", "grad", (0.64, 0.68, 0.59, 0.69), (0.76, 0.81, 0.55, 0.93)),
    ("byol", "ext", (0.69, 0.77, 0.57, 0.80), (0.74, 0.83, 0.55, 0.89)),
    ("simsiam", "knn", (0.59, 0.70, 0.61, 0.56), (0.74, 0.81, 0.45, 0.96)),
    ("simsiam", "rf", (0.66, 0.81, 0.57, 0.75), (0.76, 0.84, 0.55, 0.93)),
    ("simsiam", "svc", (0.67, 0.77, 0.61, 0.73), (0.74, 0.86, 0.45, 0.96)),
    ("simsiam", "lr", (0.66, 0.73, 0.69, 0.64), (0.82, 0.83, 0.73, 0.89)),
    ("simsiam", "grad", (0.71, 0.76, 0.71, 0.71), (0.80, 0.85, 0.64, 0.93)),
    ("simsiam", "ext", (0.73, 0.80, 0.61, 0.84), (0.74, 0.83, 0.50, 0.93)),
)


def _table2() -> list[dict]:
    rows = []
    for encoder, clf, mbc, nvss in _TABLE2_ROWS:
        rows.append(_row(encoder, "mbc", clf, mbc, TABLE2))
        rows.append(_row(encoder, "nvss", clf, nvss, TABLE2))
    return rows


PUBLISHED_TABLE2: list[dict] = _table2()

#: other published reference points (NaN-free: only the metrics each source gives).
OTHER_REFERENCES: list[dict] = [
    {
        "name": "byol-29arcsec-cut",
        "encoder": "byol",
        "dataset": "mbc",
        "classifier": "knn",
        "accuracy": 0.8525,
        "source": "[B]",
        "note": "BYOL on RGZ DR1 with a 29 arcsec angular-size cut; kNN k=20, MBC test",
    },
    {
        "name": "supervised-resnet18",
        "encoder": "supervised",
        "dataset": "mirabest",
        "classifier": "resnet18",
        "accuracy": 0.9242,
        "source": "[B]",
        "note": "supervised ResNet-18 trained on MiraBest labels",
    },
    {
        "name": "transfer-cnn-nvss",
        "encoder": "transfer-cnn",
        "dataset": "nvss",
        "classifier": "cnn",
        "accuracy": 0.73,
        "roc_auc": 0.81,
        "specificity": 0.71,
        "recall": 0.88,
        "source": "as quoted by [A]",
        "note": "transfer-learned CNN on FR-DEEP NVSS; specificity and recall approximate",
    },
]

#: [A]'s other numbers the report puts beside ours.
PCA_COMPONENTS = {"n95": 2, "n98": 4}  # [A]: PCA components holding 95 % / 98 % of the VDVAE codes' variance

#: the published evaluation settings of [B] and [C] (the protocols stage runs these).
PROTOCOLS: dict[str, dict] = {
    "knn_b": {
        "source": "[B]",
        "k": 20,
        "train": "mbc:train",
        "test": "mbc:test",
        "note": "kNN on BYOL features; 85.25 % with a 29 arcsec cut on RGZ DR1",
    },
    "knn_c": {
        "source": "[C]",
        "k": 5,
        "metric": "minkowski",
        "splits": 50,
        "test_fraction": 0.25,
        "note": "kNN on MiraBest Confident, 50 random 75/25 splits, mean and spread",
    },
    "mirabest_byol_c": {
        "source": "[C]",
        "batch_size": 32,
        "epochs": 50,
        "train_images": 1256,
        "evaluated_on": "mirabest:confident",
        "note": "BYOL trained on all of MiraBest; pretrained initialisation beat random",
    },
    "cluster_c": {
        "source": "[C]",
        "components": 20,
        "weight_concentration_prior": 0.5,
        "n_init": 10,
        "max_iter": 1000,
        "pca_variance": 0.95,
        "note": "BGMM clusters labelled by majority class came close to the kNN accuracy",
    },
    "active_c": {
        "source": "[C]",
        "initial": 10,
        "per_round": 10,
        "budget": 200,
        "eta": 0.5,
        "note": "Astronomaly protege: GP regressor on 0-5 scores, expected improvement",
    },
}


def other_reference(name: str) -> dict | None:
    """One of `OTHER_REFERENCES` by name ('byol-29arcsec-cut', 'supervised-resnet18', ...)."""
    return next((dict(r) for r in OTHER_REFERENCES if r["name"] == name), None)


# test_classify looks for "measured in a probe" in a floor's source
MEASURED = (
    "measured in a probe of this project's study, not published "
    "(`radiolatent reproduce --seeds 3`, +d8 codes; docs/results.md, the floors of 2026-11-26)"
)

#: no-learning floors, best classifier: (encoder, dataset, classifier, accuracy, roc_auc, note); 3 seeds.
_FLOORS = (
    ("random-conv", "mbc", "rf", 0.837, 0.902, "untrained conv encoder, 256-d"),
    ("random-conv", "nvss", "lr", 0.780, 0.846, "untrained conv encoder, 256-d"),
    ("pixels-pca", "mbc", "svc", 0.788, 0.849, "64x64 model input, PCA-256 fitted on the pool"),
    ("pixels-pca", "nvss", "svc", 0.760, 0.843, "64x64 model input, PCA-256 fitted on the pool"),
)

MEASURED_FLOORS: list[dict] = [
    {"encoder": e, "dataset": d, "classifier": c, "accuracy": a, "roc_auc": r, "source": MEASURED, "note": note}
    for e, d, c, a, r, note in _FLOORS
]


def _best(rows: list[dict]) -> dict | None:
    """Highest accuracy, ties broken by ROC-AUC."""
    if not rows:
        return None
    best = max(rows, key=lambda r: (r["accuracy"], r.get("roc_auc", 0.0)))
    return dict(best)


def _lookup(rows: list[dict], encoder: str, dataset: str, classifier: str) -> dict | None:
    mine = [r for r in rows if r["encoder"] == encoder and r["dataset"] == dataset]
    exact = [r for r in mine if r["classifier"] == classifier]
    if exact:
        return dict(exact[0])
    return _best(mine) if classifier == "best" else None


def published_row(encoder: str, dataset: str, classifier: str) -> dict | None:
    """[A] Table 2's row for encoder ('vdvae','simclr','byol','simsiam'), dataset ('mbc','nvss').

    `classifier` is one of knn/rf/svc/lr/grad/ext, or 'best' (the highest accuracy of the
    six, ties broken by ROC-AUC). None where [A] publishes nothing for the combination.
    """
    return _lookup(PUBLISHED_TABLE2, encoder, dataset, classifier)


def floor_row(encoder: str, dataset: str, classifier: str) -> dict | None:
    """The measured no-learning floor ('random-conv', 'pixels-pca', ...), or None."""
    return _lookup(MEASURED_FLOORS, encoder, dataset, classifier)


def reference_row(encoder: str, dataset: str, classifier: str) -> dict | None:
    """The published row where [A] has one, else the measured floor; `source` says which."""
    return published_row(encoder, dataset, classifier) or floor_row(encoder, dataset, classifier)
