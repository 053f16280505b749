"""`radiolatent search | duplicates` write their files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from downstream_fixtures import random_codes, table_of


def test_cli_search_and_duplicates_write_their_files(tmp_path, monkeypatch, capsys):
    import argparse

    from radiolatent import embedding
    from radiolatent.cli.search import cmd_duplicates, cmd_search, register
    from radiolatent.codes import write_codes

    codes = random_codes(60, seed=7)
    codes[11] = codes[10]
    write_codes(table_of(codes, "pool"), tmp_path / "codes.parquet")
    # thumbnails: a constant image per row, its value the row number, so the grid order is checkable
    seen = []
    monkeypatch.setattr(
        embedding,
        "load_images_for",
        lambda rows: (
            seen.append(list(rows["id"]))
            or np.stack([np.full((64, 64), int(i.split("-")[1]), np.uint8) for i in rows["id"]])
        ),
        raising=False,
    )
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "search",
            "--codes",
            str(tmp_path / "codes.parquet"),
            "--query",
            "pool-10",
            "--in",
            "pool",
            "-k",
            "3",
            "--exclude-self",
            "-o",
            str(tmp_path / "s.png"),
        ]
    )
    assert cmd_search(args) == 0
    result = pd.read_csv(tmp_path / "s.csv")
    assert result["id"].iloc[0] == "pool-11" and "pool-10" not in set(result["id"])
    assert seen == [["pool-10"], list(result["id"])]
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result["metric"]) == {"whitened-cosine"}
    assert (tmp_path / "codes.pool.whitened-cosine.faiss").is_file()
    args = parser.parse_args(
        ["duplicates", "--codes", str(tmp_path / "codes.parquet"), "--out", str(tmp_path / "d.csv")]
    )
    assert cmd_duplicates(args) == 0
    pairs = pd.read_csv(tmp_path / "d.csv")
    assert pairs[["id_a", "id_b"]].values.tolist() == [["pool-10", "pool-11"]]
    assert "1 pairs with whitened-cosine >= 0.8, mutual nearest, margin >= 0.1 in pool" in capsys.readouterr().out
    # the paper's raw cosine, asked for by name: its own cached index, its own threshold
    args = parser.parse_args(
        [
            "search",
            "--codes",
            str(tmp_path / "codes.parquet"),
            "--query",
            "pool-10",
            "--metric",
            "cosine",
            "-k",
            "3",
            "-o",
            str(tmp_path / "c.png"),
        ]
    )
    assert cmd_search(args) == 0
    assert (
        set(pd.read_csv(tmp_path / "c.csv")["metric"]) == {"cosine"}
        and (tmp_path / "codes.pool.cosine.faiss").is_file()
    )
    args = parser.parse_args(
        [
            "duplicates",
            "--codes",
            str(tmp_path / "codes.parquet"),
            "--metric",
            "cosine",
            "--out",
            str(tmp_path / "dc.csv"),
        ]
    )
    assert cmd_duplicates(args) == 0
    assert "1 pairs with cosine >= 0.99 in pool" in capsys.readouterr().out
    assert set(pd.read_csv(tmp_path / "dc.csv")["metric"]) == {"cosine"}
