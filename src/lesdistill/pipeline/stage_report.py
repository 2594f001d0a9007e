"""Report stage: gather the numbers of every stage, compute RDFs, write the HTML/JSON report.

RDFs compare teacher MD (the sampling segment at the MD temperature) with student MD of the
same length: (1) the student run with the teacher's sampling protocol (``md/mirror``: same start
structure, thermostat, time step, equilibration and number of frames), and (2) the student's
production MD over the same simulated time and frame spacing, from the start of production.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import __version__, keys
from lesdistill.analysis.rdf import compare_rdf_sources, matching_frames
from lesdistill.config import RunConfig, config_to_dict
from lesdistill.md import load_trajectory
from lesdistill.pipeline import STAGE_NAMES
from lesdistill.pipeline.layout import (
    BEC_JSON,
    CURVE,
    EVAL_METRICS,
    FRAMES,
    FT_METRICS,
    IR_JSON,
    MD_MIRROR,
    PARITY,
    REFINE_METRICS,
    TEACHER_JSON,
    TEST,
    TRAIN,
    TRAJ,
    VALID,
    VDOS_JSON,
    VDOS_PNG,
)
from lesdistill.pipeline.runner import StageContext, finished_stage_times
from lesdistill.pipeline.stages_data import read_frames
from lesdistill.pipeline.stages_physics import BEC_PARITY, teacher_segment
from lesdistill.report.build import build_report
from lesdistill.sampling.snapshots import is_snapshot
from lesdistill.spectra.bec import diagonals_by_element


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _count(path: Path) -> int:
    return len(read_frames(path)) if path.is_file() else 0


def compute_rdfs(cfg: RunConfig, out: Path) -> dict[str, Any] | None:
    """RDFs of teacher MD vs student MD run with the same protocol and length (``md/mirror``),
    plus the student's production MD over the same simulated time (see module docstring)."""
    frames = read_frames(out / FRAMES)
    if not all(frames[0].pbc):
        return None
    teacher = [frames[i] for i in teacher_segment(cfg, frames)]
    n = len(teacher)
    teacher_dt = cfg.sampling.stride * cfg.sampling.timestep_fs
    numbers = teacher[0].numbers
    sources: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "teacher": (np.stack([f.positions for f in teacher]),
                    np.stack([np.asarray(f.cell) for f in teacher]))}
    result: dict[str, Any] = {"teacher_frames": n, "teacher_span_fs": (n - 1) * teacher_dt}
    mirror_dir = out / MD_MIRROR
    if (mirror_dir / "summary.json").is_file():
        mirror = load_trajectory(mirror_dir, positions=True)
        # frame 0 precedes the teacher's first frame; the mirror has the teacher's spacing
        idx = matching_frames(mirror.n_frames, n, frame_dt_fs=mirror.frame_dt_fs,
                              target_dt_fs=teacher_dt, start=1)
        sources["student (same protocol)"] = (mirror.positions[idx], mirror.cell[idx])
        result["student_frames"] = len(idx)
        result["student_span_fs"] = float(mirror.time_fs[idx[-1]] - mirror.time_fs[idx[0]])
    traj = load_trajectory(out / TRAJ, positions=True)
    if not np.array_equal(numbers, traj.numbers):
        raise ValueError("teacher frames and student trajectory hold different atoms")
    idx = matching_frames(traj.n_frames, n, frame_dt_fs=traj.frame_dt_fs, target_dt_fs=teacher_dt)
    sources["student (production MD)"] = (traj.positions[idx], traj.cell[idx])
    result["production_frames"] = len(idx)
    result["production_span_fs"] = float(traj.time_fs[idx[-1]] - traj.time_fs[idx[0]])
    if "student_frames" not in result:
        result["student_frames"], result["student_span_fs"] = (result["production_frames"],
                                                               result["production_span_fs"])
    result.update(compare_rdf_sources(sources, numbers, r_max_A=cfg.report.rdf_rmax_A,
                                      n_bins=cfg.report.rdf_bins))
    return result


def _learning_curve(path: Path) -> dict[str, list[float]] | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    return {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows]
            for k in rows[0]}


