"""Cached stages: the machinery behind `radiolatent reproduce`.

A stage is a function that writes files into its own folder and returns a JSON-able
dict of results. Its cache key is a hash of its name, its parameters and the keys of
the stages it reads, so changing one setting reruns that stage and everything
downstream of it, and nothing else. A stage runs in a scratch folder that is renamed
into place only when it finishes: a run killed half-way leaves no stage that looks
finished, and the next run starts that stage again.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiolatent.config import config_hash
from radiolatent.core.errors import InputError
from radiolatent.core.fileio import write_text
from radiolatent.core.workers import cpu_seconds

#: the record a finished stage leaves in its folder.
STAGE_RECORD = "stage.json"


@dataclass(frozen=True)
class Stage:
    """One step of a study: `run(ctx)` writes into `ctx.folder` and returns results."""

    name: str
    run: Callable[[StageContext], dict]
    needs: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)


@dataclass
class StageContext:
    """What a running stage may read: its folder, and the folders and results of its needs."""

    folder: Path
    needs: dict[str, StageResult]

    def path(self, stage: str, name: str) -> Path:
        return self.needs[stage].folder / name

    def results(self, stage: str) -> dict:
        return self.needs[stage].results


@dataclass
class StageResult:
    name: str
    key: str
    folder: Path
    results: dict
    seconds: float
    cached: bool
    #: CPU seconds on every core (this process and its workers); None in records written before it was kept
    cpu_seconds: float | None = None


class Pipeline:
    """Run stages in order under `root/stages/`, skipping those already finished."""

    def __init__(self, root: str | Path, stages: list[Stage], log: Callable[[str], None] = print):
        self.root = Path(root)
        self.stages = stages
        self.log = log
        self._check_order()

    def _check_order(self) -> None:
        seen: set[str] = set()
        for stage in self.stages:
            missing = [n for n in stage.needs if n not in seen]
            if missing:
                raise ValueError(f"stage {stage.name!r} needs {missing}, which do not run before it")
            if stage.name in seen:
                raise ValueError(f"two stages are called {stage.name!r}")
            seen.add(stage.name)

    def folder(self, name: str) -> Path:
        return self.root / "stages" / name

    def run(self) -> dict[str, StageResult]:
        done: dict[str, StageResult] = {}
        for i, stage in enumerate(self.stages, 1):
            key = stage_key(stage, {n: done[n].key for n in stage.needs})
            cached = self._finished(stage.name, key)
            if cached is not None:
                self.log(f"[{i}/{len(self.stages)}] {stage.name}: up to date ({cached.seconds:.0f} s when run)")
                done[stage.name] = cached
                continue
            self.log(f"[{i}/{len(self.stages)}] {stage.name} ...")
            done[stage.name] = self._execute(stage, key, {n: done[n] for n in stage.needs})
            ran = done[stage.name]
            self.log(
                f"[{i}/{len(self.stages)}] {stage.name}: done in {ran.seconds:.0f} s ({ran.cpu_seconds:.0f} s of CPU)"
            )
        return done

    def _finished(self, name: str, key: str) -> StageResult | None:
        record_path = self.folder(name) / STAGE_RECORD
        if not record_path.is_file():
            return None
        try:
            record = json.loads(record_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(record_path, f"unreadable stage record ({exc}); delete the folder to rerun it") from None
        if record.get("key") != key:
            return None
        return StageResult(
            name, key, self.folder(name), record["results"], record["seconds"], True, record.get("cpu_seconds")
        )

    def _execute(self, stage: Stage, key: str, needs: dict[str, StageResult]) -> StageResult:
        final = self.folder(stage.name)
        scratch = final.with_name(f".{stage.name}.partial")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        start, cpu_start = time.perf_counter(), cpu_seconds()
        results = stage.run(StageContext(scratch, needs))
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        record = {
            "name": stage.name,
            "key": key,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "params": stage.params,
            "needs": list(stage.needs),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "results": results,
        }
        write_text(scratch / STAGE_RECORD, json.dumps(record, indent=2, default=_plain))
        # the old folder goes only once the new one is complete
        shutil.rmtree(final, ignore_errors=True)
        scratch.rename(final)
        results = json.loads(json.dumps(results, default=_plain))
        return StageResult(stage.name, key, final, results, seconds, False, cpu)


def stage_key(stage: Stage, need_keys: dict[str, str]) -> str:
    return config_hash({"name": stage.name, "params": stage.params, "needs": need_keys})


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, Paths and the like, as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
