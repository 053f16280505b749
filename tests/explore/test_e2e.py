"""End to end: the explorer in Debian's headless Chromium, driven by Playwright.

A real uvicorn server runs in a thread on a free port, over a table of 20,104 rows (MBC
test and 20,000 stand-ins made from it by the scale benchmark's generator). The test
opens the page, finds the unlabelled majority called "unlabelled" in the legend, pans the
map, clicks a point, sees its similar sources and their thumbnails, scores two sources
with the keyboard, presses Retrain, reloads, and finds the scores still there. The screenshot is kept as
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
from explore_fixtures import FAST_ACTIVE, STANDIN_ROWS, write_standin_codes

TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The explorer on the 20,104-row stand-in table, served by uvicorn in a thread; yields its address."""
    import uvicorn

    from radiolatent.explore.server import create_app

    chromium_path()  # skip (or fail under CI) before building anything
    codes = write_standin_codes(tmp_path)
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
        assert len(ids) == STANDIN_ROWS + 104
        legend = page.inner_text("#legend")
        assert f"unlabelled\n({STANDIN_ROWS})" in legend or f"unlabelled ({STANDIN_ROWS})" in legend, legend

        # drag the map: every point moves with the mouse
        box = page.locator("#map").bounding_box()
        before = page.evaluate("(id) => explorer.pointOnScreen(id)", ids[0])
        page.mouse.move(box["x"] + 200, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + 240, box["y"] + 230, steps=5)
        page.mouse.up()
        after = page.evaluate("(id) => explorer.pointOnScreen(id)", ids[0])
        assert (round(after["x"] - before["x"]), round(after["y"] - before["y"])) == (40, 30)

        # click a point: it becomes the query and its similar sources fill the grid
        first = ids[0]
        spot = page.evaluate("(id) => explorer.pointOnScreen(id)", first)
        assert box["x"] < spot["x"] < box["x"] + box["width"] and box["y"] < spot["y"] < box["y"] + box["height"]
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_function(
            f"document.querySelectorAll('#neighbours .tile:not(.query)').length === {info['k']}", timeout=TIMEOUT_MS
        )
        page.wait_for_function(
            "(id) => document.querySelector('#selected h2')?.textContent === id", arg=first, timeout=TIMEOUT_MS
        )
        # the thumbnails arrive (read through the table's `images` column), none broken
        page.wait_for_function(
            "[...document.querySelectorAll('#neighbours img, #selected img')]"
            ".every(img => img.complete && img.naturalWidth === 128)",
            timeout=TIMEOUT_MS,
        )
        shown = page.eval_on_selector_all("#neighbours .tile:not(.query)", "tiles => tiles.map(t => t.dataset.id)")
        expected = [r["id"] for r in api.get(f"/api/neighbours/{quote(first, safe='')}").json()["results"]]
        assert shown == expected

        # score the query (key 4), move to its most similar source (right arrow), score it (key 1)
        page.keyboard.press("4")
        wait_for_score(page, 4)
        page.keyboard.press("ArrowRight")
        second = shown[0]
        page.wait_for_function(
            "(id) => document.querySelector('#selected h2')?.textContent === id", arg=second, timeout=TIMEOUT_MS
        )
        page.keyboard.press("1")
        wait_for_score(page, 1)
        assert api.get("/api/labels").json()["labels"] == {first: 4.0, second: 1.0}

        # Retrain: the list switches to the learner's ranking of every source
        page.click("#retrain")
        page.wait_for_function(
            "document.querySelector('#fit-info').textContent.includes('fitted to 2 labels')", timeout=TIMEOUT_MS
        )
        assert page.input_value("#ranking") == "active"
        ranked = page.eval_on_selector_all("#list li", "rows => rows.map(r => r.dataset.id)")
        assert len(ranked) == info["list_length"]
        predicted = {
            i: api.get(f"/api/source/{quote(i, safe='')}").json()["scores"]["al_score"] for i in (first, second)
        }
        assert predicted[first] > predicted[second]
        page.wait_for_load_state("networkidle")
        screenshot = artifact_path("explore.png")
        page.screenshot(path=str(screenshot))
        assert screenshot.stat().st_size > 20_000

        # reload: the scores are still there, on the list and on the source
        page.reload()
        wait_ready(page)
        assert page.inner_text("#labelled-count") == "2 labelled"
        assert page.inner_text(f"#list li[data-id='{first}'] .badge") == "4"
        page.fill("#find-input", first)
        page.press("#find-input", "Enter")
        page.wait_for_function(
            "(id) => document.querySelector('#selected h2')?.textContent === id", arg=first, timeout=TIMEOUT_MS
        )
        wait_for_score(page, 4)
        assert errors == [], errors
    from radiolatent.data.labels import LabelStore

    assert LabelStore(served["labels"]).scores() == {first: 4.0, second: 1.0}