def _parity(metrics: dict[str, Any]) -> dict[str, Any]:
    h = metrics["held_out"]
    out: dict[str, Any] = {"n_frames": h["n_frames"],
                           "energy": {"mae": h["energy_mae_meV_per_atom"],
                                      "rmse": h["energy_rmse_meV_per_atom"], "unit": "meV/atom"},
                           "forces": {"mae": h["forces_mae_meV_per_A"],
                                      "rmse": h["forces_rmse_meV_per_A"], "unit": "meV/Å"}}
    if "stress_mae_meV_per_A3" in h:
        out["stress"] = {"mae": h["stress_mae_meV_per_A3"], "rmse": h["stress_rmse_meV_per_A3"],
                         "unit": "meV/Å³"}
    return out


def teacher_md_summary(frames: list[Any]) -> dict[str, Any] | None:
    """Mean kinetic temperature of the teacher MD per (target temperature, strain) segment, K,
    and whether its equilibration was checked and passed (``info`` of the sampled frames; snapshot
    frames, which have no MD temperature of their own, are left out)."""
    frames = [f for f in frames if not is_snapshot(f)]
    temps = [f.info.get(keys.MD_TEMPERATURE_K) for f in frames]
    if not frames or any(t is None for t in temps):
        return None
    segments: dict[str, dict[str, Any]] = {}
    for f, t in zip(frames, temps):
        key = (
            f"{float(f.info.get(keys.TEMPERATURE_K, 0.0)):.0f} K, "
            f"strain {float(f.info.get('strain', 0.0)):+.3f}"
        )
        seg = segments.setdefault(
            key,
            {
                "target_K": float(f.info.get(keys.TEMPERATURE_K, 0.0)),
                "md_K": [],
                "equilibrated": True,
            },
        )
        seg["md_K"].append(float(t))
        seg["equilibrated"] = seg["equilibrated"] and bool(f.info.get(keys.EQUILIBRATED, False))
    rows = {k: {"target_K": v["target_K"], "mean_K": float(np.mean(v["md_K"])),
                "min_K": float(np.min(v["md_K"])), "max_K": float(np.max(v["md_K"])),
                "n_frames": len(v["md_K"]), "equilibration_checked": v["equilibrated"]}
            for k, v in segments.items()}
    return {"mean_temperature_K": float(np.mean([float(t) for t in temps])), "segments": rows}


def caveats(cfg: RunConfig, data: dict[str, Any]) -> list[str]:
    """What the numbers of this run can and cannot say, from its own sizes (shown in the report)."""
    notes = []
    ds = data.get("dataset") or {}
    tmd = data.get("teacher_md") or {}
    teacher = data.get("teacher") or {}
    if ds:
        temps = ", ".join(f"{t:.0f}" for t in ds.get("temperatures_K", []))
        mean_t = f", mean kinetic temperature {tmd['mean_temperature_K']:.0f} K" if tmd else ""
        snaps = (
            f" and {ds['n_snapshots']} independent TIP3P liquid snapshots in the teacher's thermal "
            "molecular geometry"
            if ds.get("n_snapshots")
            else ""
        )
        notes.append(
            f"The student saw {ds.get('n_train', '?')} training frames of {ds.get('n_atoms', '?')} "
            f"atoms from {ds.get('teacher_md_fs', 0):.0f} fs of "
            f"teacher MD{snaps} at {temps} K{mean_t}; "
            "configurations far from these are extrapolation."
        )
    if teacher:
        level = (
            teacher.get("level_of_theory") or teacher.get("training_data") or "its training data"
        )
        notes.append(
            "A student can only be as faithful as its teacher: "
            f"{teacher.get('name', 'the teacher')} "
            f"({level}) sets the ceiling for charges, BECs and "
            "spectra; differences from experiment "
            "are the teacher's plus the distillation's."
        )
    md, ir = data.get("md") or {}, data.get("ir") or {}
    if md and ir:
        ps = cfg.md.n_steps * cfg.md.timestep_fs / 1000.0
        notes.append(
            f"The spectrum comes from {ps:.1f} ps of classical student MD in {cfg.ir.n_blocks} "
            "block(s) (the band shows their spread). The IR maxima of a short run of a small "
            "cell scatter far more than its VDOS: two 2.5 ps runs of one 96-atom water student "
            "from the same start put the bend at 1529 and 1478 cm^-1 and the OH stretch at 3364 "
            "and 3220 cm^-1, while their VDOS bands agreed within 14 cm^-1 "
            "(benchmarks/README.md); line shapes and intensities are not converged; nuclear "
            "quantum effects are only approximated by the quantum correction factor."
        )
        if cfg.vdos.n_steps == 0:
            notes.append(
                "The student's dynamics were not compared with the teacher's in this run "
                "(vdos.n_steps: 0): a band's distance from experiment may be distillation "
                "error as well as the teacher's; vdos: {n_steps: 1000} runs both models from "
                "the same start and reports the band shifts."
            )
    return notes


