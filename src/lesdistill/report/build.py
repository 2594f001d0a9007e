"""Assemble the run report: ``report.html`` (self-contained), ``report.json``, ``figures/*.png``.

Input is one plain dict of numbers (it becomes ``report.json`` as is) plus optional ``samples``
(large per-atom arrays used only for plots: parity points, charges, BEC diagonals). Every
section is optional; a missing section is left out of the page. Keys of ``data``:

- ``title``, ``subtitle``; ``teacher`` / ``student`` / ``dataset``: flat dicts (metadata table)
- ``learning_curve``: {column: [values]} with an ``epoch`` column (CSV of training)
- ``parity``: {"energy": {"mae", "rmse", "unit"}, "forces": {...}, ...} held-out metrics
- ``charges``: {element: {"mean", "std", "min", "max", "n"}} latent charges (e)
- ``bec``: {"elements": {element: {...}}, "acoustic_sum_rule": {...}} (e)
- ``rdf``: {"r_A": [...], "pairs": {"O-O": {"teacher": g, "student": g}}, "compare": {...},
  "teacher_span_fs", "student_span_fs"}
- ``ir``: {"wavenumber_cm", "n_alpha_per_cm", "error", "reference": {"wavenumber_cm",
  "n_alpha_per_cm", "label"}, "peaks": [rows], "sum_rule": {...}, "dielectric": {"static":
  {...}, "omega": {"wavenumber_cm", "real", "imag", ...}} or {"skipped": reason}}; with
  per-frame groups ``"groups"`` and in paper style ``"paper"``
  (:mod:`lesdistill.report.ir_sections`)
- ``bec_benchmark``, ``vdos``: see :mod:`lesdistill.report.benchmark_sections`
- ``warnings``: [text] shown first; ``md``: student MD summary (drift, mean temperature)
- ``speed``: [{"model", "n_atoms", "ms_per_step", ...}]; ``finetune``: {"before": {...},
  "after": {...}, "fractions": {"curve", "n_test", "folder"} (the fraction sweep,
  :mod:`lesdistill.analysis.finetune_fractions`), ...}; ``timings_s``: {stage: seconds over all
  attempts}; ``timings_last_attempt_s``: {stage: seconds of the last attempt}; ``timings_attempts``:
  {stage: n}; ``config``: the run config
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.analysis.finetune_fractions import fractions_png
from lesdistill.fileio import atomic_open, write_text_atomic
from lesdistill.report import figures as F
from lesdistill.report.benchmark_sections import section_bec_benchmark, section_vdos
from lesdistill.report.html import Figure, Section, Table, render_html
from lesdistill.report.interface_sections import section_water_profile
from lesdistill.report.ir_sections import section_ir_groups, section_ir_paper
from lesdistill.report.refine_sections import section_refine

__all__ = ["build_report", "build_sections"]


def _kv_table(d: Mapping[str, Any], caption: str = "") -> Table:
    return Table(["property", "value"], [[k, _scalar(v)] for k, v in d.items()], caption)


def _scalar(v: Any) -> Any:
    if isinstance(v, list | tuple | set | frozenset):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v)
    return v


def _rows_table(rows: Sequence[Mapping[str, Any]], caption: str = "") -> Table:
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    return Table(header, [[row.get(h) for h in header] for row in rows], caption)


def _nested_table(d: Mapping[str, Mapping[str, Any]], first: str, caption: str = "") -> Table:
    return _rows_table([{first: k, **v} for k, v in d.items()], caption)


def _section_warnings(data: Mapping[str, Any]) -> Section | None:
    notes = data.get("warnings")
    return Section("Warnings", list(notes)) if notes else None


def _section_caveats(data: Mapping[str, Any]) -> Section | None:
    notes = data.get("caveats")
    return Section("Caveats", list(notes)) if notes else None


def _section_overview(data: Mapping[str, Any]) -> Section | None:
    tables = [_kv_table(data[key], key) for key in ("teacher", "student", "dataset")
              if data.get(key)]
    if data.get("timings_s"):
        t = data["timings_s"]
        last = data.get("timings_last_attempt_s") or t
        n = data.get("timings_attempts") or {}
        rows = [[k, v, last.get(k, v), n.get(k, 1)] for k, v in t.items()]
        rows.append(["total", sum(t.values()), sum(last.get(k, v) for k, v in t.items()),
                     sum(n.get(k, 1) for k in t)])
        tables.append(
            Table(
                ["stage", "wall time, all attempts (s)", "last attempt (s)", "attempts"],
                rows,
                "stage wall times: every attempt on the same inputs counts, "
                "killed ones included; the last attempt is the uninterrupted cost "
                "only when there was one attempt",
            )
        )
    return Section("Teacher, student and data", tables=tables) if tables else None


_CURVE_NOTE = ("Train errors are running means over each epoch's optimizer steps with the live "
               "weights, before each update; validation errors use the exponential moving average "
               "(EMA) of the weights after the epoch, which is what best.pt and last.pt hold. "
               "The EMA student is smoother and the running mean lags behind, so early in "
               "training the train curve can lie above the validation one without any "
               "difference between the two sets.")


def _final_markers(
    final: Mapping[str, Any], part: Mapping[str, Any]
) -> dict[str, tuple[float, float]]:
    """Markers for the learning curve: the final EMA student's error on each set."""
    out = {}
    for which in ("train", "valid"):
        values = final.get(which) or {}
        for column in part:
            key = column.removeprefix(f"{which}_")
            if column.startswith(f"{which}_") and key in values:
                out[f"{which}, final EMA student"] = (
                    float(final.get("epoch", 0)),
                    float(values[key]),
                )
    return out


