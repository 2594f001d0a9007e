"""Stage runner: content-hash skipping, --from, resume after a crash (dummy stages)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lesdistill.errors import UserInputError
from lesdistill.pipeline.runner import (
    Stage,
    finished_stage_times,
    read_state,
    run_stages,
    stage_timings,
)


@dataclass(frozen=True)
class Cfg:
    a: int = 1
    b: int = 2


def _make_stages(calls: list[str], fail_in: set[str] | None = None) -> list[Stage]:
    fail_in = fail_in if fail_in is not None else set()

    def first(ctx):
        calls.append("first")
        (ctx.stage_dir / "x.txt").write_text(str(ctx.config.a))

    def second(ctx):
        calls.append("second")
        # resumable work: counts how many times it was entered without a clear
        marker = ctx.stage_dir / "partial.txt"
        n = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(n))
        if "second" in fail_in:
            fail_in.discard("second")
            raise KeyboardInterrupt
        x = int(ctx.input("first/x.txt").read_text())
        (ctx.stage_dir / "y.txt").write_text(str(x + ctx.config.b))

    def third(ctx):
        calls.append("third")
        y = int(ctx.input("second/y.txt").read_text())
        (ctx.stage_dir / "z.txt").write_text(str(2 * y))

    return [
        Stage("first", first, hash_payload=lambda c: {"a": c.a}, outputs=lambda c: ["x.txt"]),
        Stage("second", second, hash_payload=lambda c: {"b": c.b},
              inputs=lambda c: ["first/x.txt"], outputs=lambda c: ["y.txt"]),
        Stage("third", third, inputs=lambda c: ["second/y.txt"], outputs=lambda c: ["z.txt"]),
    ]


def _quiet(_msg: str) -> None:
    pass


def test_second_run_skips_everything(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls)
    res = run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert [r.status for r in res] == ["ran", "ran", "ran"]
    assert (tmp_path / "third" / "z.txt").read_text() == "6"
    calls.clear()
    res = run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert [r.status for r in res] == ["skipped"] * 3
    assert calls == []
    assert set(stage_timings(stages, tmp_path)) == {"first", "second", "third"}


def test_changed_section_reruns_only_dependents(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls)
    run_stages(stages, Cfg(), tmp_path, log=_quiet)
    calls.clear()
    run_stages(stages, Cfg(b=5), tmp_path, log=_quiet)
    assert calls == ["second", "third"]
    assert (tmp_path / "third" / "z.txt").read_text() == "12"
    # the changed stage started from a clean folder
    assert (tmp_path / "second" / "partial.txt").read_text() == "1"


def test_unchanged_upstream_output_keeps_downstream(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls)
    run_stages(stages, Cfg(), tmp_path, log=_quiet)
    calls.clear()
    # --from first re-runs first; its output is identical, but --from forces all later stages
    run_stages(stages, Cfg(), tmp_path, from_stage="first", log=_quiet)
    assert calls == ["first", "second", "third"]
    calls.clear()
    # a deleted output re-runs just that stage; identical content keeps the next one skipped
    (tmp_path / "first" / "x.txt").unlink()
    run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert calls == ["first"]


def test_from_stage_forces_rerun(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls)
    run_stages(stages, Cfg(), tmp_path, log=_quiet)
    calls.clear()
    run_stages(stages, Cfg(), tmp_path, from_stage="second", log=_quiet)
    assert calls == ["second", "third"]
    with pytest.raises(UserInputError, match="unknown stage 'nope'"):
        run_stages(stages, Cfg(), tmp_path, from_stage="nope", log=_quiet)


def test_killed_stage_resumes_without_clearing(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls, fail_in={"second"})
    with pytest.raises(KeyboardInterrupt):
        run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert read_state(tmp_path / "second")["status"] == "running"
    assert not (tmp_path / "third").exists()
    calls.clear()
    res = run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert calls == ["second", "third"]
    assert res[1].reason == "resuming"
    # the resumed stage saw its partial work (entered twice without a clear)
    assert (tmp_path / "second" / "partial.txt").read_text() == "2"
    assert json.loads((tmp_path / "second" / ".stage.json").read_text())["status"] == "done"


def test_killed_stage_with_changed_config_starts_clean(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls, fail_in={"second"})
    with pytest.raises(KeyboardInterrupt):
        run_stages(stages, Cfg(), tmp_path, log=_quiet)
    run_stages(stages, Cfg(b=7), tmp_path, log=_quiet)
    assert (tmp_path / "second" / "partial.txt").read_text() == "1"


def test_missing_output_is_an_error(tmp_path: Path) -> None:
    stage = Stage("lazy", lambda ctx: None, outputs=lambda c: ["never.txt"])
    with pytest.raises(RuntimeError, match="never.txt"):
        run_stages([stage], Cfg(), tmp_path, log=_quiet)


def test_disabled_stage_and_only(tmp_path: Path) -> None:
    calls: list[str] = []
    stages = _make_stages(calls)
    stages[2] = Stage("third", lambda ctx: calls.append("third"), enabled=lambda c: False)
    res = run_stages(stages, Cfg(), tmp_path, log=_quiet)
    assert [r.status for r in res] == ["ran", "ran", "disabled"]
    calls.clear()
    res = run_stages(stages, Cfg(a=3), tmp_path, only=["first"], log=_quiet)
    assert calls == ["first"] and len(res) == 1


def _sleep_then_die(out: str) -> None:
    """Child process: a stage that works 0.6 s, then is SIGKILLed (no exception handler runs)."""
    import os
    import signal
    import time

    from lesdistill.pipeline import runner

    runner.HEARTBEAT_S = 0.05

    def slow(ctx):
        time.sleep(0.6)
        os.kill(os.getpid(), signal.SIGKILL)

    runner.run_stages([Stage("slow", slow, outputs=lambda c: ["done.txt"])], Cfg(), out, log=_quiet)


def test_time_of_a_killed_attempt_is_kept(tmp_path: Path) -> None:
    import multiprocessing as mp

    child = mp.get_context("fork").Process(target=_sleep_then_die, args=(str(tmp_path),))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -9
    killed = read_state(tmp_path / "slow")
    assert killed["status"] == "running" and killed["seconds"] >= 0.45

    def quick(ctx):
        (ctx.stage_dir / "done.txt").write_text("ok")

    run_stages([Stage("slow", quick, outputs=lambda c: ["done.txt"])], Cfg(), tmp_path, log=_quiet)
    state = read_state(tmp_path / "slow")
    assert [a["outcome"] for a in state["attempts"]] == ["killed", "done"]
    assert state["seconds"] == pytest.approx(sum(a["seconds"] for a in state["attempts"]))
    assert stage_timings([Stage("slow", quick)], tmp_path)["slow"] >= 0.45
    assert state["attempts"][-1]["seconds"] < 0.45
    times = finished_stage_times(["slow", "never"], tmp_path)  # what the report shows
    assert list(times) == ["slow"] and times["slow"]["attempts"] == 2
    assert times["slow"]["seconds"] == state["seconds"]
    assert times["slow"]["last_attempt_s"] == state["attempts"][-1]["seconds"]
