"""Run a comparison: shared frames once, then every usable teacher's stages, then one report.

Output folder layout::

    <output>/plan/                  resolved choices: frames.json (sampler or file), reference.json
    <output>/frames/                shared frames: structure, all frames, split.json, bec.extxyz
    <output>/reference/             reference BECs on the shared BEC frames (if any)
    <output>/<teacher>/             a complete `lesdistill run` folder per teacher (own report)
    <output>/report/                report.html, PNGs, summary.json

A teacher that cannot be used here (no checkpoint, missing package, element not covered) is
listed as skipped with the reason; a teacher whose stages fail is listed as failed with the
error, and the others still run. Every stage is cached by content hash and resumes after a kill.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lesdistill.compare.collect import collect_and_report
from lesdistill.compare.config import CompareConfig, TeacherEntry
from lesdistill.compare.shared_stages import shared_stages
from lesdistill.compare.summary import TeacherResult
from lesdistill.compare.teacher_stages import OVERRIDES, TeacherJob, teacher_stages
from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic
from lesdistill.pipeline import make_stages
from lesdistill.pipeline.runner import run_stages, stage_timings
from lesdistill.teachers.base import check_atoms

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError, OSError,
               KeyError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]


def resolve_teachers(cfg: CompareConfig,
                     atoms: Any) -> tuple[list[TeacherEntry], list[TeacherResult]]:
    """Split the configured teachers into usable ones and skipped ones (with the reason), using
    :func:`lesdistill.teachers.registry.teacher_status` (no model is loaded) and the teacher's
    element/periodicity coverage of ``atoms``."""
    from lesdistill.teachers.registry import teacher_status

    usable, skipped = [], []
    for entry in cfg.teachers:
        try:
            status = teacher_status(entry.spec)
            if not status.usable:
                raise ValueError(f"missing {status.reason}" if status.reason else "not usable here")
            if status.info is not None:
                check_atoms(atoms, status.info, entry.spec)
        except USER_ERRORS as exc:
            skipped.append(TeacherResult(name=entry.name, spec=entry.spec, status="skipped",
                                         reason=_first_line(exc), info=dict(entry.overrides)))
            continue
        usable.append(entry)
    return usable, skipped


def plan(cfg: CompareConfig, usable: list[TeacherEntry],
         log: Callable[[str], None]) -> dict[str, Any]:
    """Resolved choices: which teacher draws the shared frames, where a reference BEC comes from."""
    names = [e.name for e in usable]
    sampler = None
    if cfg.sampling.source == "teacher":
        wanted = cfg.teacher(cfg.sampling.teacher) if cfg.sampling.teacher else None
        if wanted is not None and wanted.name in names:
            sampler = wanted
        elif usable:
            sampler = usable[0]
            if wanted is not None:
                log(f"sampling teacher '{wanted.name}' is not usable here; drawing the shared "
                    f"frames with '{sampler.name}' instead")
    ref = cfg.bec.reference
    ref_teacher = None
    if ref.startswith("teacher:"):
        entry = cfg.teacher(ref.split(":", 1)[1])
        ref_teacher = entry if entry.name in names else None
        if ref_teacher is None:
            log(f"reference teacher '{entry.name}' is not usable here: no reference BEC")
    elif ref == "auto":
        for prefix in ("xtb-", "analytic-"):
            ref_teacher = next((e for e in usable if e.spec.startswith(prefix)), ref_teacher)
            if ref_teacher is not None:
                break
    return {"frames": {"sampler": sampler.spec if sampler else None,
                       "sampling_file": str(cfg.sampling.file) if cfg.sampling.file else None},
            "reference": {"reference": ref,
                          "reference_teacher": ref_teacher.spec if ref_teacher else None}}


def write_plan(out: Path, the_plan: dict[str, Any]) -> None:
    """Write ``plan/<key>.json`` files (inputs of the shared stages; unchanged text = no re-run)."""
    for key, value in the_plan.items():
        write_text_atomic(out / "plan" / f"{key}.json", json.dumps(value, sort_keys=True) + "\n")


def _pipeline_stages() -> list[Any]:
    """The pipeline's stage list (``lesdistill run``)."""
    return make_stages()


def run_compare(cfg: CompareConfig, *, progress: bool = True, log: Callable[[str], None] = print,
                from_stage: str | None = None) -> Path:
    """Run the comparison described by ``cfg``; returns the path of ``report/report.html``."""
    from lesdistill.compare.frames import build_structure
    from lesdistill.teachers import get_teacher

    start = time.perf_counter()
    shared = shared_stages()
    known = [s.name for s in shared] + [s.name for s in teacher_stages(_pipeline_stages())]
    if from_stage is not None and from_stage not in known:
        raise UserInputError(f"unknown stage {from_stage!r} for --from; stages: "
                             f"{', '.join(dict.fromkeys(known))}")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    atoms = build_structure(cfg.system, seed=cfg.seed)
    usable, results = resolve_teachers(cfg, atoms)
    for r in results:
        log(f"skipping teacher '{r.name}': {r.reason}")
    the_plan = plan(cfg, usable, log)
    write_plan(out, the_plan)
    if not usable:
        log("no teacher is usable here; writing a report of the skipped teachers only")
    teachers: dict[str, Any] = {}

    def make(spec: str) -> Callable[[], Any]:
        def build() -> Any:
            if spec not in teachers:
                log(f"  loading teacher '{spec}' ...")
                teachers[spec] = get_teacher(spec, device=cfg.device)
            return teachers[spec]
        return build

    seconds: dict[str, float] = {}
    if usable:
        extra = {"make_teacher": make}
        log(f"== shared frames and reference ({out})")
        run_stages(shared, cfg, out, progress=progress, log=log, extra=extra,
                   from_stage=from_stage if from_stage in {s.name for s in shared} else None)
        seconds.update(stage_timings(shared, out))  # seconds each took when it ran
    pipeline = teacher_stages(_pipeline_stages()) if usable else []
    names = {s.name for s in pipeline}
    for entry in usable:
        folder = out / entry.name
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / OVERRIDES, json.dumps(entry.overrides, sort_keys=True) + "\n")
        job = TeacherJob(compare=cfg, entry=entry, make_teacher=make(entry.spec))
        log(f"== teacher {entry.name} ({entry.spec})")
        try:
            run_stages(pipeline, cfg.run_config(entry), folder, progress=progress, log=log,
                       extra={"job": job}, from_stage=from_stage if from_stage in names else None)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one teacher failing must not stop the comparison
            log(f"teacher '{entry.name}' failed: {_first_line(exc)}")
            results.append(TeacherResult(name=entry.name, spec=entry.spec, status="failed",
                                         reason=_first_line(exc), info=dict(entry.overrides)))
            continue
        finally:
            teachers.pop(entry.spec, None)  # free the model's memory
        results.append(TeacherResult(name=entry.name, spec=entry.spec, run_dir=str(folder),
                                     stage_seconds=stage_timings(pipeline, folder)))
    order = {e.name: k for k, e in enumerate(cfg.teachers)}
    results.sort(key=lambda r: order[r.name])
    seconds["this_invocation"] = time.perf_counter() - start
    report = collect_and_report(cfg, results, the_plan, seconds=seconds)
    log(f"comparison report: {report}")
    return report
