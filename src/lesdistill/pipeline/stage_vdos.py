"""The vdos stage: teacher vs student vibrational density of states from the same start.

    vdos/vdos.json   {"bands": [...], "teacher": VDOS, "student": VDOS, settings, temperatures}
    vdos/vdos.png    both total VDOS curves
    vdos/velocities.npz   the two velocity series (Å/fs)

Enabled by ``vdos.n_steps > 0``. The start is the last teacher frame at the MD temperature (the
equilibrated end of the teacher's trajectory), with seeded Maxwell-Boltzmann velocities; both
models then run NVE (:mod:`lesdistill.md.same_start`). A killed stage starts its MD again.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from lesdistill.config import RunConfig
from lesdistill.fileio import atomic_path, write_text_atomic
from lesdistill.md.same_start import nve_velocities, start_state
from lesdistill.pipeline.layout import VDOS_JSON, VDOS_PNG
from lesdistill.pipeline.runner import StageContext
from lesdistill.pipeline.stages_data import FRAMES, final_student, read_frames
from lesdistill.pipeline.stages_physics import teacher_segment
from lesdistill.spectra.vdos import compare_vdos, format_vdos_table, vdos
from lesdistill.teachers import get_teacher

__all__ = ["VDOS_JSON", "VDOS_PNG", "run_vdos", "vdos_png"]


def _kinetic_temperature_K(v: np.ndarray, masses: np.ndarray) -> float:
    from ase import units

    # v in Å/fs; m v^2 in amu Å^2/fs^2 -> eV: / units.fs^2 (ASE time unit is Å sqrt(amu/eV))
    ke = 0.5 * np.sum(masses[None, :, None] * v ** 2, axis=(1, 2)) / units.fs ** 2
    return float(np.mean(2.0 * ke / (3.0 * len(masses) * units.kB)))


def vdos_png(teacher: dict[str, Any], student: dict[str, Any], bands: list[dict[str, Any]]
             ) -> bytes:
    """Teacher and student total VDOS (states per cm^-1) with the band maxima marked."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=120)
    ax.plot(teacher["wavenumber_cm"], teacher["total"], label="teacher", lw=1.2)
    ax.plot(student["wavenumber_cm"], student["total"], label="student", lw=1.2)
    for row in bands:
        for key, style in (("teacher_cm", "C0"), ("student_cm", "C1")):
            if row[key] is not None:
                ax.axvline(row[key], color=style, lw=0.6, ls=":")
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_ylabel("VDOS (states per cm⁻¹)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def run_vdos(ctx: StageContext) -> None:
    from lesdistill.calculator import StudentCalculator

    cfg: RunConfig = ctx.config
    s = cfg.vdos
    frames = read_frames(ctx.input(FRAMES))
    index = teacher_segment(cfg, frames)[-1]
    temperature = s.temperature_K if s.temperature_K is not None else cfg.md.temperature_K
    start = start_state(frames[index], temperature, cfg.seed + 11)
    masses, symbols = start.get_masses(), start.get_chemical_symbols()
    student = StudentCalculator(ctx.input(final_student(cfg)), device=cfg.device)
    teacher = get_teacher(cfg.teacher.spec, device=cfg.device).calculator
    ctx.log(f"  teacher and student NVE from teacher frame {index}: {s.n_steps} steps of "
            f"{s.timestep_fs} fs each ...")
    run = {"n_steps": s.n_steps, "timestep_fs": s.timestep_fs, "stride": s.stride,
           "progress": ctx.progress}
    v_student = nve_velocities(start, student, label="student NVE (VDOS)", **run)
    v_teacher = nve_velocities(start, teacher, label="teacher NVE (VDOS)", **run)
    dt = s.timestep_fs * s.stride
    g_t = vdos(v_teacher, masses, dt, symbols=symbols, window_ps=s.window_ps)
    g_s = vdos(v_student, masses, dt, symbols=symbols, window_ps=s.window_ps)
    bands = compare_vdos(g_t, g_s, cfg.ir.reference or "water")
    result = {"bands": bands, "teacher": g_t.to_dict(), "student": g_s.to_dict(),
              "start_frame": int(index), "start_temperature_K": float(temperature),
              "n_steps": s.n_steps, "timestep_fs": s.timestep_fs, "stride": s.stride,
              "ensemble": "NVE (velocity Verlet)",
              "mean_temperature_K": {"teacher": _kinetic_temperature_K(v_teacher, masses),
                                     "student": _kinetic_temperature_K(v_student, masses)}}
    with atomic_path(ctx.stage_dir / "velocities.npz") as tmp:
        np.savez(tmp, teacher=v_teacher, student=v_student, masses=masses, dt_fs=dt)
    with atomic_path(ctx.stage_dir / "vdos.png") as tmp:
        tmp.write_bytes(vdos_png(result["teacher"], result["student"], bands))
    write_text_atomic(ctx.stage_dir / "vdos.json", json.dumps(result, allow_nan=True) + "\n")
    for line in format_vdos_table(bands).splitlines():
        ctx.log(f"    {line}")