def quality_warnings(cfg: RunConfig, data: dict[str, Any]) -> list[str]:
    """Plain-language warnings when a number says the student or its MD is not trustworthy."""
    notes = []
    tmd = data.get("teacher_md") or {}
    for name, seg in (tmd.get("segments") or {}).items():
        hot = abs(seg["mean_K"] - seg["target_K"]) > 0.1 * seg["target_K"]
        if hot or not seg["equilibration_checked"]:
            why = (f"mean {seg['mean_K']:.0f} K vs target {seg['target_K']:.0f} K" if hot
                   else "frames recorded without a passed equilibration check")
            notes.append(
                f"teacher MD segment {name}: {why}; the student learnt from configurations "
                "that may not be equilibrated (use sampling.pre_equilibration and the "
                "equilibration check)"
            )
    md = data.get("md") or {}
    drift = md.get("nve_drift_meV_per_atom_ps")
    if drift is not None and abs(drift) > 1.0:
        notes.append(f"student NVE energy drift {drift:+.2f} meV/atom/ps (> 1): the MD is not "
                     "reliable; train on more (and hotter) teacher frames or longer")
    t_mean = md.get("mean_temperature_K")
    if t_mean is not None and abs(t_mean - cfg.md.temperature_K) > 0.15 * cfg.md.temperature_K:
        notes.append(f"student MD mean temperature {t_mean:.0f} K vs target "
                     f"{cfg.md.temperature_K:.0f} K: the student MD heated up or froze; its "
                     "spectrum is not reliable")
    mismatch = ((data.get("ir") or {}).get("sum_rule") or {}).get("relative_mismatch")
    if mismatch is not None and abs(mismatch) > 0.2:
        notes.append(f"IR sum rule off by {mismatch:+.0%} (> 20%): trajectory too short, too few "
                     "BEC frames (ir.bec_every) or not equilibrated")
    par = (data.get("parity") or {}).get("forces", {})
    if par.get("mae") is not None and par["mae"] > 150.0:
        notes.append(f"held-out force MAE {par['mae']:.0f} meV/Å (> 150): the student is not "
                     "yet a faithful copy of the teacher")
    return notes