def _section_training(data, samples) -> Section | None:
    lc, par = data.get("learning_curve"), data.get("parity")
    if not lc and not par:
        return None
    figs, tables, paras = [], [], []
    if lc and "epoch" in lc:
        curves = {k: v for k, v in lc.items() if "mae" in k.lower() or "rmse" in k.lower()}
        energy = {k: v for k, v in curves.items() if "energy" in k.lower()}
        force = {k: v for k, v in curves.items() if "force" in k.lower()}
        final = data.get("learning_curve_final") or {}
        for name, part, unit in (("learning_curve_energy", energy, "meV/atom"),
                                 ("learning_curve_forces", force, "meV/Å")):
            if part:
                markers = _final_markers(final, part)
                figs.append(Figure(name, F.learning_curve_png(lc["epoch"], part, f"MAE ({unit})",
                                                              final=markers),
                                   f"Learning curve: {', '.join(part)}. {_CURVE_NOTE}"
                                   + (" Markers: the saved (EMA) student at the end, evaluated "
                                      "alike on the training and validation frames; their gap "
                                      "is the real one." if markers else "")))
    if par:
        tables.append(_nested_table({k: v for k, v in par.items() if isinstance(v, dict)},
                                    "quantity", "student vs teacher on held-out frames"))
        paras.append(f"Held-out frames: {par.get('n_frames', 'n/a')} (never used in training).")
    if data.get("parity_finetuned"):
        tables.append(_kv_table(data["parity_finetuned"],
                                "fine-tuned student vs the original teacher, same held-out frames"))
    for key, unit in (("energy", "eV/atom"), ("forces", "eV/Å"), ("stress", "eV/Å³")):
        pts = (samples or {}).get(f"parity_{key}")
        if pts is not None:
            mae = (par or {}).get(key, {}).get("mae")
            mae_unit = (par or {}).get(key, {}).get("unit")
            figs.append(Figure(f"parity_{key}", F.parity_png(pts[0], pts[1], quantity=key,
                                                             unit=unit, mae=mae, mae_unit=mae_unit),
                               f"Parity of {key}: student vs teacher, held-out frames"))
    return Section("Training and accuracy", paras, tables, figs)


