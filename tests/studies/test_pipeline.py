"""The cached-stage runner behind `radiolatent reproduce`."""

from __future__ import annotations

import json

import pytest

from radiolatent.studies.pipeline import STAGE_RECORD, Pipeline, Stage


def _stages(calls: list[str], a_param: int = 1, fail_b: bool = False) -> list[Stage]:
    def a(ctx):
        calls.append("a")
        (ctx.folder / "a.txt").write_text(str(a_param))
        return {"value": a_param}

    def b(ctx):
        calls.append("b")
        if fail_b:
            (ctx.folder / "half.txt").write_text("half")
            raise RuntimeError("killed")
        return {"value": ctx.results("a")["value"] * 10, "read": ctx.path("a", "a.txt").read_text()}

    def c(ctx):
        calls.append("c")
        return {"value": 7}

    return [Stage("a", a, params={"p": a_param}), Stage("b", b, ("a",)), Stage("c", c)]


def test_stages_run_once_then_come_from_the_cache(tmp_path):
    calls: list[str] = []
    first = Pipeline(tmp_path, _stages(calls), log=lambda m: None).run()
    assert calls == ["a", "b", "c"]
    assert first["b"].results == {"value": 10, "read": "1"}
    second = Pipeline(tmp_path, _stages(calls), log=lambda m: None).run()
    assert calls == ["a", "b", "c"]
    assert all(r.cached for r in second.values())
    assert second["b"].results == first["b"].results
    # each stage keeps its wall and CPU time, for the report's table of where the minutes go
    assert all(r.cpu_seconds is not None and r.cpu_seconds >= 0 for r in second.values())
    assert json.loads((tmp_path / "stages" / "a" / STAGE_RECORD).read_text())["cpu_seconds"] >= 0


def test_a_changed_parameter_reruns_that_stage_and_what_needs_it_only(tmp_path):
    calls: list[str] = []
    Pipeline(tmp_path, _stages(calls), log=lambda m: None).run()
    calls.clear()
    out = Pipeline(tmp_path, _stages(calls, a_param=2), log=lambda m: None).run()
    assert calls == ["a", "b"]
    assert out["b"].results["value"] == 20
    assert (tmp_path / "stages" / "a" / "a.txt").read_text() == "2"


def test_a_killed_stage_leaves_nothing_finished_and_reruns(tmp_path):
    calls: list[str] = []
    Pipeline(tmp_path, _stages(calls), log=lambda m: None).run()
    calls.clear()
    with pytest.raises(RuntimeError):
        Pipeline(tmp_path, _stages(calls, a_param=3, fail_b=True), log=lambda m: None).run()
    # the old b is still there and still describes the old a; no half-written folder looks done
    record = json.loads((tmp_path / "stages" / "b" / STAGE_RECORD).read_text())
    assert record["results"]["value"] == 10
    assert not (tmp_path / "stages" / "b" / "half.txt").exists()
    calls.clear()
    out = Pipeline(tmp_path, _stages(calls, a_param=3), log=lambda m: None).run()
    assert calls == ["b"]
    assert out["b"].results["value"] == 30


def test_a_stage_that_needs_a_later_stage_is_refused(tmp_path):
    stages = _stages([])
    with pytest.raises(ValueError, match="needs"):
        Pipeline(tmp_path, [stages[1], stages[0]], log=lambda m: None)
