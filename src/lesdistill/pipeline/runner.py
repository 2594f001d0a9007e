"""Stage runner: run stages in order, skip the ones whose inputs did not change.

Each stage owns one sub-folder of the output folder. Before a stage runs, the runner computes
its *input hash*: SHA-256 over the canonical JSON of the config sections the stage reads and
the contents of the files it reads (outputs of earlier stages). The stage's state lives in
``OUT/<stage>/.stage.json``::

    {"hash": "...", "status": "running" | "done", "seconds": 12.3, "outputs": [...]}

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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic

STATE_FILE = ".stage.json"


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    ``run(ctx)`` does the work, writing only into ``ctx.stage_dir``; ``config_sections`` are the
    parts of the config it reads (``hash_payload(config)`` returns them as plain data);
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


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


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
            prior = 0.0
        else:
            reason = "resuming" if state.get("status") == "running" else "outputs missing"
            stage_dir.mkdir(parents=True, exist_ok=True)
            prior = float(state.get("seconds", 0.0)) if state.get("status") == "running" else 0.0
        log(f"{tag}: {stage.description or stage.name} ({reason})")
        start = time.perf_counter()
        _write_state(stage_dir, {"hash": h, "status": "running", "seconds": prior})
        ctx = StageContext(config=config, out_dir=out, stage_dir=stage_dir, index=pos,
                           total=len(active), log=log, progress=progress, extra=dict(extra or {}))
        try:
            stage.run(ctx)
        except BaseException:
            _write_state(stage_dir, {"hash": h, "status": "running",
                                     "seconds": prior + time.perf_counter() - start})
            raise
        seconds = time.perf_counter() - start
        missing = [o for o in outputs if not (stage_dir / o).exists()]
        if missing:
            raise RuntimeError(f"stage '{stage.name}' finished without writing {missing}")
        _write_state(stage_dir, {"hash": h, "status": "done", "seconds": seconds + prior,
                                 "outputs": outputs, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log(f"{tag}: done in {seconds:.1f} s")
        results.append(StageResult(stage.name, "ran", seconds, reason))
    return results


def stage_timings(stages: Sequence[Stage], out_dir: str | Path) -> dict[str, float]:
    """Seconds each finished stage took (from the state files), in stage order."""
    out = Path(out_dir)
    timings = {}
    for stage in stages:
        state = read_state(out / stage.name)
        if state.get("status") == "done":
            timings[stage.name] = float(state.get("seconds", 0.0))
    return timings