def _section_charges(data, samples) -> Section | None:
    ch, bec = data.get("charges"), data.get("bec")
    if not ch and not bec:
        return None
    tables, figs, paras = [], [], []
    paras.append("Latent charges are learned from teacher energies and forces alone (never fitted "
                 "to partial charges); their global sign is arbitrary: flipping all of them leaves "
                 "energies, forces and the IR spectrum unchanged, and flips every BEC.")
    if ch:
        eps_inf = (data.get("student") or {}).get("eps_inf")
        tables.append(_charges_table(ch, eps_inf))
        if (samples or {}).get("charges"):
            figs.append(Figure("charges", F.charges_png(samples["charges"]),
                               "Distribution of sqrt(eps_inf) × latent charge per element "
                               "(held-out teacher frames)"
                               + (f"; eps_inf = {eps_inf:g}" if eps_inf is not None else "")))
    if bec:
        if bec.get("elements"):
            tables.append(_nested_table(bec["elements"], "element",
                                        "Born effective charges per element (e)"))
        if bec.get("acoustic_sum_rule"):
            tables.append(_kv_table(bec["acoustic_sum_rule"], "acoustic sum rule sum_i Z_i"))
        if (samples or {}).get("bec_diagonals"):
            figs.append(Figure("bec", F.bec_png(samples["bec_diagonals"]),
                               "Distribution of BEC diagonal components per element"))
        if bec.get("n_frames"):
            paras.append(f"BEC from {bec['n_frames']} student MD frames.")
    return Section("Latent charges and Born effective charges", paras, tables, figs)


def _charges_table(ch: Mapping[str, Mapping[str, Any]], eps_inf: float | None) -> Table:
    """Per-element charge statistics: the scaled charge sqrt(eps_inf) q (what the calculator's
    ``charges`` and the BECs use) and, when eps_inf is known, the latent q of the LES energy."""
    stats = ("mean", "std", "min", "max")
    if eps_inf is None:
        rows = [[el] + [v.get(k) for k in stats] + [v.get("n")] for el, v in ch.items()]
        return Table(["element"] + [f"sqrt(eps_inf) q {k} (e)" for k in stats] + ["n"], rows,
                     "charges per element: sqrt(eps_inf) × latent charge q (eps_inf not recorded)")
    scale = math.sqrt(float(eps_inf))
    rows = [[el, v.get("mean") / scale, v.get("std") / scale]
            + [v.get(k) for k in stats] + [v.get("n")] for el, v in ch.items()]
    return Table(["element", "latent q mean (e)", "latent q std (e)"]
                 + [f"sqrt(eps_inf) q {k} (e)" for k in stats] + ["n"], rows,
                 f"charges per element: latent q (in the LES energy) and sqrt(eps_inf) q (the "
                 f"calculator's charges, the scale of BECs), eps_inf = {float(eps_inf):g}")


def _section_rdf(data) -> Section | None:
    rdf = data.get("rdf")
    if not rdf:
        return None
    curves = rdf["pairs"]
    fig = Figure("rdf", F.rdf_png(rdf["r_A"], curves),
                 "Radial distribution functions, teacher MD vs student MD")
    paras = []
    if rdf.get("teacher_span_fs") is not None:
        paras.append(f"Same simulated time and number of frames: teacher MD "
                     f"{rdf['teacher_span_fs']:.0f} fs ({rdf.get('teacher_frames', '?')} frames), "
                     f"student {rdf['student_span_fs']:.0f} fs "
                     f"({rdf.get('student_frames', '?')} frames). 'same protocol': the student "
                     "run from the same start structure with the teacher's sampling thermostat, "
                     "equilibration and length; 'production MD': the start of the student's "
                     "spectrum run.")
    tables = [_nested_table(rdf["compare"], "pair, student run", "student vs teacher RDF")] \
        if rdf.get("compare") else []
    return Section("Structure: radial distribution functions", paras, tables, [fig])


