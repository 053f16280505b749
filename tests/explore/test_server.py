"""The explorer's JSON endpoints (FastAPI TestClient) on real codes of MBC test."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import warnings
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from explore_fixtures import FAST_ACTIVE, write_mbc_codes
from PIL import Image

from radiolatent.cli import main
from radiolatent.config import DEFAULT_EXPLORE
from radiolatent.core.errors import InputError
from radiolatent.data.codes import code_matrix, read_codes
from radiolatent.data.labels import LabelStore
from radiolatent.downstream.active import initial_batch
from radiolatent.downstream.search import similar
from radiolatent.explore.server import check_host, create_app
from radiolatent.explore.state import Explorer
from radiolatent.explore.thumbs import colour_table

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from fastapi.testclient import TestClient


def make_client(codes_path, labels_path, **options) -> TestClient:
    app = create_app(codes_path, labels_path, active_config=FAST_ACTIVE, log=lambda message: None, **options)
    # the app answers loopback Host names only, as it does when served
    return TestClient(app, base_url="http://127.0.0.1")


def path_of(source_id: str) -> str:
    return quote(source_id, safe="")


@pytest.fixture(scope="module")
def codes_path(tmp_path_factory):
    return write_mbc_codes(tmp_path_factory.mktemp("explore-api"))


@pytest.fixture(scope="module")
def table(codes_path):
    return read_codes(codes_path)


@pytest.fixture(scope="module")
def client(codes_path):
    """A read-only client: tests that label use their own app and store."""
    return make_client(codes_path, codes_path.with_name("read-only.labels.jsonl"))


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    for name in ("app.js", "style.css", "index.html"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.text) > 500
        # nothing is fetched from a CDN or any other host
        assert "http://" not in response.text and "https://" not in response.text
    assert client.get("/static/missing.js").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/../server.py",
        "/static/..%2Fserver.py",
        "/static/%2e%2e/server.py",
        "/static/..%2F..%2Fexplore%2Fserver.py",
        "/static/%2Fetc%2Fpasswd",
        "/thumb/..%2F..%2Fetc%2Fpasswd",
        "/api/thumb/..%2F..%2Fetc%2Fpasswd",
        "/api/thumb/../../../etc/passwd",
        "/api/source/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/neighbours/%2Fetc%2Fpasswd",
    ],
)
def test_nothing_outside_the_data_is_served(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text and "create_app" not in response.text


def test_info_and_map(client, codes_path, table):
    info = client.get("/api/info").json()
    assert (info["rows"], info["dims"], info["model"]) == (104, 256, "vdvae-cpu")
    assert info["density"] is False and "density fit" in info["density_hint"]
    assert info["k"] == DEFAULT_EXPLORE.k and info["labelled"] == 0
    points = client.get("/api/map").json()
    assert points["ids"] == table["id"].tolist()
    assert len(points["x"]) == len(points["y"]) == 104
    assert all(math.isfinite(v) for v in points["x"] + points["y"])
    assert points["hover"]["label_name"] == table["label_name"].tolist()
    cached = list((codes_path.parent / "codes.explore").glob("umap-*.npy"))
    assert len(cached) == 1, "the map is cached beside the codes"
    np.testing.assert_allclose(np.load(cached[0]), np.c_[points["x"], points["y"]], atol=1e-4)


def test_map_cache_is_keyed_by_the_codes(codes_path, table, tmp_path):
    messages = []
    first = Explorer(codes_path, cache_dir=tmp_path, log=messages.append)
    again = Explorer(codes_path, cache_dir=tmp_path, log=messages.append)
    assert len(messages) == 1 and "UMAP" in messages[0], "the second opening reads the cache"
    np.testing.assert_array_equal(first.xy, again.xy)
    changed = table.copy()
    changed["z000"] = changed["z000"] + 1.0
    changed_path = tmp_path / "changed.parquet"
    changed.to_parquet(changed_path)
    Explorer(changed_path, cache_dir=tmp_path, log=messages.append)
    assert len(messages) == 2 and len(list(tmp_path.glob("umap-*.npy"))) == 2


def test_colour_columns(client, table):
    columns = {c["name"]: c for c in client.get("/api/columns").json()["columns"]}
    assert columns["label_name"]["kind"] == "categorical"
    assert columns["las_arcsec"]["kind"] == "continuous"
    assert columns["anomaly"]["kind"] == "continuous"
    assert columns["loglik"]["kind"] == "unavailable", "without --density the page says how to get it"
    assert not {"id", "z000", "interest", "al_score"} & set(columns)
    label = client.get("/api/colour/label_name").json()
    assert [label["categories"][v] for v in label["values"]] == table["label_name"].tolist()
    las = client.get("/api/colour/las_arcsec").json()
    np.testing.assert_allclose(las["values"], table["las_arcsec"], rtol=1e-5)
    assert client.get("/api/colour/loglik").status_code == 404
    assert client.get("/api/colour/z000").status_code == 404


def test_unlabelled_sources_are_called_unlabelled():
    from radiolatent.explore.state import colour_column

    # a table that went through text holds "nan"; label -1 is the contract's unlabelled
    names = colour_column(pd.Series(["FRI", "nan", None, "FRII", np.nan], name="label_name"), 20)
    assert names["categories"] == ["FRI", "FRII"] and names["unknown_name"] == "unlabelled"
    assert names["values"] == [0, -1, -1, 1, -1] and names["counts"] == [1, 1]
    labels = colour_column(pd.Series([0, -1, 1, -1], name="label"), 20)
    assert labels["categories"] == ["0", "1"] and labels["values"] == [0, -1, 1, -1]
    assert colour_column(pd.Series(["a", None], name="dataset"), 20)["unknown_name"] == "unknown"


def test_source_and_find(client, table):
    row = table.iloc[10]
    got = client.get(f"/api/source/{path_of(row['id'])}").json()
    assert got["id"] == row["id"] and got["interest"] is None
    assert got["metadata"]["las_arcsec"] == pytest.approx(row["las_arcsec"])
    assert "z000" not in got["metadata"]
    assert isinstance(got["scores"]["anomaly"], float)
    fragment = row["id"][9:20]
    found = client.get("/api/find", params={"q": fragment}).json()["ids"]
    assert row["id"] in found and all(fragment.lower() in i.lower() for i in found)
    assert client.get("/api/find", params={"q": row["id"]}).json()["ids"] == [row["id"]]
    assert client.get("/api/find", params={"q": "no-such-source"}).json()["ids"] == []
    assert client.get("/api/source/no-such-source").status_code == 404


def test_thumbnail_is_the_model_input_and_is_cached(client, table):
    from radiolatent.data.inputs import load_images_for

    url = f"/api/thumb/{path_of(table['id'].iat[7])}"
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    picture = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    image = load_images_for(table.iloc[[7]])[0]
    scale = DEFAULT_EXPLORE.thumb_size // image.shape[0]
    # rows are in FITS order (row 0 = south): the thumbnail shows them flipped, north up
    expected = colour_table(DEFAULT_EXPLORE.thumb_cmap)[image[::-1]].repeat(scale, axis=0).repeat(scale, axis=1)
    assert np.array_equal(picture, expected), "each model-input pixel becomes a block of the colour map"
    renders = client.app.state.data.explorer.thumbs.renders
    assert client.get(url).content == response.content
    assert client.app.state.data.explorer.thumbs.renders == renders, "the second request is served from the cache"
    assert client.get("/api/thumb/no-such-source").status_code == 404


def test_neighbours_match_the_search_module(client, table):
    query = table["id"].iat[3]
    assert client.get("/api/info").json()["metric"] == "whitened-cosine", "the page defaults to search's metric"
    for metric in ("whitened-cosine", "cosine", "euclidean-pca"):
        got = client.get(f"/api/neighbours/{path_of(query)}", params={"k": 5, "metric": metric}).json()
        expected = similar(table, query, "mbc", k=5, metric=metric, exclude_self=True)
        assert [r["id"] for r in got["results"]] == expected["id"].tolist()
        np.testing.assert_allclose([r["score"] for r in got["results"]], expected["score"], rtol=1e-4, atol=1e-5)
        assert query not in [r["id"] for r in got["results"]]
    scoped = client.get(f"/api/neighbours/{path_of(query)}", params={"in": "mirabest:confident"})
    assert scoped.status_code == 200 and len(scoped.json()["results"]) == DEFAULT_EXPLORE.k
    assert client.get(f"/api/neighbours/{path_of(query)}", params={"in": "nowhere"}).status_code == 400
    assert client.get(f"/api/neighbours/{path_of(query)}", params={"metric": "manhattan"}).status_code == 400
    assert client.get(f"/api/neighbours/{path_of(query)}", params={"k": 0}).status_code == 422
    assert client.get("/api/neighbours/no-such-source").status_code == 404


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dropped_png_finds_its_source_first(client, table):
    from radiolatent.data.inputs import model_input

    image = np.asarray(model_input("mbc:test").images[12])
    response = client.post(
        "/api/search/upload", files={"file": ("my source.png", png_bytes(image), "image/png")}, data={"k": "3"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "my source.png" and len(body["results"]) == 3
    assert body["results"][0]["id"] == table["id"].iat[12]
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert body["preview"].startswith("data:image/png;base64,")
    wrong = client.post("/api/search/upload", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert wrong.status_code == 415
    broken = client.post("/api/search/upload", files={"file": ("broken.png", b"not a png", "image/png")})
    assert broken.status_code == 400 and "broken.png" in broken.json()["detail"]
    assert "radiolatent-upload" not in broken.text, "the server's temporary path is not shown"


def test_an_oversize_upload_is_refused(client):
    limit = client.app.state.data.explorer.config.max_upload_bytes
    response = client.post("/api/search/upload", files={"file": ("big.fits", b"\0" * (limit + 1), "image/fits")})
    assert response.status_code == 413 and str(limit) in response.json()["detail"]


def test_dropped_file_is_embedded_with_a_trained_model_given_by_path(table, tmp_path):
    """A table made by a model trained here (not rebuildable by name) searches dropped files
    with --model; without it the page says which option to give, and a model that did not
    make the table is refused at start."""
    import shutil

    from radiolatent.data.codes import write_codes
    from radiolatent.data.inputs import model_input
    from radiolatent.models.shipped import SHIPPED_MODEL

    run = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")
    codes_path = write_codes(table.assign(model="vdvae-model"), tmp_path / "codes.parquet")
    upload = {
        "files": {"file": ("q.png", png_bytes(np.asarray(model_input("mbc:test").images[5])), "image/png")},
        "data": {"k": "2"},
    }
    without = make_client(codes_path, tmp_path / "labels.jsonl").post("/api/search/upload", **upload)
    assert without.status_code == 400 and "--model" in without.json()["detail"]
    found = make_client(codes_path, tmp_path / "labels.jsonl", model=run).post("/api/search/upload", **upload)
    assert found.status_code == 200, found.text
    assert found.json()["results"][0]["id"] == table["id"].iat[5]
    with pytest.raises(InputError, match="made by 'vdvae-model'"):
        create_app(codes_path, tmp_path / "labels.jsonl", model="byol-cpu", log=lambda message: None)


def test_labels_are_checked(codes_path, table, tmp_path):
    labels = tmp_path / "labels.jsonl"
    client = make_client(codes_path, labels)
    source = table["id"].iat[0]
    for body in (
        {"id": source, "score": 6},
        {"id": source, "score": -1},
        {"id": source, "score": 4.5},
        {"id": source, "score": "high"},
        {"id": source},
        {"score": 3},
    ):
        assert client.post("/api/labels", json=body).status_code == 422, body
    assert client.post("/api/labels", json={"id": "no-such-source", "score": 3}).status_code == 404
    # a form or text body (what another site's page can send without asking) is not JSON
    plain = client.post(
        "/api/labels", content=json.dumps({"id": source, "score": 3}), headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 422
    foreign = client.post("/api/labels", json={"id": source, "score": 3}, headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert client.get("/api/labels").json()["labels"] == {}
    assert not labels.exists() or LabelStore(labels).scores() == {}
    assert (
        client.post("/api/labels", json={"id": source, "score": 3}, headers={"origin": "http://127.0.0.1"}).status_code
        == 200
    )


def test_labels_persist_across_restarts_and_export(codes_path, table, tmp_path):
    labels = tmp_path / "labels.jsonl"
    first = make_client(codes_path, labels)
    a, b = table["id"].iat[0], table["id"].iat[1]
    for source, score in ((a, 4), (b, 1), (a, 5)):
        assert first.post("/api/labels", json={"id": source, "score": score}).json()["score"] == score
    restarted = make_client(codes_path, labels)
    assert restarted.get("/api/labels").json()["labels"] == {a: 5.0, b: 1.0}, "the last label of a source wins"
    assert LabelStore(labels).scores() == {a: 5.0, b: 1.0}, "the terminal oracle's store"
    assert restarted.get(f"/api/source/{path_of(a)}").json()["interest"] == 5.0
    assert restarted.get("/api/info").json()["fitted_on"] == 2, "a restart refits the learner to the stored labels"
    exported = restarted.get("/api/labels.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    frame = pd.read_csv(io.StringIO(exported.text))
    assert list(frame.columns) == ["id", "score", "time", "by"]
    assert frame["id"].tolist() == [a, b, a] and set(frame["by"]) == {"person"}


def ranked_ids(client, by: str) -> list[str]:
    listing = client.get("/api/ranking", params={"by": by, "limit": 500}).json()
    assert listing["available"], listing["message"]
    return [row["id"] for row in listing["rows"]]


def test_retrain_changes_the_ranking(codes_path, table, tmp_path):
    client = make_client(codes_path, tmp_path / "labels.jsonl")
    ids = table["id"].tolist()
    before = client.get("/api/ranking", params={"by": "active"}).json()
    assert not before["available"] and "Retrain" in before["message"]
    assert client.post("/api/retrain").status_code == 400
    first_batch = ranked_ids(client, "acquisition")
    assert first_batch == [ids[r] for r in initial_batch(code_matrix(table), FAST_ACTIVE.n_initial)]
    # the two ends of the first principal component
    a, b = first_batch[0], first_batch[-1]
    ranks = []
    for score_a, score_b in ((5, 0), (0, 5)):
        client.post("/api/labels", json={"id": a, "score": score_a})
        client.post("/api/labels", json={"id": b, "score": score_b})
        retrained = client.post("/api/retrain").json()
        assert retrained["fitted_on"] == 2 and len(retrained["top"]) == 10
        order = ranked_ids(client, "active")
        ranks.append((order.index(a), order.index(b)))
    assert ranks[0][0] < ranks[0][1] and ranks[1][1] < ranks[1][0], "the ranking follows the new scores"
    moved = client.get("/api/ranking", params={"by": "active"}).json()["rows"]
    assert all(row["moved"] is not None for row in moved) and any(row["moved"] != 0 for row in moved)
    acquisition = client.get("/api/ranking", params={"by": "acquisition", "limit": 500}).json()["rows"]
    assert {a, b}.isdisjoint(row["id"] for row in acquisition) and len(acquisition) == len(ids) - 2
    improvements = [row["score"] for row in acquisition]
    assert improvements == sorted(improvements, reverse=True), "highest expected improvement first"
    assert client.get("/api/ranking", params={"by": "alphabetical"}).status_code == 400


def test_anomaly_ranking(client):
    rows = client.get("/api/ranking", params={"by": "anomaly", "limit": 20}).json()["rows"]
    scores = [row["score"] for row in rows]
    assert len(rows) == 20 and scores == sorted(scores, reverse=True)


def test_log_likelihood_from_a_density_model(codes_path, table, tmp_path):
    from radiolatent.config import preset
    from radiolatent.downstream.density import DensityModel

    codes = code_matrix(table)
    model = DensityModel(dataclasses.replace(preset("density", "tiny"), epochs=3)).fit(codes)
    model.save(tmp_path / "density")
    client = make_client(codes_path, tmp_path / "labels.jsonl", density_dir=tmp_path / "density")
    assert client.get("/api/info").json()["density"] is True
    loglik = model.score_samples(codes)
    column = client.get("/api/colour/loglik").json()
    assert column["interesting"] == "low"
    np.testing.assert_allclose(column["values"], loglik, rtol=1e-4)
    listing = client.get("/api/ranking", params={"by": "loglik", "limit": 10}).json()
    assert [row["id"] for row in listing["rows"]] == table["id"].to_numpy()[np.argsort(loglik)[:10]].tolist()
    wrong = tmp_path / "nowhere"
    with pytest.raises(InputError, match="nowhere"):
        create_app(codes_path, tmp_path / "labels.jsonl", density_dir=wrong, log=lambda message: None)


def test_non_local_addresses_are_refused(client, codes_path, capsys):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_host(host, allow_remote=False)
    for host in ("0.0.0.0", "192.168.1.20", "example.org", "::"):
        with pytest.raises(InputError, match="`allow_remote`"):
            check_host(host, allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    assert main(["explore", "--codes", str(codes_path), "--host", "0.0.0.0", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --host:") and "--allow-remote" in err and len(err.splitlines()) == 1
    # a page on another site cannot reach the server through a name that resolves to 127.0.0.1
    assert client.get("/api/info", headers={"host": "attacker.example"}).status_code == 400


def test_the_command_serves_the_table(codes_path, tmp_path, capsys, monkeypatch):
    import radiolatent.explore.server as server

    def fake_serve(app, sock):
        served.update(app=app, address=sock.getsockname()[:2])
        sock.close()

    served = {}
    monkeypatch.setattr(server, "serve", fake_serve)
    labels = tmp_path / "mine.jsonl"
    port = _free_port()
    assert (
        main(["explore", "--codes", str(codes_path), "--port", str(port), "--labels", str(labels), "--no-browser"]) == 0
    )
    assert served["address"] == ("127.0.0.1", port)  # bound before the address was printed
    assert f"http://127.0.0.1:{port}/" in capsys.readouterr().out
    assert served["app"].state.data.learning.labels_path == labels
    assert main(["explore", "--codes", str(tmp_path / "none.parquet"), "--no-browser"]) == 2
    assert "no such codes file" in capsys.readouterr().err


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
