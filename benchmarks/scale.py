"""Scale benchmark (issue 16): a user's own 100,000-image RGZ-format pool, end to end.

Builds an N-image RGZ DR1 batch folder from the shipped MiraBest FIRST images (offset
crops, flips and quarter turns: `tests/fixtures_rgz.write_rgz_standin`; a scale
stand-in, not science data), then measures what a user waits for:

- `data pool --add rgz-dr1@DIR` at two sizes (N/4 and N): wall time and peak RSS, each
  command in its own process (peak RSS from os.wait4, so it is that command's alone),
  beside the size of the output images (n x 64 x 64 bytes): memory must not grow with N
  beyond them;
- `embed --single-view` of the whole N pool (img/s of the full command), and the encoder
  alone, single-view and 8-view, on a sample of the pool (extrapolated to N, and said so);
- `search ... -o s.png` (whole command) and one in-process query of the search index;
- the explorer: time until /api/map is served on a first start (computes the UMAP) and a
  second (cached map), and one thumbnail's latency after that;
- `anomaly rank --method iforest`.

    .venv/bin/python benchmarks/scale.py                 # N = 100,000 (about an hour on 2 cores)
    .venv/bin/python benchmarks/scale.py --n 20000       # a quicker run

Everything goes under --work (default /tmp/radiolatent-scale), including its own cache
(RADIOLATENT_CACHE), unless --cache names another. Figures are printed and kept in
WORK/scale.json. Nothing here is asserted: this script reports, the tests check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixtures_rgz import write_rgz_standin  # noqa: E402  (the tests' generator, one copy of it)

RADIOLATENT = [sys.executable, "-m", "radiolatent"]
STEPS = ("pool", "embed", "encoder", "search", "explore", "anomaly")

EXPLORER_RUN = """
import json, sys, time
t0 = time.perf_counter()
from fastapi.testclient import TestClient
from radiolatent.explore.server import create_app
app = create_app(sys.argv[1], cache_dir=sys.argv[2], preload_images=True, log=lambda m: print(m, file=sys.stderr))
client = TestClient(app, base_url="http://127.0.0.1")  # the explorer answers loopback names only
body = client.get("/api/map")
assert body.status_code == 200, body.text
t_map = time.perf_counter()
ids = body.json()["ids"]
thumb = client.get("/api/thumb/" + ids[len(ids) // 2])
assert thumb.status_code == 200 and thumb.content[:4] == b"\\x89PNG", thumb.text
t_thumb = time.perf_counter()
second = client.get("/api/thumb/" + ids[len(ids) // 3])
t_second = time.perf_counter()
print(json.dumps({"map_s": t_map - t0, "first_thumb_s": t_thumb - t_map, "next_thumb_s": t_second - t_thumb,
                  "map_bytes": len(body.content), "rows": len(ids)}))
"""

ENCODER_RUN = """
import json, sys, time
import numpy as np
from radiolatent.data.codes import read_codes
from radiolatent.config import EmbedConfig
from radiolatent.embedding import encode_images, get_encoder
from radiolatent.data.inputs import load_images_for
table = read_codes(sys.argv[1])
sample, sample8 = int(sys.argv[2]), int(sys.argv[3])
rows = table.sample(n=min(sample, len(table)), random_state=0)
images = load_images_for(rows)
out = {}
for name, config, n in (("single", EmbedConfig(dihedral_average=False), sample), ("8-view", EmbedConfig(), sample8)):
    import torch
    torch.set_num_threads(config.threads)
    encoder = get_encoder(None, config)
    encoder.encode(images[:64])  # warm up
    t = time.perf_counter()
    encode_images(encoder, images[:n], config)
    out[name] = {"images": int(min(n, len(images))), "img_s": min(n, len(images)) / (time.perf_counter() - t)}
print(json.dumps(out))
"""

SEARCH_RUN = """
import json, sys, time
import numpy as np
from radiolatent.data.codes import code_matrix, read_codes
from radiolatent.downstream.code_index import CodeIndex
codes = code_matrix(read_codes(sys.argv[1]))
t = time.perf_counter()
index = CodeIndex.build(codes, metric="whitened-cosine")
built = time.perf_counter() - t
queries = codes[np.random.default_rng(0).choice(len(codes), 100, replace=False)]
t = time.perf_counter()
for q in queries:
    index.search(q.reshape(1, -1), 9)
print(json.dumps({"index_build_s": built, "query_ms": 1000 * (time.perf_counter() - t) / len(queries)}))
"""


def measured(command: list[str], env: dict, log: Path) -> dict:
    """Run one command in its own process: wall seconds, peak RSS (MB), exit status, last stdout line."""
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(command)}\n")
        fh.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=fh, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        fh.write(out)
    result = {
        "s": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "rc": os.waitstatus_to_exitcode(status),
    }
    if result["rc"] != 0:
        raise SystemExit(f"failed ({result['rc']}): {' '.join(command)}; see {log}")
    result["last"] = out.strip().splitlines()[-1] if out.strip() else ""
    result["stdout"] = out
    return result


def python_run(code: str, args: list[str], env: dict, log: Path) -> dict:
    run = measured([sys.executable, "-c", code, *args], env, log)
    return {**json.loads(run["last"]), "s": run["s"], "peak_rss_mb": run["peak_rss_mb"]}


def brief(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("stdout", "last")}


def folder_for(work: Path, n: int, seed: int) -> Path:
    """The stand-in folder of n images, written once (a marker says it is complete)."""
    from radiolatent.data.registry import load_source

    folder = work / f"rgz-standin-{n}"
    done = folder / "standin.json"
    if not done.is_file():
        t = time.perf_counter()
        base = load_source("mirabest").images  # 1,256 shipped FIRST images, 150x150
        write_rgz_standin(
            folder,
            base,
            n,
            seed=seed,
            progress=lambda k, total: print(f"  wrote {k}/{total} images", end="\r", file=sys.stderr),
        )
        done.write_text(json.dumps({"n": n, "seed": seed, "write_s": round(time.perf_counter() - t, 1)}))
        print(file=sys.stderr)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="images in the large folder (default 100,000)")
    p.add_argument("--small", type=int, default=None, help="images in the small folder (default N/4)")
    p.add_argument(
        "--sample", type=int, default=5000, help="images the encoder is timed on, single view (default 5,000)"
    )
    p.add_argument("--sample-8", type=int, default=1000, help="images timed with the 8-view average (default 1,000)")
    p.add_argument("--work", type=Path, default=Path("/tmp/radiolatent-scale"))
    p.add_argument("--cache", type=Path, default=None, help="RADIOLATENT_CACHE for the commands (default WORK/cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--model",
        default=None,
        help="encoder of the embed step (default the shipped VDVAE; e.g. pixels-pca for a quick table of the "
        "same width when the VDVAE over all N would take hours on a loaded machine)",
    )
    p.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"which measurements, comma-separated (default all: {','.join(STEPS)}); the later ones "
        "use WORK/codes-N.parquet from an earlier embed step",
    )
    args = p.parse_args(argv)
    steps = set(args.steps.split(","))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RADIOLATENT_CACHE": str(args.cache or work / "cache")}
    os.environ.update(env)  # the folder writer reads the shipped images through the same cache
    log = work / "scale.log"
    small_n = args.small or args.n // 4
    figures: dict = {"n": args.n, "small": small_n, "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}
    folders = {n: folder_for(work, n, args.seed) for n in (small_n, args.n)}
    codes = work / f"codes-{args.n}.parquet"
    if "pool" in steps:
        pools(figures, folders, env, log)
    if "embed" in steps:
        embed(figures, folders[args.n], codes, env, log, args.model)
    import pandas as pd

    rows = len(pd.read_parquet(codes, columns=["id"])) if codes.is_file() else 0  # a pool-only run has none
    if "encoder" in steps:
        enc = python_run(ENCODER_RUN, [str(codes), str(args.sample), str(args.sample_8)], env, log)
        figures["encoder"] = enc
        for name in ("single", "8-view"):
            e = enc[name]
            print(
                f"encoder {name}: {e['img_s']:.0f} img/s on {e['images']} images; "
                f"{rows} rows would take {rows / e['img_s'] / 60:.1f} min (extrapolated)"
            )
    if "search" in steps:
        search(figures, codes, work, env, log)
    if "explore" in steps:
        for start in ("first", "second"):
            figures[f"explore_{start}"] = e = python_run(
                EXPLORER_RUN, [str(codes), str(work / "explore-cache")], env, log
            )
            print(
                f"explorer {start} start: map served after {e['map_s']:.1f} s ({e['map_bytes'] / 1e6:.1f} MB), "
                f"first thumbnail {e['first_thumb_s']:.2f} s, next {1000 * e['next_thumb_s']:.0f} ms, "
                f"peak RSS {e['peak_rss_mb']} MB"
            )
    if "anomaly" in steps:
        figures["anomaly_rank"] = brief(
            measured(
                [
                    *RADIOLATENT,
                    "anomaly",
                    "rank",
                    "--codes",
                    str(codes),
                    "--in",
                    "pool",
                    "--method",
                    "iforest",
                    "--out",
                    str(work / "ranked.csv"),
                ],
                env,
                log,
            )
        )
        print(f"anomaly rank --method iforest: {figures['anomaly_rank']['s']} s")
    figures["load_at_end"] = os.getloadavg()
    (work / f"scale-{'-'.join(sorted(steps))}.json").write_text(json.dumps(figures, indent=1, default=str))
    print(f"figures in {work}/scale-*.json; commands' output in {log}")
    return 0


def pools(figures: dict, folders: dict, env: dict, log: Path) -> None:
    # the shipped pool first: decodes the shipped archives into the cache (not part of the figures' N)
    figures["pool_shipped"] = brief(measured([*RADIOLATENT, "data", "pool"], env, log))
    print(f"shipped pool: {figures['pool_shipped']['s']} s, peak RSS {figures['pool_shipped']['peak_rss_mb']} MB")
    for n, folder in folders.items():
        # --rebuild: the pool of this folder is built now even if an earlier run cached it
        run = measured([*RADIOLATENT, "data", "pool", "--add", f"rgz-dr1@{folder}", "--rebuild"], env, log)
        # "pool: 95895 images of 64x64, cached at ...": the output arrays are images x 64 x 64 bytes
        kept = int(next(line for line in run["stdout"].splitlines() if line.startswith("pool: ")).split()[1])
        figures[f"pool_{n}"] = {
            **brief(run),
            "images": kept,
            "images_mb": round(kept * 64 * 64 / 2**20),
            "write_s": json.loads((folder / "standin.json").read_text())["write_s"],
        }
        print(
            f"pool + {n} stand-in images: {kept} kept, {run['s']} s, peak RSS {run['peak_rss_mb']} MB "
            f"(output images {kept * 64 * 64 / 2**20:.0f} MB)"
        )


def embed(figures: dict, folder: Path, codes: Path, env: dict, log: Path, model: str | None = None) -> None:
    import pandas as pd

    chosen = ["--model", model] if model else []
    command = [*RADIOLATENT, "embed", *chosen, "--data", "pool", "--add", f"rgz-dr1@{folder}", "--single-view"]
    run = measured([*command, "--out", str(codes)], env, log)
    rows = len(pd.read_parquet(codes, columns=["id"]))
    name = model or "vdvae-cpu (shipped)"
    figures["embed_single_full"] = {**brief(run), "rows": rows, "img_s": round(rows / run["s"], 1), "model": name}
    print(
        f"embed --single-view ({name}) of {rows} rows: {run['s']} s ({rows / run['s']:.0f} img/s, whole command), "
        f"peak RSS {run['peak_rss_mb']} MB"
    )


def search(figures: dict, codes: Path, work: Path, env: dict, log: Path) -> None:
    import pandas as pd

    query = pd.read_parquet(codes, columns=["id"])["id"].iloc[-1]
    figures["search_cli"] = brief(
        measured(
            [
                *RADIOLATENT,
                "search",
                "--codes",
                str(codes),
                "--query",
                str(query),
                "--in",
                "pool",
                "-o",
                str(work / "search.png"),
            ],
            env,
            log,
        )
    )
    figures["search_index"] = python_run(SEARCH_RUN, [str(codes)], env, log)
    print(
        f"search command: {figures['search_cli']['s']} s; "
        f"index build {figures['search_index']['index_build_s']:.2f} s, "
        f"one query {figures['search_index']['query_ms']:.2f} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
