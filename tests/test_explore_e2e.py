"""End to end: the explorer in Debian's headless Chromium, driven by Playwright.

A real uvicorn server runs in a thread on a free port. The test opens the page, clicks a
point on the map, sees its similar sources, scores two sources with the keyboard,
presses Retrain, reloads, and finds the scores still there. The screenshot is kept as
a test artefact: $RADIOLATENT_ARTIFACTS/explore.png, else test-artifacts/explore.png.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import quote

import httpx
import pytest

from browser import artifact_path, browser_page, chromium_path
from explore_fixtures import FAST_ACTIVE, write_mbc_codes

TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The explorer on MBC test codes, served by uvicorn in a thread; yields its address."""
    import uvicorn

    from radiolatent.explore.server import create_app

    chromium_path()  # skip (or fail under CI) before building anything
    codes = write_mbc_codes(tmp_path)
    labels = tmp_path / "codes.labels.jsonl"
    app = create_app(codes, labels, active_config=FAST_ACTIVE, log=lambda message: None)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the explorer server did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}/", "labels": labels}
    server.should_exit = True
    thread.join(timeout=10)


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)


def wait_for_score(page, score: int) -> None:
    page.wait_for_selector(f".scorebar button.on[data-score='{score}']", timeout=TIMEOUT_MS)


def test_click_search_score_retrain_reload(served):
    api = httpx.Client(base_url=served["url"], timeout=30)
    info = api.get("/api/info").json()
    ids = api.get("/api/map").json()["ids"]
    with browser_page(1500, 900) as page:  # skips (fails under CI) without Chromium
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(served["url"])
        wait_ready(page)

        # click a point: it becomes the query and its similar sources fill the grid
        first = ids[0]
        spot = page.evaluate("(id) => explorer.pointOnScreen(id)", first)
        box = page.locator("#map").bounding_box()
        assert box["x"] < spot["x"] < box["x"] + box["width"] and box["y"] < spot["y"] < box["y"] + box["height"]
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_function(f"document.querySelectorAll('#neighbours .tile:not(.query)').length === {info['k']}",
                               timeout=TIMEOUT_MS)
        page.wait_for_function("(id) => document.querySelector('#selected h2')?.textContent === id", arg=first,
                               timeout=TIMEOUT_MS)
        shown = page.eval_on_selector_all("#neighbours .tile:not(.query)", "tiles => tiles.map(t => t.dataset.id)")
        expected = [r["id"] for r in api.get(f"/api/neighbours/{quote(first, safe='')}").json()["results"]]
        assert shown == expected

        # score the query (key 4), move to its most similar source (right arrow), score it (key 1)
        page.keyboard.press("4")
        wait_for_score(page, 4)
        page.keyboard.press("ArrowRight")
        second = shown[0]
        page.wait_for_function("(id) => document.querySelector('#selected h2')?.textContent === id", arg=second,
                               timeout=TIMEOUT_MS)
        page.keyboard.press("1")
        wait_for_score(page, 1)
        assert api.get("/api/labels").json()["labels"] == {first: 4.0, second: 1.0}

        # Retrain: the list switches to the learner's ranking of every source
        page.click("#retrain")
        page.wait_for_function("document.querySelector('#fit-info').textContent.includes('fitted to 2 labels')",
                               timeout=TIMEOUT_MS)
        assert page.input_value("#ranking") == "active"
        ranked = page.eval_on_selector_all("#list li", "rows => rows.map(r => r.dataset.id)")
        assert len(ranked) == len(ids) and ranked.index(first) < ranked.index(second)
        page.wait_for_load_state("networkidle")
        screenshot = artifact_path("explore.png")
        page.screenshot(path=str(screenshot))
        assert screenshot.stat().st_size > 20_000

        # reload: the scores are still there, on the list and on the source
        page.reload()
        wait_ready(page)
        assert page.inner_text("#labelled-count") == "2 labelled"
        assert page.inner_text(f"#list li[data-id='{first}'] .badge") == "4"
        assert page.inner_text(f"#list li[data-id='{second}'] .badge") == "1"
        page.fill("#find-input", first)
        page.press("#find-input", "Enter")
        page.wait_for_function("(id) => document.querySelector('#selected h2')?.textContent === id", arg=first,
                               timeout=TIMEOUT_MS)
        wait_for_score(page, 4)
        assert errors == [], errors
    from radiolatent.downstream.anomaly import LabelStore

    assert LabelStore(served["labels"]).scores() == {first: 4.0, second: 1.0}
