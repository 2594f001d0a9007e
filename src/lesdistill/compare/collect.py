"""Read every teacher's output folder, compute the cross-student numbers, write the report.

Per teacher (a ``lesdistill run`` folder): ``sample/teacher.json`` (metadata with overrides),
``evaluate/metrics.json`` (held-out errors vs the teacher, speed, latent charges), ``ir/ir.json``
(spectrum, band table), ``compare/bec.npz`` (BECs and charges on the shared BEC frames) and
``compare/rdf.json``. Across teachers: the BEC agreement matrix and each student's BEC error
against the reference (``reference/``).

Sign of the latent charges: LES students learn their charges from energies and forces, which are
even in the charges (E_lr ~ |S(k)|^2), so each student's overall sign is arbitrary (IR spectra
are not affected; charges and BECs flip). Before comparing, every student's charges and BECs are
multiplied by one global sign: the one that best matches the reference BECs when there is a
reference, else the one that gives hydrogen a positive mean BEC trace. The applied sign is
recorded per teacher (``latent_sign``, ``sign_rule``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.analysis.rdf import rdf_from_atoms
from lesdistill.compare import metrics
from lesdistill.compare.config import CompareConfig
from lesdistill.compare.report import write_report
from lesdistill.compare.stability import md_check
from lesdistill.compare.summary import INFO_FIELDS, TeacherResult, build_summary


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def fill_result(r: TeacherResult, overrides: Mapping[str, str]) -> dict[str, Any] | None:
    """Fill ``r`` from its folder; returns the arrays of ``compare/bec.npz`` (or None)."""
    folder = Path(r.run_dir)
    meta = _json(folder / "sample" / "teacher.json") or {}
    r.info = {k: str(meta[k]) for k in INFO_FIELDS if meta.get(k) is not None}
    r.info.update(overrides)
    ev = _json(folder / "evaluate" / "metrics.json") or {}
    held = ev.get("held_out", {})
    r.energy_mae_meV_per_atom = held.get("energy_mae_meV_per_atom")
    r.forces_mae_meV_per_A = held.get("forces_mae_meV_per_A")
    r.energy_rmse_meV_per_atom = held.get("energy_rmse_meV_per_atom")
    r.forces_rmse_meV_per_A = held.get("forces_rmse_meV_per_A")
    speed = ev.get("speed", {})
    r.teacher_ms_per_step = speed.get("teacher", {}).get("ms_per_step")
    r.student_ms_per_step = speed.get("student", {}).get("ms_per_step")
    r.mean_charge_e = {el: float(v["mean"]) for el, v in ev.get("charges", {}).items()}
    ir = _json(folder / "ir" / "ir.json") or {}
    if "wavenumber_cm" in ir:
        r.ir_curve = {"wavenumber_cm": ir["wavenumber_cm"], "n_alpha_per_cm": ir["n_alpha_per_cm"]}
    r.ir_peaks_cm = {p["band"]: p["student_cm"] for p in ir.get("peaks", [])
                     if p.get("student_cm") is not None}
    r.rdf = _json(folder / "compare" / "rdf.json") or {}
    raw = _json(folder / "compare" / "md_check.json")
    if raw is not None:  # re-judged here, so the thresholds of this version apply
        mean_t = raw.get("mean_temperature_K")
        check = md_check(float("nan") if mean_t is None else float(mean_t), raw["target_K"],
                         raw["closest_approach_A"], raw["shared_closest_approach_A"])
        r.md_stable, r.md_issues = bool(check["stable"]), list(check["issues"])
        r.md_temperature_K = mean_t
    path = folder / "compare" / "bec.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    symbols = arrays["symbols"].reshape(-1).tolist()
    r.asr_residual_e = metrics.acoustic_sum_rule_residual(list(arrays["becs"]))
    if not r.mean_charge_e:
        r.mean_charge_e = metrics.per_element_mean(arrays["charges"], symbols)
    return arrays


def apply_sign(r: TeacherResult, becs: np.ndarray, symbols: Sequence[str],
               ref: np.ndarray | None) -> np.ndarray:
    """Choose and apply the student's global charge sign (module docstring); returns the signed
    BECs and sets ``bec_trace_e``, ``mean_charge_e``, ``latent_sign``, ``sign_rule`` of ``r``."""
    sign, rule = 1.0, "none (no reference, no hydrogen): as trained"
    if ref is not None and ref.shape == becs.shape:
        sign, rule = metrics.sign_to_match(becs, ref), "best match to the reference BECs"
    else:
        conv = metrics.conventional_sign(becs, symbols)
        if conv is not None:
            sign, rule = conv, "hydrogen has a positive mean BEC trace"
    r.latent_sign, r.sign_rule = sign, rule
    signed = sign * becs
    r.bec_trace_e = metrics.bec_trace_per_element(signed, symbols)
    r.mean_charge_e = {el: sign * q for el, q in r.mean_charge_e.items()}
    return signed


def experiment_of(folders: Sequence[Path]) -> tuple[dict[str, float], tuple | None, str]:
    """Experimental band positions (cm^-1), curve and label, from the first ir.json having them."""
    for folder in folders:
        ir = _json(folder / "ir" / "ir.json") or {}
        peaks = {p["band"]: float(p["reference_cm"]) for p in ir.get("peaks", [])
                 if p.get("reference_cm") is not None}
        ref = ir.get("reference")
        if peaks or ref:
            curve = (ref["wavenumber_cm"], ref["n_alpha_per_cm"]) if ref else None
            return peaks, curve, (ref or {}).get("label", "experiment")
    return {}, None, "experiment"


def frames_rdfs(cfg: CompareConfig, pairs: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """RDFs of the shared frames (the sampler's MD) for the given pairs ("O-H"), same bins as the
    students'; {} when there are no periodic shared frames."""
    from lesdistill.compare.frames import read_frames

    path = Path(cfg.output) / "frames" / "all.extxyz"
    if not pairs or not path.is_file():
        return {}
    frames = read_frames(path)
    if not all(frames[0].pbc):
        return {}
    report = cfg.run_config(cfg.teachers[0]).report
    out = {}
    for name in pairs:
        rdf = rdf_from_atoms(frames, tuple(name.split("-")), r_max_A=report.rdf_rmax_A,
                             n_bins=report.rdf_bins)
        out[name] = {"r_A": rdf.r_A.tolist(), "g": rdf.g.tolist()}
    return out


def merged_bec_benchmark(results: Sequence[TeacherResult]) -> dict[str, Any] | None:
    """Every student's row of its run's BEC benchmark (``evaluate.bec_reference``: the same
    reference file for all), labelled by teacher, then the compared files' rows (scored once,
    identical in every run), with the reference and the isotropic-constant yardstick."""
    merged: dict[str, Any] | None = None
    compared: dict[str, Any] = {}
    for r in results:
        if r.status != "ok":
            continue
        bench = (_json(Path(r.run_dir) / "evaluate" / "metrics.json") or {}).get("bec_benchmark")
        if not bench:
            continue
        if merged is None:
            merged = {k: bench[k] for k in ("constant", "reference", "reference_trace_e",
                                            "yardstick_fraction", "compare")}
            merged["students"] = {}
            compared = {k: v for k, v in bench["students"].items() if k != "student"}
        merged["students"][f"{r.name} student"] = bench["students"]["student"]
    if merged is not None:
        merged["students"].update(compared)
    return merged


def collect_and_report(cfg: CompareConfig, results: list[TeacherResult], plan: Mapping[str, Any],
                       *, seconds: Mapping[str, float] | None = None) -> Path:
    """Fill the results from the teachers' folders, build the summary, write the report."""
    from lesdistill.data.frames import read_frame

    out = Path(cfg.output)
    ref_info = _json(out / "reference" / "reference.json")
    ref_path = out / "reference" / "reference.npz"
    ref = None
    if ref_info and ref_info.get("available") and ref_path.is_file():
        with np.load(ref_path, allow_pickle=False) as data:
            ref = data["becs"]
    becs: dict[str, np.ndarray] = {}
    symbols: list[str] | None = None
    for r in results:
        if r.status != "ok":
            continue
        arrays = fill_result(r, cfg.teacher(r.name).overrides)
        if arrays is not None:
            symbols = arrays["symbols"].reshape(-1).tolist()
            becs[r.name] = apply_sign(r, arrays["becs"], symbols, ref)
            if ref is not None and becs[r.name].shape == ref.shape:
                r.bec_vs_reference = metrics.bec_errors(becs[r.name], ref, symbols)
    structure = out / "frames" / "structure.extxyz"
    if structure.is_file():
        elements = sorted(set(read_frame(structure).get_chemical_symbols()))
    else:
        elements = sorted(set(symbols or []))
    agreement = metrics.bec_agreement_matrix(becs) if len(becs) >= 2 else None
    ok_folders = [Path(r.run_dir) for r in results if r.status == "ok"]
    exp_peaks, exp_curve, exp_label = experiment_of(ok_folders)
    split = _json(out / "frames" / "split.json") or {}
    system = {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.system.items()}
    summary = build_summary(
        name=cfg.name, system=system,
        n_frames={k: len(v) for k, v in split.items()}, results=results, elements=elements,
        agreement=agreement, reference=ref_info if ref_info and ref_info.get("available") else None,
        experiment_cm=exp_peaks, seconds=seconds)
    summary["plan"] = dict(plan)
    pairs = sorted({p for r in results if r.status == "ok" for p in r.rdf})
    summary["frames_rdf"] = frames_rdfs(cfg, pairs)
    sampler = plan.get("frames", {}).get("sampler")
    summary["frames_rdf_label"] = f"shared frames ({sampler} MD)" if sampler else "shared frames"
    summary["experiment_label"] = exp_label
    if exp_curve is not None:
        summary["experiment_curve"] = {"wavenumber_cm": list(exp_curve[0]),
                                       "n_alpha_per_cm": list(exp_curve[1])}
    if ref_info and not ref_info.get("available"):
        summary["bec_reference_missing"] = ref_info.get("reason", "")
    bench = merged_bec_benchmark(results)
    if bench is not None:
        summary["bec_benchmark"] = bench
    return write_report(summary, out / "report", experiment_curve=exp_curve)
