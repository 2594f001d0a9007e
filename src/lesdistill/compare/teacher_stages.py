"""The stages run for each teacher of a comparison, into ``<output>/<teacher>/<stage>/``.

Each teacher's folder is a complete ``lesdistill run`` output folder: the pipeline's own stages
(train, evaluate, md, ir, report) run unchanged on it, with the teacher's run config. Only the
first two stages are replaced, so that every teacher sees the same frames:

    build    the shared starting structure (copied from ``<output>/frames/structure.extxyz``)
    sample   the shared frames relabelled by this teacher (lesdistill.sampling.label), split with
             the shared train/valid/test indices, and the teacher's metadata (with overrides)

and one stage is added after the pipeline's:

    compare  the student's latent charges and BECs on the shared BEC frames, its RDFs, and a
             check that its MD stayed physical (temperature, no collapsing atoms)

Stages use the pipeline's content-hash runner (:func:`lesdistill.pipeline.runner.run_stages`): a
stage re-runs only when its config sections or input files changed, and a killed run resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.analysis.rdf import radial_distribution, rdf_pairs
from lesdistill.compare.config import CompareConfig, TeacherEntry
from lesdistill.compare.stability import check_student_md
from lesdistill.data.frames import read_frames, write_frames
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.md import load_trajectory
from lesdistill.pipeline import layout as L
from lesdistill.pipeline.runner import Stage

FRAMES = "frames"  # folder (under the compare output) of the shared frames
SHARED_FILES = ("structure.extxyz", "all.extxyz", "split.json", "bec.extxyz")


OVERRIDES = "teacher_overrides.json"  # per-teacher file: metadata overrides (a stage input)


@dataclass
class TeacherJob:
    """What the compare stages of one teacher need besides its run config (``ctx.config``, a
    :class:`lesdistill.config.RunConfig`); passed as ``ctx.extra["job"]``. ``teacher()`` builds
    the teacher once."""

    compare: CompareConfig
    entry: TeacherEntry
    make_teacher: Callable[[], Any]
    _teacher: Any = field(default=None, repr=False)

    def teacher(self) -> Any:
        if self._teacher is None:
            self._teacher = self.make_teacher()
        return self._teacher


def shared(name: str) -> str:
    """Path of a shared-frames file relative to a teacher's folder."""
    return f"../{FRAMES}/{name}"


def teacher_metadata(info: Any, spec: str, overrides: dict[str, str]) -> dict[str, Any]:
    """A TeacherInfo as plain data, with the compare config's overrides applied."""
    import dataclasses

    data = dataclasses.asdict(info) if dataclasses.is_dataclass(info) else {}
    data = {k: (sorted(v) if isinstance(v, frozenset | set) else v) for k, v in data.items()}
    return {"name": spec, **data, **overrides}


# --- stage bodies -------------------------------------------------------------------------------

def _read(path: Path) -> list[Any]:
    return read_frames(path, format="extxyz", allow_empty=True)


def _write(path: Path, frames: list[Any]) -> None:
    write_frames(path, frames)


def run_build(ctx) -> None:
    _write(ctx.stage_dir / "structure.extxyz", _read(ctx.input(shared("structure.extxyz"))))


def run_sample(ctx) -> None:
    from lesdistill.sampling import label

    job: TeacherJob = ctx.extra["job"]
    teacher = job.teacher()
    ctx.log(f"  relabelling the shared frames with '{job.entry.spec}' ...")
    frames_path = ctx.stage_dir / "frames.extxyz"
    label(ctx.input(shared("all.extxyz")), frames_path, teacher, progress=ctx.progress)
    frames = _read(frames_path)
    split = json.loads(ctx.input(shared("split.json")).read_text(encoding="utf-8"))
    for name in ("train", "valid", "test"):
        _write(ctx.stage_dir / f"{name}.extxyz", [frames[i] for i in split[name]])
    overrides = json.loads(ctx.input(OVERRIDES).read_text(encoding="utf-8"))
    meta = teacher_metadata(teacher.info, job.entry.spec, overrides)
    write_text_atomic(ctx.stage_dir / "teacher.json",
                      json.dumps(meta, indent=1, default=str) + "\n")


