"""`radiolatent search | duplicates` write their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from downstream_fixtures import random_codes, table_of


def test_cli_search_and_duplicates_write_their_files(tmp_path, monkeypatch, capsys):
    import argparse

    from radiolatent.cli import duplicates
    from radiolatent.cli.duplicates import cmd_duplicates
    from radiolatent.cli.search import cmd_search, register
    from radiolatent.data import inputs
    from radiolatent.data.codes import write_codes

    codes = random_codes(60, seed=7)
    codes[11] = codes[10]
    write_codes(table_of(codes, "pool"), tmp_path / "codes.parquet")
    # thumbnails: a constant image per row, its value the row number, so the grid order is checkable
    seen = []
    monkeypatch.setattr(
        inputs,
        "load_images_for",
        lambda rows: (
            seen.append(list(rows["id"]))
            or np.stack([np.full((64, 64), int(i.split("-")[1]), np.uint8) for i in rows["id"]])
        ),
        raising=False,
    )
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    register(subparsers)
    duplicates.register(subparsers)
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
    said = capsys.readouterr().out
    assert (
        '1 pairs with whitened-cosine >= 0.8, mutual nearest, margin >= 0.1, or within 30" on the sky in pool' in said
    )
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
    assert '1 pairs with cosine >= 0.99, or within 30" on the sky in pool' in capsys.readouterr().out
    assert set(pd.read_csv(tmp_path / "dc.csv")["metric"]) == {"cosine"}


VLASS = Path(__file__).parents[1] / "data" / "vlass_epochs"


def test_repeat_observations_of_real_vlass_sources_are_found_by_the_plain_commands(tmp_path, capsys):
    """Three sources seen in 2-3 VLASS epochs: `duplicates` with its defaults reports every
    pair of epochs of one source and nothing else, though one epoch is crossed by an imaging
    streak; `search` from one epoch's file lists the source's other epochs first."""
    from radiolatent.cli import main

    codes = tmp_path / "C.parquet"
    assert main(["embed", "--data", f"vlass=folder@{VLASS}", "--survey", "VLASS", "--out", str(codes)]) == 0
    assert main(["duplicates", "--codes", str(codes), "--in", "vlass", "--out", str(tmp_path / "d.csv")]) == 0
    pairs = pd.read_csv(tmp_path / "d.csv")
    source = {name: name.split(":")[1][:8] for name in pd.concat([pairs["id_a"], pairs["id_b"]])}
    assert all(source[a] == source[b] for a, b in zip(pairs["id_a"], pairs["id_b"])), "no look-alike reported"
    assert len(pairs) == 3 + 3 + 1 and set(pairs["kind"]) == {"same position"}
    assert "7 pairs" in capsys.readouterr().out
    streaked = VLASS / "J010.2822-01.6700_ep1.1.fits.gz"
    out = tmp_path / "s.png"
    assert (
        main(["search", "--codes", str(codes), "--query", str(streaked), "--in", "vlass", "-k", "2", "-o", str(out)])
        == 0
    )
    found = pd.read_csv(out.with_suffix(".csv"))
    assert found["id"].head(3).str.startswith("folder:J010.2822-01.6700").all()
    assert found["same_position"].tolist() == [True, True, True, False, False]
    assert (found["separation_arcsec"].head(3) < 3).all()