def _section_teacher_md(data) -> Section | None:
    tmd = data.get("teacher_md")
    if not tmd:
        return None
    paras = [
        "Mean kinetic temperature of the recorded teacher MD "
        f"frames: {tmd['mean_temperature_K']:.0f} K. "
        "Frames are recorded only after the teacher MD passed the equilibration check (mean "
        "temperature near the target, no potential-energy drift); 'equilibration_checked' says "
        "whether every frame of a segment was recorded that way."
    ]
    return Section(
        "Teacher MD",
        paras,
        [_nested_table(tmd["segments"], "segment", "teacher MD per segment (K)")],
    )


def _section_ir(data) -> Section | None:
    ir = data.get("ir")
    if not ir:
        return None
    ref = ir.get("reference")
    fig = Figure("ir", F.ir_png(ir["wavenumber_cm"], ir["n_alpha_per_cm"], error=ir.get("error"),
                                reference=(ref["wavenumber_cm"], ref["n_alpha_per_cm"])
                                if ref else None,
                                reference_label=(ref or {}).get("label", "experiment"),
                                max_wavenumber_cm=ir.get("max_wavenumber_cm", 4500.0)),
                 "IR absorption n(ω)α(ω) of the student MD" + (" vs experiment" if ref else ""))
    tables, paras = [], []
    if ir.get("peaks"):
        cite = ir.get("reference_citation", "")
        tables.append(_rows_table(ir["peaks"], "IR bands: student vs reference (cm^-1)"
                                  + (f"; reference: {cite}" if cite else "")))
    if ir.get("sum_rule"):
        tables.append(_kv_table(ir["sum_rule"], "IR sum rule: integral of n*alpha over "
                                "wavenumber vs sum_i <|Z_i|^2/m_i> / (12 eps0 c^2 V), cm^-2"))
    if ir.get("integrated_intensity"):
        tables.append(_kv_table(ir["integrated_intensity"],
                                "integrated n*alpha up to the plot limit, cm^-2"))
    settings = {k: ir[k] for k in ("temperature_K", "volume_A3", "correction", "window",
                                   "window_ps", "n_blocks", "frame_dt_fs") if k in ir}
    if data.get("md"):
        settings.update({f"md_{k}": v for k, v in data["md"].items()})
    if settings:
        tables.append(_kv_table(settings, "spectrum and student MD settings"))
    if ir.get("notes"):
        paras.extend(ir["notes"])
    return Section("Infrared spectrum", paras, tables, [fig])


def _section_dielectric(data) -> Section | None:
    diel = (data.get("ir") or {}).get("dielectric")
    if not diel or "static" not in diel:
        return None
    static, omega = diel["static"], diel["omega"]
    head = {k: static[k] for k in ("eps0", "error", "eps_inf", "variance_e2A2", "run_ps",
                                   "n_blocks", "temperature_K", "volume_A3")}
    head["eps_real(omega->0), windowed"] = omega.get("static_limit")
    tables = [_kv_table(head, "static dielectric constant eps_0 = eps_inf + (<M^2> - <M>^2) / "
                              "(3 V eps0 kB T), M the time integral of dM/dt (tin-foil)"),
              _rows_table(static["convergence"], "eps_0 with run length (first part of the run)")]
    fig = Figure("dielectric", F.dielectric_png(omega["wavenumber_cm"], omega["real"],
                                                omega["imag"]),
                 "Dielectric function eps(ω) from the dipole-current autocorrelation")
    paras = ["eps'' is the IR absorption n*alpha divided by 2 pi nu; eps' follows from the same "
             "windowed correlation, and its zero-frequency limit equals eps_0 only when the "
             "window outlasts the dielectric relaxation (about 8 ps for water)."]
    return Section("Dielectric response", paras, tables, [fig])


def _section_speed(data) -> Section | None:
    if not data.get("speed"):
        return None
    return Section("Speed", ["Energy + forces per MD step, measured side by side in this run."],
                   [_rows_table(data["speed"], "ms per step")])


