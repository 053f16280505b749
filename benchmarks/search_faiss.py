"""Top-10 similarity-search latency over random codes, exact vs IVF-Flat, on 2 threads.

    .venv/bin/python benchmarks/search_faiss.py            # 1,000,000 x 256 (a few minutes)
    .venv/bin/python benchmarks/search_faiss.py --n 20000  # quick check

Prints, per index: build time, resident-memory growth, per-query ms for single queries
and for one batch, and (approximate index) recall@10 against the exact answers for
several nprobe values. Random Gaussian codes are the hardest case for IVF (no cluster
structure), so real codes recall at least as well.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from radiolatent.config import SearchConfig
from radiolatent.downstream.code_index import CodeIndex


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed_build(codes: np.ndarray, config: SearchConfig, exact_threshold: int) -> tuple[CodeIndex, float, float]:
    before = rss_mb()
    start = time.perf_counter()
    index = CodeIndex.build(codes, metric="cosine", exact_threshold=exact_threshold, config=config)
    return index, time.perf_counter() - start, rss_mb() - before


def latency(index: CodeIndex, queries: np.ndarray, k: int, n_single: int) -> tuple[float, float, np.ndarray]:
    """(median ms per single query, ms per query in one batch, batch result indices)."""
    index.search(queries[:1], k)  # warm-up
    singles = []
    for q in queries[:n_single]:
        start = time.perf_counter()
        index.search(q[None], k)
        singles.append(time.perf_counter() - start)
    start = time.perf_counter()
    _, rows = index.search(queries, k)
    batch = (time.perf_counter() - start) / len(queries)
    return 1000 * float(np.median(singles)), 1000 * batch, rows


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=50, help="single queries timed one by one")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument(
        "--data",
        choices=("random", "clustered"),
        default="random",
        help="Gaussian noise (worst case for IVF) or noisy copies of 1,000 centres",
    )
    args = parser.parse_args()

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((args.n, args.d), dtype=np.float32)
    queries = rng.standard_normal((args.queries, args.d), dtype=np.float32)
    if args.data == "clustered":
        # codes of real images bunch by morphology; mimic that with 1,000 centres
        centres = 3 * rng.standard_normal((1000, args.d), dtype=np.float32)
        codes += centres[rng.integers(0, len(centres), args.n)]
        queries += centres[rng.integers(0, len(centres), args.queries)]
    print(
        f"{args.data} {args.n:,} x {args.d} float32 codes ({codes.nbytes / 2**20:.0f} MiB), "
        f"{args.queries} queries, top-{args.k}, {args.threads} threads, faiss {faiss.__version__}"
    )

    exact, build_s, mem = timed_build(codes, SearchConfig(), exact_threshold=args.n)
    single, batch, truth = latency(exact, queries, args.k, args.single)
    print(
        f"exact (IndexFlatIP): build {build_s:.1f} s, +{mem:.0f} MiB; "
        f"single query {single:.1f} ms; batched {batch:.2f} ms/query"
    )
    del exact

    approx, build_s, mem = timed_build(codes, SearchConfig(), exact_threshold=0)
    nlist = faiss.extract_index_ivf(approx.index).nlist
    print(f"IVF-Flat (nlist {nlist}): build {build_s:.1f} s, +{mem:.0f} MiB")
    for nprobe in args.nprobe:
        faiss.extract_index_ivf(approx.index).nprobe = nprobe
        single, batch, found = latency(approx, queries, args.k, args.single)
        print(
            f"  nprobe {nprobe:4d}: single query {single:.2f} ms; batched {batch:.3f} ms/query; "
            f"recall@{args.k} {recall_at_k(found, truth):.3f}"
        )


if __name__ == "__main__":
    main()
