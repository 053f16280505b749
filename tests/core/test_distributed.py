"""Launching with torchrun: two nodes simulated on one machine (gloo, the tiny config),
a kill mid-epoch resumed under torchrun, and the trained model read by `embed`.

The commands are docs/gpu.md's: `torchrun ... -m radiolatent train vdvae --config tiny`.
Each process imports torch (the main cost), so the runs are few and short; the pool is a
small synthetic one written where the CLI's pool cache lives (RADIOLATENT_CACHE).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import blobs, write_pool_cache

from radiolatent.core.distributed import free_port

TORCHRUN = Path(sys.executable).with_name("torchrun")
#: 2 epochs of 9 steps (a few seconds each): long enough to be killed in the second.
TRAIN = ["-m", "radiolatent", "train", "vdvae", "--config", "tiny", "--device", "cpu"]
N_IMAGES = 160

pytestmark = pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside python")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    write_pool_cache(cache, blobs(N_IMAGES, seed=5))
    # One thread per process: the test machine's cores are shared.
    return dict(os.environ, RADIOLATENT_CACHE=str(cache), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def torchrun(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start torchrun in its own process group (so a kill reaches its workers)."""
    return subprocess.Popen(
        [str(TORCHRUN), *args], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def finish(proc: subprocess.Popen, log: Path, timeout: float = 240) -> str:
    proc.wait(timeout=timeout)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    return text


@pytest.fixture(scope="module")
def two_nodes(env, tmp_path_factory):
    """`torchrun --nnodes 2 --node-rank R --rdzv-endpoint 127.0.0.1:PORT`, one process per node."""
    out = tmp_path_factory.mktemp("two-nodes") / "run"
    port = free_port()
    logs = [out.parent / f"node{r}.log" for r in (0, 1)]
    procs = [
        torchrun(
            [
                "--nnodes",
                "2",
                "--node-rank",
                str(r),
                "--nproc-per-node",
                "1",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                *TRAIN,
                "--out",
                str(out),
            ],
            env,
            logs[r],
        )
        for r in (0, 1)
    ]
    texts = [finish(p, log) for p, log in zip(procs, logs)]
    return out, texts


def test_two_nodes_end_with_identical_weights(two_nodes):
    out, texts = two_nodes
    result = json.loads((out / "result.json").read_text())
    assert result["epochs_completed"] == 2
    assert len(result["weight_checksums"]) == 2
    assert result["weight_checksums"][0] == result["weight_checksums"][1]
    # Rank 0 alone prints: node 1's log has no progress lines.
    assert "done: 2 epochs" in texts[0] and "done:" not in texts[1]
    assert "2 processes on cpu" in texts[0]


def test_embed_under_torchrun_writes_the_single_process_table(two_nodes, env, tmp_path, monkeypatch):
    """The model trained under torchrun embeds; two processes share the batches out and
    rank 0 writes one table, the same as one process's."""
    from radiolatent.cli import main
    from radiolatent.data.codes import read_codes

    out, _ = two_nodes
    embed = ["embed", "--model", str(out), "--data", "pool", "--single-view", "--batch-size", "32", "--device", "cpu"]
    monkeypatch.setenv("RADIOLATENT_CACHE", env["RADIOLATENT_CACHE"])
    one = tmp_path / "one.parquet"
    assert main([*embed, "--out", str(one)]) == 0
    two = tmp_path / "two.parquet"
    proc = torchrun(
        ["--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "radiolatent", *embed, "--out", str(two)],
        env,
        tmp_path / "embed.log",
    )
    text = finish(proc, tmp_path / "embed.log")
    assert text.count("wrote ") == 1  # rank 0 alone
    table = read_codes(one)
    assert len(table) == N_IMAGES
    assert np.isfinite(table.filter(regex=r"^z\d").to_numpy()).all()
    pd.testing.assert_frame_equal(read_codes(two), table)


def test_a_run_killed_mid_epoch_resumes_exactly_under_torchrun(two_nodes, env, tmp_path):
    """One machine, two processes (`--nproc-per-node 2`): killed during epoch 2, resumed
    with --resume, it ends bit-identical to the two-node run (same world size, same seed)."""
    out = tmp_path / "run"
    single = ["--nproc-per-node", "2", "--master-port", str(free_port())]
    proc = torchrun([*single, *TRAIN, "--out", str(out)], env, tmp_path / "first.log")
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 240
    while not state.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(state.read_text())["epoch"] == 1, (tmp_path / "first.log").read_text()[-2000:]
    assert not (out / "result.json").exists()

    proc = torchrun([*single, *TRAIN, "--out", str(out), "--resume"], env, tmp_path / "resumed.log")
    finish(proc, tmp_path / "resumed.log")
    resumed = json.loads((out / "result.json").read_text())
    uninterrupted = json.loads((two_nodes[0] / "result.json").read_text())
    assert resumed["weight_checksums"] == uninterrupted["weight_checksums"]
    assert [r["val_loss"] for r in resumed["history"]] == [r["val_loss"] for r in uninterrupted["history"]]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    from radiolatent.cli import main
    from radiolatent.core.distributed import device

    assert device("auto").type == "cpu"
    assert main(["train", "vdvae", "--config", "tiny", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "no usable CUDA device" in capsys.readouterr().err
