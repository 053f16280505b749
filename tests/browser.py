"""Debian's headless Chromium for the page tests (report, explorer).

Outside CI a machine without Chromium skips those tests with a message saying how to
install it; with CI set, a missing Chromium is a failure, as the browser tests must run there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RADIOLATENT_CHROMIUM", "/usr/bin/chromium")
#: the closed network here refuses Chromium's background connections; ask for none.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "install Debian's Chromium: sudo apt-get install chromium chromium-driver"


def chromium_path() -> str:
    """The Chromium binary, or skip (fail under CI) when there is none."""
    found = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no Chromium at {CHROMIUM}; {INSTALL_HINT}")
    pytest.skip(f"no Chromium at {CHROMIUM}; {INSTALL_HINT}")


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator:
    """A Playwright page in headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def artifact_path(name: str) -> Path:
    """Where a test keeps a screenshot: $RADIOLATENT_ARTIFACTS or test-artifacts/ in the repo."""
    folder = Path(os.environ.get("RADIOLATENT_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