def _short_teacher(meta: dict[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    if isinstance(out.get("elements"), list) and len(out["elements"]) > 12:
        out["elements"] = f"{len(out['elements'])} elements"
    if out.get("elements") is None:
        out["elements"] = "any"
    return out


def gather(cfg: RunConfig, out: Path, stage_names: list[str]) -> tuple[dict, dict]:
    """(report data, plot samples) from the files of the finished stages."""
    data: dict[str, Any] = {"title": cfg.report.title, "lesdistill_version": __version__,
                            "output": str(out)}
    samples: dict[str, Any] = {}
    teacher = _json(out / TEACHER_JSON)
    if teacher:
        data["teacher"] = _short_teacher(teacher)
    metrics = _json(out / EVAL_METRICS) or {}
    if metrics.get("student"):
        data["student"] = metrics["student"]
    frames = read_frames(out / FRAMES)
    n_snap = sum(is_snapshot(f) for f in frames)
    data["dataset"] = {
        "n_frames": len(frames),
        "n_snapshots": n_snap,
        "n_train": _count(out / TRAIN),
        "n_valid": _count(out / VALID),
        "n_test": _count(out / TEST),
        "n_atoms": len(frames[0]),
        "formula": frames[0].get_chemical_formula(),
        "temperatures_K": list(cfg.sampling.temperatures_K),
        # recorded teacher MD (all segments; equilibration not counted)
        "teacher_md_fs": (len(frames) - n_snap) * cfg.sampling.stride * cfg.sampling.timestep_fs,
    }
    data["teacher_md"] = teacher_md_summary(frames)
    data["learning_curve"] = _learning_curve(out / CURVE)
    final = _json((out / CURVE).parent / "final_metrics.json")
    if final:
        data["learning_curve_final"] = final
    if metrics:
        data["parity"] = _parity(metrics)
        if metrics.get("held_out_finetuned"):
            data["parity_finetuned"] = metrics["held_out_finetuned"]
        data["charges"] = metrics.get("charges")
        if metrics.get("bec_benchmark"):
            data["bec_benchmark"] = metrics["bec_benchmark"]
            if (out / BEC_PARITY).is_file():
                samples["bec_parity_png"] = (out / BEC_PARITY).read_bytes()
        speed = metrics.get("speed", {})
        data["speed"] = [{"model": v.get("model", k), "n_atoms": v["n_atoms"],
                          "ms_per_step": v["ms_per_step"], "ms_fastest": v["ms_min"],
                          "speedup_vs_teacher": speed["teacher"]["ms_per_step"] / v["ms_per_step"]}
                         for k, v in speed.items()]
    if (out / PARITY).is_file():
        with np.load(out / PARITY, allow_pickle=False) as par:
            samples["parity_energy"] = (par["energy_ref"], par["energy_pred"])
            samples["parity_forces"] = (par["forces_ref"], par["forces_pred"])
            if par["stress_ref"].size:
                samples["parity_stress"] = (par["stress_ref"], par["stress_pred"])
            samples["charges"] = {k[8:]: par[k] for k in par.files if k.startswith("charges_")}
    bec = _json(out / BEC_JSON)
    if bec:
        data["bec"] = bec
        traj = load_trajectory(out / TRAJ, positions=False)
        samples["bec_diagonals"] = diagonals_by_element(traj.bec, traj.numbers)  # e
    md_summary = _json(out / TRAJ / "summary.json")
    if md_summary:
        data["md"] = md_summary
    data["ir"] = _json(out / IR_JSON)
    if cfg.vdos.n_steps > 0 and (out / VDOS_JSON).is_file():
        data["vdos"] = _json(out / VDOS_JSON)
        if (out / VDOS_PNG).is_file():
            samples["vdos_png"] = (out / VDOS_PNG).read_bytes()
    data["finetune"] = _json(out / FT_METRICS)
    if cfg.refine.n_frames > 0:
        data["refine"] = _json(out / REFINE_METRICS)
    data["rdf"] = compute_rdfs(cfg, out)
    timings = finished_stage_times(stage_names, out)
    data["timings_s"] = {name: t["seconds"] for name, t in timings.items()}
    data["timings_last_attempt_s"] = {name: t["last_attempt_s"] for name, t in timings.items()}
    data["timings_attempts"] = {name: t["attempts"] for name, t in timings.items()}
    data["config"] = config_to_dict(cfg)
    data["warnings"] = quality_warnings(cfg, data)
    data["caveats"] = caveats(cfg, data)
    return {k: v for k, v in data.items() if v is not None}, samples


def run_report(ctx: StageContext) -> None:
    cfg: RunConfig = ctx.config

    names = ctx.extra.get("stage_names") or list(STAGE_NAMES)
    data, samples = gather(cfg, ctx.out_dir, [n for n in names if n != "report"])
    teacher = data.get("teacher", {}).get("name", cfg.teacher.spec)
    data.setdefault("subtitle", f"teacher {teacher} -> LES student ({cfg.student.preset}); "
                                f"lesdistill {__version__}")
    for note in data["warnings"]:
        ctx.log(f"  WARNING: {note}")
    page = build_report(data, ctx.stage_dir, samples=samples)
    ctx.log(f"  report: {page}")
