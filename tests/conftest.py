"""Shared fixtures: every test session gets its own empty cache folder."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def cache(tmp_path_factory):
    """Point RADIOLATENT_CACHE at a fresh folder so tests never touch the user's cache."""
    folder = tmp_path_factory.mktemp("radiolatent-cache")
    old = os.environ.get("RADIOLATENT_CACHE")
    os.environ["RADIOLATENT_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("RADIOLATENT_CACHE", None)
    else:
        os.environ["RADIOLATENT_CACHE"] = old


@pytest.fixture(scope="session")
def ssl_runs(tmp_path_factory):
    """One tiny SSL run per method (BYOL two epochs, for the resume test; 36 train images = 2
    steps each), as {method: (folder, TrainResult)}: shared by the SSL training, checkpoint
    and embedding tests, which only read them."""
    from synthetic import central_blobs, tiny_ssl

    from radiolatent.config import SSL_METHODS
    from radiolatent.training import train_ssl

    out = {}
    for method in SSL_METHODS:
        folder = tmp_path_factory.mktemp(f"{method}-run")
        run = tiny_ssl(method, epochs=2 if method == "byol" else 1)
        out[method] = (folder, train_ssl(central_blobs(), run, folder, seed=0, progress=False))
    return out
