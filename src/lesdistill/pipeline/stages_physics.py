"""Physics stages: evaluate the student, run its MD, BEC summary and IR spectrum.

Files (relative to the output folder)::

    evaluate/metrics.json      held-out errors vs the teacher, latent-charge stats, speed table
    evaluate/parity.npz        parity points (energy per atom, forces, stress) and charges
    evaluate/bec_benchmark/    BEC benchmark against evaluate.bec_reference (when given)
    md/start.extxyz, md/traj/  student MD (lesdistill.md trajectory directory, resumable; with
                               per-atom currents when ir.group is set)
    md/mirror/                 student MD with the teacher's sampling protocol (RDF comparison)
    ir/spectrum.csv, ir/ir.json, ir/bec.json   IR spectrum, peak table, sum rule, BEC summary
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.analysis.bec_benchmark import format_benchmark
from lesdistill.analysis.bec_files import run_bec_benchmark
from lesdistill.config import RunConfig
from lesdistill.data.dataset import read_frames as read_labelled
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.md import format_summary, run_md
from lesdistill.pipeline.layout import FRAMES, STRUCTURE, TEST
from lesdistill.pipeline.runner import StageContext
from lesdistill.pipeline.stages_data import (
    distilled_student,
    final_student,
    read_frames,
    write_frames,
)
from lesdistill.pipeline.timing import time_calculators
from lesdistill.sampling.replay import replay_settings, replay_start
from lesdistill.sampling.snapshots import is_snapshot
from lesdistill.teachers import get_teacher
from lesdistill.training.evaluate import charge_stats, metrics_of, parity_arrays, predict

BEC_BENCH = "bec_benchmark"  # folder inside evaluate/: bec_benchmark.json/.txt, bec_parity.png
BEC_PARITY = f"evaluate/{BEC_BENCH}/bec_parity.png"


# --- evaluate -----------------------------------------------------------------------------------

def run_evaluate(ctx: StageContext) -> None:
    from lesdistill.calculator import StudentCalculator
    from lesdistill.model import load_student

    cfg: RunConfig = ctx.config
    model_path = ctx.input(final_student(cfg))
    distilled = ctx.input(distilled_student(cfg))
    test = read_labelled(ctx.input(TEST))
    pred = predict(load_student(distilled, device=cfg.device), test)
    metrics: dict[str, Any] = {"held_out": metrics_of(pred)}
    if model_path != distilled:  # the fine-tuned student on the teacher's held-out frames
        metrics["held_out_finetuned"] = metrics_of(
            predict(load_student(model_path, device=cfg.device), test))
    metrics["charges"] = charge_stats(pred)
    if cfg.evaluate.bec_reference is not None:
        metrics["bec_benchmark"] = bec_benchmark_of(ctx, model_path)
    model = load_student(model_path, device=cfg.device)
    mcfg = getattr(model, "config", None)
    n_params = sum(p.numel() for p in model.parameters())
    metrics["student"] = {"file": str(model_path.relative_to(ctx.out_dir)),
                          "preset": getattr(mcfg, "preset", cfg.student.preset),
                          "elements": list(getattr(mcfg, "elements", [])),
                          "cutoff_A": getattr(mcfg, "cutoff", None),
                          "long_range": getattr(mcfg, "long_range", None),
                          "repulsion": getattr(mcfg, "repulsion", None),
                          "repulsion_range_A": {k: round(v, 3) for k, v
                                                in getattr(mcfg, "repulsion_range", {}).items()},
                          "eps_inf": getattr(mcfg, "eps_inf", None),
                          "n_parameters": int(n_params)}
    # speed: teacher vs student energy+forces, interleaved in this process
    atoms = read_frames(ctx.input(STRUCTURE))[0]
    ctx.log(f"  timing teacher vs student on {len(atoms)} atoms "
            f"({cfg.report.speed_repeats} calls each) ...")
    teacher = get_teacher(cfg.teacher.spec, device=cfg.device)
    student = StudentCalculator(model, device=cfg.device)
    speed = time_calculators(atoms, {"teacher": teacher.calculator, "student": student},
                             repeats=cfg.report.speed_repeats, seed=cfg.seed)
    speed["teacher"]["model"] = cfg.teacher.spec
    speed["student"]["model"] = f"student ({metrics['student']['preset']})"
    metrics["speed"] = speed
    metrics["speedup"] = speed["teacher"]["ms_per_step"] / speed["student"]["ms_per_step"]
    with atomic_path(ctx.stage_dir / "parity.npz") as tmp:
        np.savez(tmp, **parity_arrays(pred))
    write_text_atomic(ctx.stage_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    h = metrics["held_out"]
    ctx.log(f"  held-out ({h['n_frames']} frames): energy MAE "
            f"{h['energy_mae_meV_per_atom']:.2f} meV/atom, force MAE "
            f"{h['forces_mae_meV_per_A']:.1f} meV/Å; teacher "
            f"{speed['teacher']['ms_per_step']:.1f} ms/step, student "
            f"{speed['student']['ms_per_step']:.1f} ms/step ({metrics['speedup']:.0f}x)")


def bec_benchmark_of(ctx: StageContext, model_path: Path) -> dict[str, Any]:
    """The final student's BECs against ``evaluate.bec_reference`` (and the other models of
    ``evaluate.bec_compare``), written to ``evaluate/bec_benchmark/``; the JSON-ready result."""
    ev = ctx.config.evaluate
    ctx.log(f"  BEC benchmark against {ev.bec_reference} ...")
    result = run_bec_benchmark(ev.bec_reference, model=model_path, array=ev.bec_array,
                               compare=list(ev.bec_compare), out_dir=ctx.stage_dir / BEC_BENCH,
                               device=ctx.config.device, name="student")
    for line in format_benchmark(result).splitlines():
        ctx.log(f"    {line}")
    return result


# --- MD -----------------------------------------------------------------------------------------

def teacher_segment(cfg: RunConfig, frames: list[Any]) -> list[int]:
    """Indices of the teacher MD frames at the MD temperature (the closest sampled one) and
    zero strain (or the smallest |strain|), in time order; snapshot frames
    (:mod:`lesdistill.sampling.snapshots`) only if that segment has no MD frames."""
    temps = np.array([float(f.info.get(keys.TEMPERATURE_K, cfg.md.temperature_K))
                      for f in frames])
    strains = np.array([abs(float(f.info.get("strain", 0.0))) for f in frames])
    dt = np.abs(temps - cfg.md.temperature_K)
    ok = (dt == dt.min())
    ok &= strains == strains[ok].min()
    md = np.array([not is_snapshot(f) for f in frames])
    if (ok & md).any():
        ok &= md
    return np.flatnonzero(ok).tolist()


def _start_structure(cfg: RunConfig, ctx: StageContext) -> Any:
    """The last teacher MD frame at the MD temperature (see :func:`teacher_segment`)."""
    frames = read_frames(ctx.input(FRAMES))
    atoms = frames[teacher_segment(cfg, frames)[-1]].copy()
    atoms.calc = None
    return atoms


def _run_mirror(ctx: StageContext, calc: Any) -> None:
    """Student MD with the teacher's sampling protocol for the RDF segment: same start structure,
    temperature, strain, thermostat, time step, equilibration and length (``md/mirror``,
    :mod:`lesdistill.sampling.replay`)."""
    cfg: RunConfig = ctx.config
    s = cfg.sampling
    frames = read_frames(ctx.input(FRAMES))
    seg = teacher_segment(cfg, frames)
    first = frames[seg[0]].info
    temperature = float(first.get(keys.TEMPERATURE_K, cfg.md.temperature_K))
    strain = float(first.get("strain", 0.0))
    atoms = replay_start(read_frames(ctx.input(STRUCTURE))[0], s, cfg.seed, temperature, strain)
    atoms.calc = calc
    mirror = replay_settings(s, temperature, len(seg),
                             int(first.get("equilibration_steps", s.equilibration_steps)))
    run_md(atoms, ctx.stage_dir / "mirror", mirror, seed=cfg.seed + 7, progress=ctx.progress)


def records_atom_currents(cfg: RunConfig) -> bool:
    """True when the run's IR has per-frame groups (``ir.group``): the student MD then stores
    the per-atom currents Z*_i v_i of every frame (one BEC per stored frame)."""
    return cfg.ir.group is not None


def run_md_stage(ctx: StageContext) -> None:
    from lesdistill.calculator import StudentCalculator

    cfg: RunConfig = ctx.config
    m = cfg.md
    start = ctx.stage_dir / "start.extxyz"
    if not start.is_file():
        write_frames(start, [_start_structure(cfg, ctx)])
    atoms = read_frames(start)[0]
    calc = StudentCalculator(ctx.input(final_student(cfg)), device=cfg.device)
    atoms.calc = calc
    run_md(atoms, ctx.stage_dir / "traj", m, bec_every=cfg.ir.bec_every, seed=cfg.seed,
           progress=ctx.progress, atom_currents=records_atom_currents(cfg))
    summary = json.loads((ctx.stage_dir / "traj" / "summary.json").read_text())
    if not ctx.progress:  # run_md prints it itself with progress on
        ctx.log("  " + format_summary(summary))
    if all(atoms.pbc):
        ctx.log("  student MD with the teacher's sampling protocol (for the RDF comparison)")
        _run_mirror(ctx, calc)