def _section_finetune(data) -> Section | None:
    ft = data.get("finetune")
    if not ft:
        return None
    before, after = ft.get("before", {}), ft.get("after", {})
    names = [k for k in before if isinstance(before[k], int | float)]
    rows = [[k, before.get(k), after.get(k)] for k in names]
    tables = [Table(["metric (held-out fine-tuning frames)", "before", "after"], rows)]
    info = {k: v for k, v in ft.items() if k not in ("before", "after", "fractions")}
    if info:
        tables.insert(0, _kv_table(info, "fine-tuning set"))
    figs = (
        [
            Figure(
                "finetune",
                F.finetune_png(
                    {
                        "before": {k: before[k] for k in names},
                        "after": {k: after.get(k, math.nan) for k in names},
                    }
                ),
                "Student errors on the higher-level set before and after fine-tuning",
            )
        ]
        if names
        else []
    )
    if ft.get("fractions"):
        table, fig = _finetune_fractions(ft["fractions"])
        tables.append(table)
        figs.append(fig)
    return Section("Fine-tuning on the higher-level set", (), tables, figs)


def _finetune_fractions(sweep: Mapping[str, Any]) -> tuple[Table, Figure]:
    """The fraction sweep: test force RMSE per fraction of the higher-level training frames."""
    c = sweep["curve"]
    kinds = [k for k in ("finetune", "scratch") if k in c]
    header = ["fraction", "training frames"] + [f"{k} force RMSE (meV/Å)" for k in kinds] \
        + [f"{k} energy MAE (meV/atom)" for k in kinds]
    base = c["baseline"]
    rows = [["0 (not fine-tuned)", 0]
            + [base["forces_rmse_meV_per_A"]] * len(kinds)
            + [base["energy_mae_meV_per_atom"]] * len(kinds)] if base else []
    for i, (f, n) in enumerate(zip(c["fraction"], c["n_train"], strict=True)):
        rows.append([f, n] + [c[k]["forces_rmse_meV_per_A"][i] for k in kinds]
                    + [c[k]["energy_mae_meV_per_atom"][i] for k in kinds])
    table = Table(header, rows, f"fraction sweep: every student scored on the same "
                  f"{sweep['n_test']} held-out higher-level frames (files: {sweep.get('folder')})")
    fig = Figure("finetune_fractions", fractions_png(sweep),
                 "Test force RMSE against the fraction of higher-level training frames used "
                 "(log x; frames in brackets)")
    return table, fig


def build_sections(data: Mapping[str, Any], samples: Mapping[str, Any] | None = None
                   ) -> list[Section]:
    """All report sections present in ``data`` (in reading order)."""
    parts = [
        _section_warnings(data),
        _section_caveats(data),
        _section_overview(data),
        _section_training(data, samples),
        section_refine(data), _section_finetune(data),
        _section_charges(data, samples),
        section_bec_benchmark(data, samples),
        _section_teacher_md(data),
        _section_rdf(data),
        section_vdos(data, samples),
        _section_ir(data),
        section_ir_groups(data),
        section_water_profile(data),
        section_ir_paper(data),
        _section_dielectric(data),
        _section_speed(data),
    ]
    return [p for p in parts if p is not None]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN/inf
    return obj


def build_report(data: Mapping[str, Any], out_dir: str | Path, *,
                 samples: Mapping[str, Any] | None = None) -> Path:
    """Write ``report.html``, ``report.json`` and ``figures/*.png`` into ``out_dir``.

    Returns the path of ``report.html``. Every file is written atomically.
    """
    out = Path(out_dir)
    sections = build_sections(data, samples)
    for sec in sections:
        for fig in sec.figures:
            with atomic_open(out / "figures" / f"{fig.name}.png", "wb") as handle:
                handle.write(fig.png)
    write_text_atomic(out / "report.json",
                      json.dumps(_jsonable(dict(data)), indent=1, allow_nan=False) + "\n")
    page = render_html(str(data.get("title", "lesdistill report")), sections,
                       subtitle=str(data.get("subtitle", "")))
    write_text_atomic(out / "report.html", page)
    return out / "report.html"
