"""The explorer's first start on a large codes table, with and without the map `embed`
now computes as it writes a table of >= `EmbedConfig.explorer_map_rows` rows.

The table is a stand-in for a survey's N codes (default 100,000): the pool's single-pass
VDVAE codes, repeated with a little Gaussian jitter (5 % of each code's spread per
repeat) and new ids, each row showing its pool image. UMAP's cost depends on the rows and
the code length, not on where the codes came from. Each step runs in its own process, as
a user's commands do:

1. `prepare_map` (what `embed` adds after writing the table; reading the table back is
   timed too, which `embed` does not need): the UMAP fit on
   `umap_fit_rows` rows, numba compiling included, and every other row placed;
2. the explorer's first start after that, as `explore` starts it (images loading in the
   background): the app built, `/api/map` served;
3. with --without, the explorer's first start on a copy of the table without that map (as
   before: it computes the map itself).

    python benchmarks/explorer_start.py [--rows 100000] [--work /tmp/explorer-start] [--without]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

PREPARE = """
import sys, time
from radiolatent.data.codes import read_codes
from radiolatent.explore.state import prepare_map
t = time.perf_counter()
prepare_map(sys.argv[1], read_codes(sys.argv[1]), 1, log=lambda message: None)
print(time.perf_counter() - t)
"""

FIRST_START = """
import sys, time
t = time.perf_counter()
from fastapi.testclient import TestClient
from radiolatent.explore.server import create_app
app = create_app(sys.argv[1], preload_images=True, log=lambda message: None)  # as `explore` starts it
body = TestClient(app, base_url="http://127.0.0.1").get("/api/map")
assert body.status_code == 200, body.text
print(time.perf_counter() - t)
"""


def stand_in_table(rows: int, path: Path) -> None:
    """`rows` codes: the pool's, repeated with jitter and new ids (module docstring)."""
    import numpy as np
    import pandas as pd

    from radiolatent.api import embed
    from radiolatent.data.codes import code_columns, write_codes

    pool = embed("pool", single_view=True, progress=False)
    columns = code_columns(pool)
    codes = pool[columns].to_numpy(np.float32)
    spread = codes.std(axis=0, keepdims=True)
    rng = np.random.default_rng(0)
    parts = []
    for repeat in range(-(-rows // len(pool))):
        part = pool.copy()
        part["id"] = part["id"].astype(str) + f"~{repeat}"
        if repeat:
            part[columns] = codes + rng.normal(0, 0.05, codes.shape).astype(np.float32) * spread
        parts.append(part)
    write_codes(pd.concat(parts, ignore_index=True).head(rows), path)


def seconds(code: str, path: Path) -> float:
    done = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/explorer-start"))
    parser.add_argument("--without", action="store_true", help="also time a first start that computes the map")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    table = args.work / f"codes-{args.rows}.parquet"
    if not table.is_file():
        stand_in_table(args.rows, table)
    shutil.rmtree(table.with_name(f"{table.stem}.explore"), ignore_errors=True)
    figures = {"rows": args.rows, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    figures["map_at_embed_s"] = seconds(PREPARE, table)
    figures["first_start_with_map_s"] = seconds(FIRST_START, table)
    if args.without:
        bare = args.work / f"bare-{args.rows}.parquet"
        shutil.copy(table, bare)
        shutil.rmtree(bare.with_name(f"{bare.stem}.explore"), ignore_errors=True)
        figures["first_start_computing_map_s"] = seconds(FIRST_START, bare)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
