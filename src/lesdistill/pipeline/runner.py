"""Stage runner: run stages in order, skip the ones whose inputs did not change.

Each stage owns one sub-folder of the output folder. Before a stage runs, the runner computes
its *input hash*: SHA-256 over the canonical JSON of the config sections the stage reads and
the contents of the files it reads (outputs of earlier stages). The stage's state lives in
``OUT/<stage>/.stage.json``::

    {"hash": "...", "status": "running" | "done", "seconds": 12.3, "outputs": [...],
     "attempts": [{"started": "...", "seconds": 8.1, "outcome": "killed"},
                  {"started": "...", "seconds": 4.2, "outcome": "done"}]}

``seconds`` is the wall time of every attempt on the current inputs, accumulated: a killed
attempt counts too, because a heartbeat thread writes its elapsed time every
``HEARTBEAT_S`` seconds while the stage runs (SIGKILL cannot be caught; at most one heartbeat
of a killed attempt is lost). ``attempts`` lists each attempt (``killed``, ``failed`` or
``done``); the last one is what an uninterrupted run would have cost.

Rules:
- ``done`` with the same hash and all outputs present: skipped.
- ``running`` with the same hash (the run was killed): run again *without* clearing the folder,
  so resumable stages (sampling, training, MD) continue where they stopped.
- different hash, or forced (``--from STAGE`` and every later stage): the folder is cleared
  and the stage runs from scratch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesdistill.errors import UserInputError
from lesdistill.fileio import file_sha256, write_text_atomic

STATE_FILE = ".stage.json"
HEARTBEAT_S = 10.0  # seconds between writes of a running stage's elapsed time


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    ``run(ctx)`` does the work, writing only into ``ctx.stage_dir``; ``hash_payload(config)``
    returns the parts of the config it reads, as plain data (a change re-runs the stage);
    ``inputs`` are files or folders (relative to the output folder) written by earlier stages;
    ``outputs`` are files (relative to ``stage_dir``) that must exist when it is done.
    """

    name: str
    run: Callable[[StageContext], None]
    hash_payload: Callable[[Any], Any] = lambda cfg: None
    inputs: Callable[[Any], Sequence[str]] = lambda cfg: ()
    outputs: Callable[[Any], Sequence[str]] = lambda cfg: ()
    enabled: Callable[[Any], bool] = lambda cfg: True
    description: str = ""


@dataclass
class StageContext:
    """What a running stage sees: the config, the output folder and its own folder."""

    config: Any
    out_dir: Path
    stage_dir: Path
    index: int
    total: int
    log: Callable[[str], None]
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def input(self, relpath: str) -> Path:
        """Path of a file written by an earlier stage (relative to the output folder)."""
        return self.out_dir / relpath


@dataclass(frozen=True)
class StageResult:
    """What happened to a stage in one run."""

    name: str
    status: str  # "ran" | "skipped" | "disabled"
    seconds: float
    reason: str = ""


