"""BEC/IR stage: BEC summary per element and the IR spectrum of the student MD.

Writes ``ir/spectrum.csv`` (lesdistill.spectra CSV), ``ir/peaks.csv``, ``ir/ir.json`` (spectrum
arrays, peak table with shifts from experiment, sum-rule check, dielectric response eps_0 and
eps(omega) for periodic cells) and ``ir/bec.json``. With ``ir.group`` (per-frame groups,
:mod:`lesdistill.analysis.groups`) ``spectrum.csv`` has the group spectra (and the cross terms in
"self" mode), ``ir/peaks_<group>.csv`` each group's bands against its matching reference and
``ir.json`` the sum check; with ``ir.style: paper`` also ``ir/spectrum_paper.csv``, the paper's
view (labelled as such; absolute n*alpha stays in ``spectrum.csv``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from lesdistill.analysis import groups as groupmod
from lesdistill.config import RunConfig
from lesdistill.fileio import write_text_atomic
from lesdistill.md import load_trajectory
from lesdistill.pipeline.layout import TRAJ
from lesdistill.pipeline.runner import StageContext
from lesdistill.spectra.bec import bec_summary
from lesdistill.spectra.dielectric import dielectric_response, summary_dict
from lesdistill.spectra.ir import ir_spectrum
from lesdistill.spectra.outputs import group_arrays, group_tables, paper_arrays, view
from lesdistill.spectra.peaks import (
    REFERENCE_CITATION,
    REFERENCE_FILES,
    compare_with_reference,
    format_peak_table,
    integrated_intensity,
    load_reference,
    write_peak_csv,
)


def bec_summary_dict(bec: np.ndarray, numbers: np.ndarray, total_charge: float = 0.0
                     ) -> dict[str, Any]:
    """JSON-ready per-element BEC statistics and acoustic sum rule (lesdistill.spectra.bec_summary);
    bec (B, N, 3, 3) in e."""
    summ = bec_summary(numbers, bec, total_charge=total_charge)
    elements = {e.symbol: {"Z_xx": float(e.mean_diagonal[0]), "Z_yy": float(e.mean_diagonal[1]),
                           "Z_zz": float(e.mean_diagonal[2]), "trace_over_3": e.mean_trace3,
                           "trace_over_3_std": e.std_trace3, "n_atoms": e.count}
                for e in summ.elements}
    return {"elements": elements, "n_frames": summ.n_frames,
            "acoustic_sum_rule": {"frobenius_norm_e": summ.asr_violation,
                                  "per_atom_e": summ.asr_violation / summ.n_atoms,
                                  "correction": "subtract the mean: lesdistill.spectra."
                                                "subtract_mean_bec"},
            "text": summ.text()}


def _finite(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def run_ir(ctx: StageContext) -> None:
    cfg: RunConfig = ctx.config
    irc = cfg.ir
    traj = load_trajectory(ctx.input(TRAJ), positions=irc.group is not None)
    decomposition = None
    if irc.group is not None:
        traj, labels = groupmod.with_group_currents(traj, irc.group, **irc.selector_options())
        decomposition = groupmod.summary(labels)
    out: dict[str, Any] = {}
    bec: dict[str, Any] = {}  # stays empty when the MD stored no BEC tensors
    if traj.bec is not None and len(traj.bec):
        bec = bec_summary_dict(traj.bec, traj.numbers,
                               float(traj.meta.get("total_charge", 0.0) or 0.0))
        per = ", ".join(f"{el} {v['trace_over_3']:+.2f}" for el, v in bec["elements"].items())
        ctx.log(f"  BEC trace/3 per element (e): {per}; acoustic sum rule ||sum Z||_F "
                f"{bec['acoustic_sum_rule']['frobenius_norm_e']:.3f} e")
    write_text_atomic(ctx.stage_dir / "bec.json", json.dumps(bec, indent=1) + "\n")
    spec = ir_spectrum(traj, irc.settings())
    spec.write_csv(ctx.stage_dir / "spectrum.csv")
    out.update({"wavenumber_cm": spec.wavenumber_cm.tolist(),
                "n_alpha_per_cm": spec.n_alpha_per_cm.tolist(),
                "error": [_finite(v) for v in spec.error_per_cm.tolist()],
                "temperature_K": spec.temperature_K, "volume_A3": spec.volume_A3,
                "correction": spec.correction, "window": spec.window,
                "window_ps": spec.window_ps, "n_blocks": spec.n_blocks,
                "frame_dt_fs": spec.frame_dt_fs, "max_wavenumber_cm": irc.max_wavenumber_cm})

    response = dielectric_response(traj, window=spec.window, window_ps=spec.window_ps,
                                   n_blocks=irc.n_blocks, max_wavenumber_cm=irc.max_wavenumber_cm,
                                   temperature_K=spec.temperature_K)
    if isinstance(response, str):
        out["dielectric"] = {"skipped": response}
    else:
        out["dielectric"] = summary_dict(*response)
        ctx.log("  " + out["dielectric"]["text"])
    if spec.sum_rule is not None:
        sr = spec.sum_rule
        out["sum_rule"] = {"integral_cm2": sr.integral_cm2, "expected_cm2": sr.expected_cm2,
                           "relative_mismatch": sr.relative_mismatch}
        ctx.log("  " + sr.text())
    if irc.reference is not None:
        peaks = compare_with_reference(spec, irc.reference)
        write_peak_csv(peaks, ctx.stage_dir / "peaks.csv")
        out["peaks"] = [{"band": p.band, "student_cm": p.position_cm if p.resolved else None,
                         "reference_cm": p.reference_cm, "shift_cm": p.shift_cm,
                         "fwhm_cm": _finite(p.fwhm_cm), "height_per_cm": _finite(p.height)}
                        for p in peaks]
        out["reference_citation"] = REFERENCE_CITATION.get(irc.reference, "literature values")
        if irc.reference in REFERENCE_FILES:
            w, y = load_reference(irc.reference)
            out["reference"] = {"wavenumber_cm": w.tolist(), "n_alpha_per_cm": y.tolist(),
                                "label": f"experiment ({out['reference_citation']})"}
            out["integrated_intensity"] = integrated_intensity(spec, irc.reference)
        ctx.log(format_peak_table(peaks, irc.reference))
    if decomposition is not None:
        out["groups"] = _groups(ctx, spec, decomposition, irc.reference or "water")
    if irc.style == "paper":
        out["paper"] = _paper(ctx, spec, irc.reference or "water")
    write_text_atomic(ctx.stage_dir / "ir.json", json.dumps(out, indent=1) + "\n")


def _groups(ctx: StageContext, spec: Any, decomposition: dict[str, Any], system: str
            ) -> dict[str, Any]:
    """Group spectra (already in ``spectrum.csv``), their band tables against the matching
    reference (``peaks_<group>.csv``) and the sum check, JSON-ready; logged."""
    result = {**decomposition, **group_arrays(spec, system)}
    for name, (table, rows) in group_tables(spec, system).items():
        write_peak_csv(rows, ctx.stage_dir / f"peaks_{name}.csv")
        ctx.log(f"  group {name} (vs {table}):")
        ctx.log(format_peak_table(rows, table))
    sizes = ", ".join(f"{name} {v['mean']:.1f}" for name, v in
                      decomposition["atoms_per_group"].items())
    check = result["sum_check"]
    text = (f"  groups ({decomposition['selector']}, {spec.group_mode} terms, mean atoms per "
            f"frame): {sizes}; sum of group currents vs total: max deviation "
            f"{check['current_residual']:.2e} of rms, spectra {check['spectrum_residual']:.2e}")
    if check["cross_fraction"] is not None:
        text += f"; cross terms {check['cross_fraction']:+.1%} of the integrated absorption"
    ctx.log(text)
    return result


def _paper(ctx: StageContext, spec: Any, system: str) -> dict[str, Any]:
    """The paper-style view (``spectrum_paper.csv``, labelled), JSON-ready; logged."""
    shown = view(spec, system, "paper")
    shown.write_csv(ctx.stage_dir / "spectrum_paper.csv")
    ctx.log(f"  {shown.label()} (1 a.u. = {shown.scale_per_cm:.4g} cm^-1 of n*alpha): "
            "ir/spectrum_paper.csv")
    ctx.log(format_peak_table(compare_with_reference(shown, system), system, height_unit="a.u."))
    return paper_arrays(spec, system)
