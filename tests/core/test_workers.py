"""CPU time of this process and its worker processes (the study's per-stage CPU column)."""

import time

from joblib import delayed

from radiolatent.core.workers import cpu_seconds, parallel


def _burn(n: int) -> float:
    """Busy work; returns the CPU seconds it took in the worker."""
    start = time.process_time()
    total = 0
    for i in range(n):
        total += i * i
    return time.process_time() - start


def test_cpu_seconds_counts_the_work_of_live_workers():
    before = cpu_seconds()
    in_workers = parallel(2)(delayed(_burn)(2_000_000) for _ in range(4))
    counted = cpu_seconds() - before
    # the workers are still alive (joblib keeps them): their CPU is read from /proc
    assert sum(in_workers) > 0.1
    assert counted >= 0.9 * sum(in_workers)


def test_cpu_seconds_counts_this_process():
    before = cpu_seconds()
    spent = _burn(2_000_000)
    assert cpu_seconds() - before >= 0.9 * spent