def stage_hash(stage: Stage, config: Any, out_dir: Path) -> str:
    """Content hash of a stage's inputs: its config payload plus its input files."""
    payload = {"stage": stage.name, "config": stage.hash_payload(config), "files": {}}
    for rel in stage.inputs(config):
        path = out_dir / rel
        if path.is_dir():  # a directory input: every file in it (e.g. an MD trajectory)
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                if sub.name != STATE_FILE and not sub.name.endswith(".tmp"):
                    payload["files"][str(sub.relative_to(out_dir))] = file_sha256(sub)
            continue
        if not path.is_file():
            raise FileNotFoundError(f"stage '{stage.name}' needs {path}, which an earlier stage "
                                    "should have written; re-run with --from an earlier stage")
        payload["files"][rel] = file_sha256(path)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(stage_dir: Path) -> dict[str, Any]:
    """The saved state of a stage folder ({} if none or unreadable)."""
    try:
        return json.loads((stage_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return {}


def _write_state(stage_dir: Path, state: dict[str, Any]) -> None:
    write_text_atomic(stage_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")


def _clear(stage_dir: Path) -> None:
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)


def run_stages(stages: Sequence[Stage], config: Any, out_dir: str | Path, *,
               from_stage: str | None = None, only: Iterable[str] | None = None,
               progress: bool = True, log: Callable[[str], None] = print,
               extra: dict[str, Any] | None = None) -> list[StageResult]:
    """Run ``stages`` in order into ``out_dir``; returns what happened to each.

    ``from_stage`` forces that stage and all later ones to re-run from scratch. ``only`` (stage
    names) stops after the last named stage has been handled (earlier ones still run or skip).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate stage names in {names}")
    if from_stage is not None and from_stage not in names:
        raise UserInputError(f"unknown stage {from_stage!r} for --from; stages: {', '.join(names)}")
    last = None
    if only is not None:
        only = list(only)
        for name in only:
            if name not in names:
                raise UserInputError(f"unknown stage {name!r}; stages: {', '.join(names)}")
        last = max(names.index(n) for n in only)
    active = [s for s in stages if s.enabled(config)]
    forced = False
    results: list[StageResult] = []
    for stage in stages:
        idx = names.index(stage.name)
        if last is not None and idx > last:
            break
        forced = forced or stage.name == from_stage
        if stage not in active:
            results.append(StageResult(stage.name, "disabled", 0.0, "not enabled by the config"))
            continue
        pos = active.index(stage) + 1
        stage_dir = out / stage.name
        h = stage_hash(stage, config, out)
        state = read_state(stage_dir)
        outputs = list(stage.outputs(config))
        have_outputs = all((stage_dir / o).exists() for o in outputs)
        tag = f"[{pos}/{len(active)}] {stage.name}"
        if not forced and state.get("status") == "done" and state.get("hash") == h and have_outputs:
            log(f"{tag}: unchanged, skipped ({state.get('seconds', 0.0):.1f} s last time)")
            results.append(StageResult(stage.name, "skipped", 0.0, "inputs unchanged"))
            continue
        if forced or state.get("hash") != h:
            reason = "forced" if forced else ("new" if not state else "inputs changed")
            _clear(stage_dir)
            attempts: list[dict[str, Any]] = []
        else:
            reason = "resuming" if state.get("status") == "running" else "outputs missing"
            stage_dir.mkdir(parents=True, exist_ok=True)
            attempts = _previous_attempts(state) if state.get("status") == "running" else []
        log(f"{tag}: {stage.description or stage.name} ({reason})")
        ctx = StageContext(config=config, out_dir=out, stage_dir=stage_dir, index=pos,
                           total=len(active), log=log, progress=progress, extra=dict(extra or {}))
        clock = _AttemptClock(stage_dir, h, attempts)
        try:
            with clock:
                stage.run(ctx)
        except BaseException:
            clock.finish("failed")
            raise
        missing = [o for o in outputs if not (stage_dir / o).exists()]
        if missing:
            clock.finish("failed")
            raise RuntimeError(f"stage '{stage.name}' finished without writing {missing}")
        seconds = clock.finish("done", outputs=outputs)
        total = _total(clock.attempts)
        earlier = (
            f", {total:.1f} s over {len(clock.attempts)} attempts"
            if len(clock.attempts) > 1
            else ""
        )
        log(f"{tag}: done in {seconds:.1f} s{earlier}")
        results.append(StageResult(stage.name, "ran", seconds, reason))
    return results


def _previous_attempts(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Attempts of a stage that did not finish; an attempt still marked running was killed."""
    attempts = [dict(a) for a in state.get("attempts", [])]
    if not attempts and float(state.get("seconds", 0.0)) > 0:  # state written before attempts
        attempts = [{"started": "", "seconds": float(state["seconds"]), "outcome": "killed"}]
    for attempt in attempts:
        if attempt.get("outcome") == "running":
            attempt["outcome"] = "killed"
    return attempts


def _total(attempts: Sequence[dict[str, Any]]) -> float:
    return float(sum(float(a.get("seconds", 0.0)) for a in attempts))


class _AttemptClock:
    """Times one attempt of a stage and keeps ``.stage.json`` up to date while it runs."""

    def __init__(self, stage_dir: Path, stage_hash_: str, earlier: list[dict[str, Any]],
                 heartbeat_s: float | None = None) -> None:
        self.stage_dir, self.hash = stage_dir, stage_hash_
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.current: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": 0.0, "outcome": "running"
        }
        self.attempts = [*earlier, self.current]
        self._start = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False

    def _write(self, status: str, **extra: Any) -> None:
        with self._lock:
            if self._finished and status == "running":
                return
            self.current["seconds"] = round(time.perf_counter() - self._start, 3)
            _write_state(self.stage_dir, {"hash": self.hash, "status": status,
                                          "seconds": _total(self.attempts),
                                          "attempts": self.attempts, **extra})

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._write("running")
            except OSError:  # a full disk must not kill the stage; the final write will tell
                pass

    def __enter__(self) -> _AttemptClock:
        self._write("running")
        self._thread = threading.Thread(target=self._beat, name="stage-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self, outcome: str, **extra: Any) -> float:
        """Record the attempt's end; returns its seconds."""
        self._stop.set()
        if self._finished:
            return float(self.current["seconds"])
        self.current["outcome"] = outcome
        if outcome == "done":
            self._write("done", finished=time.strftime("%Y-%m-%dT%H:%M:%S"), **extra)
        else:
            self._write("running")
        self._finished = True
        return float(self.current["seconds"])


def stage_attempts(stages: Sequence[Stage], out_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The attempts (``started``, ``seconds``, ``outcome``) of each finished stage, in stage
    order."""
    out = Path(out_dir)
    found = {}
    for stage in stages:
        state = read_state(out / stage.name)
        if state.get("status") == "done":
            found[stage.name] = list(state.get("attempts") or [
                {"started": state.get("finished", ""), "seconds": float(state.get("seconds", 0.0)),
                 "outcome": "done"}])
    return found


def stage_timings(stages: Sequence[Stage], out_dir: str | Path) -> dict[str, float]:
    """Seconds each finished stage took over all its attempts (killed ones included), in stage
    order; :func:`stage_attempts` has each attempt."""
    out = Path(out_dir)
    timings = {}
    for stage in stages:
        state = read_state(out / stage.name)
        if state.get("status") == "done":
            timings[stage.name] = float(state.get("seconds", 0.0))
    return timings


def finished_stage_times(names: Sequence[str], out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """For each finished stage of ``names`` (in that order): ``seconds`` over all its attempts
    (killed ones included), ``last_attempt_s`` and the number of ``attempts``; read from the
    runner's own state files, so later stages (the report) need not know their format."""
    out = Path(out_dir)
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        state = read_state(out / name)
        if state.get("status") != "done":
            continue
        attempts = state.get("attempts")
        seconds = float(state.get("seconds", 0.0))
        found[name] = {"seconds": seconds,
                       "last_attempt_s": float(attempts[-1]["seconds"]) if attempts else seconds,
                       "attempts": len(attempts or [1])}
    return found
