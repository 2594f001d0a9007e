"""Report sections for reference-based evaluation: the BEC benchmark and teacher-vs-student VDOS.

``data["bec_benchmark"]``: the result of :func:`lesdistill.analysis.bec_files.run_bec_benchmark`
(students, the isotropic constant, the reference); ``samples["bec_parity_png"]``: its parity
plot (PNG bytes). ``data["vdos"]``: {"bands": [rows of
:func:`lesdistill.spectra.vdos.compare_vdos`], "teacher": VDOS dict, "student": VDOS dict,
"start", "n_steps", ...}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lesdistill.report.html import Figure, Section, Table

__all__ = ["section_bec_benchmark", "section_vdos"]


def section_bec_benchmark(data: Mapping[str, Any], samples: Mapping[str, Any] | None = None
                          ) -> Section | None:
    """Student (and other models') BECs against reference tensors, with the yardstick."""
    res = data.get("bec_benchmark")
    if not res:
        return None
    elements = list(res["reference_trace_e"])
    header = ["model", "sign", "R²", "RMSE (e)", "MAE (e)", "best scale"]
    header += [f"Tr/3 {e} (e)" for e in elements] + ["MAE ≤ constant/2"]
    rows = []
    for name, s in res["students"].items():
        rows.append([name, s["sign"], s["r2"], s["rmse_e"], s["mae_e"], s["best_scale"],
                     *[s["per_element"][e]["trace_pred_e"] for e in elements],
                     "pass" if s["yardstick"]["passed"] else "FAIL"])
    c = res["constant"]
    rows.append(["isotropic constant per element (oracle)", "", c["r2"], c["rmse_e"], c["mae_e"],
                 1.0, *[c["values_e"][e] for e in elements],
                 f"threshold {res['yardstick_fraction'] * c['mae_e']:.3f} e"])
    rows.append(["reference", "", "", "", "", "", *[res["reference_trace_e"][e] for e in elements],
                 ""])
    ref = res["reference"]
    paras = [f"Born effective charges on {ref['n_frames']} reference frames ({ref['n_atoms']} "
             f"atoms; {ref['path']}, array '{ref['array']}'), all 9 components. Each model's "
             "arbitrary global charge sign is fixed first (least squares) and shown. The "
             "isotropic constant is fitted to the reference itself: a model that beats half its "
             "MAE has learnt environment-dependent electrostatics. Reference frames are "
             "evaluation data and were not used in training."]
    figs = []
    png = (samples or {}).get("bec_parity_png")
    if png:
        figs.append(Figure("bec_benchmark_parity", png,
                           "BEC components (sign fixed) against the reference"))
    return Section("BEC benchmark against reference tensors", paras,
                   [Table(header, rows, "BEC vs reference")], figs)


def section_vdos(data: Mapping[str, Any], samples: Mapping[str, Any] | None = None
                 ) -> Section | None:
    """Teacher vs student VDOS from the same start, band by band."""
    v = data.get("vdos")
    if not v:
        return None
    rows = [[r["band"], r["teacher_cm"], r["student_cm"], r["shift_cm"]] for r in v["bands"]]
    paras = [f"Vibrational density of states from the mass-weighted velocity autocorrelation of "
             f"teacher MD and student MD started from the same positions and velocities "
             f"({v.get('n_steps', '?')} steps of {v.get('timestep_fs', '?')} fs each, "
             f"{v.get('ensemble', 'NVE')}). A shift here is the distillation's error, "
             "independent of how close the teacher is to experiment."]
    figs = []
    png = (samples or {}).get("vdos_png")
    if png:
        figs.append(Figure("vdos", png, "VDOS of teacher and student MD from the same start"))
    header = ["band", "teacher (cm⁻¹)", "student (cm⁻¹)", "shift (cm⁻¹)"]
    return Section("Teacher vs student dynamics (VDOS)", paras,
                   [Table(header, rows, "VDOS band maxima")], figs)
