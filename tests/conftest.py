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