def run_compare_stage(ctx) -> None:
    """Charges and BECs of the student on the shared BEC frames; RDFs of its MD."""
    from lesdistill.calculator import StudentCalculator

    cfg = ctx.config
    calc = StudentCalculator(ctx.input(student_file(cfg)), device=cfg.device)
    becs, charges, symbols = [], [], []
    for atoms in _read(ctx.input(shared("bec.extxyz"))):
        work = atoms.copy()
        work.calc = calc
        becs.append(np.asarray(calc.get_property("born_effective_charges", work), dtype=float))
        charges.append(np.asarray(calc.get_property("charges", work), dtype=float))
        symbols.append(np.array(work.get_chemical_symbols()))
    with atomic_path(ctx.stage_dir / "bec.npz") as tmp:
        np.savez(tmp, becs=np.stack(becs), charges=np.stack(charges), symbols=np.stack(symbols))
    rdfs = student_rdfs(ctx.input(L.TRAJ), cfg.report)
    write_text_atomic(ctx.stage_dir / "rdf.json", json.dumps(rdfs) + "\n")

    check = check_student_md(ctx.input(L.TRAJ), _read(ctx.input(shared("all.extxyz"))),
                             cfg.md.temperature_K)
    write_text_atomic(ctx.stage_dir / "md_check.json", json.dumps(check, indent=1) + "\n")
    if not check["stable"]:
        ctx.log(f"  student MD unstable: {'; '.join(check['issues'])}")


def student_file(cfg: Any) -> str:
    """The student used downstream (fine-tuned if the run config has a finetune block)."""
    return L.FT_STUDENT if cfg.finetune is not None else L.STUDENT


def student_rdfs(traj_dir: Path, report: Any) -> dict[str, dict[str, list[float]]]:
    """RDFs (r_A, g) of a student MD trajectory for the pipeline report's element pairs (O-O,
    O-H, Cl-O, Ti-O when present); periodic cells only."""
    from ase.data import chemical_symbols

    traj = load_trajectory(traj_dir)
    if not np.all(traj.pbc):
        return {}
    symbols = [chemical_symbols[z] for z in traj.numbers]
    out = {}
    for pair in rdf_pairs(set(symbols)):
        rdf = radial_distribution(traj.positions, traj.cell, traj.numbers, pair,
                                  r_max_A=report.rdf_rmax_A, n_bins=report.rdf_bins)
        out["-".join(pair)] = {"r_A": rdf.r_A.tolist(), "g": rdf.g.tolist()}
    return out


# --- stage list ---------------------------------------------------------------------------------

def compare_stages() -> dict[str, Any]:
    """The compare versions of ``build`` and ``sample`` and the added ``compare`` stage."""
    return {
        "build": Stage("build", run_build, description="shared starting structure",
                       inputs=lambda c: [shared("structure.extxyz")],
                       outputs=lambda c: ["structure.extxyz"]),
        "sample": Stage("sample", run_sample, description="relabel the shared frames",
                        hash_payload=lambda c: {"teacher": c.teacher.spec},
                        inputs=lambda c: [shared("all.extxyz"), shared("split.json"), OVERRIDES],
                        outputs=lambda c: ["frames.extxyz", "train.extxyz", "valid.extxyz",
                                           "test.extxyz", "teacher.json"]),
        "compare": Stage("compare", run_compare_stage,
                         description="charges/BECs on the shared frames, RDFs",
                         hash_payload=lambda c: {"rdf": [c.report.rdf_rmax_A, c.report.rdf_bins]},
                         inputs=lambda c: [student_file(c), shared("bec.extxyz"),
                                           shared("all.extxyz"), L.TRAJ_SUMMARY],
                         outputs=lambda c: ["bec.npz", "rdf.json", "md_check.json"]),
    }


def teacher_stages(pipeline_stages: list[Any]) -> list[Any]:
    """The pipeline's stage list with ``build``/``sample`` replaced and ``compare`` added after
    the last physics stage (before the per-teacher ``report``, if any)."""
    mine = compare_stages()
    names = [s.name for s in pipeline_stages]
    missing = [n for n in ("build", "sample", "train", "md") if n not in names]
    if missing:
        raise RuntimeError(f"the pipeline has no stage(s) {missing}; the compare stages need them")
    out = [mine.get(s.name, s) for s in pipeline_stages if s.name != "report"]
    out.append(mine["compare"])
    out += [s for s in pipeline_stages if s.name == "report"]
    return out
