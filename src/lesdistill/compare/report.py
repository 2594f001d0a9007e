"""The comparison report: ``report.html`` (self-contained, PNGs inline), the PNGs, ``summary.json``.

Built from the JSON summary of :func:`lesdistill.compare.summary.build_summary` alone, so a report
can be re-rendered from ``summary.json`` without re-running anything. Page assembly (sections,
tables, base64 figures) is the pipeline report's :mod:`lesdistill.report.html`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.compare import plots
from lesdistill.fileio import atomic_open, write_text_atomic
from lesdistill.report.benchmark_sections import section_bec_benchmark
from lesdistill.report.html import Figure, Section, Table, render_html

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"


def _ok(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [t for t in summary["teachers"] if t["status"] == "ok"]


def _levels(summary: Mapping[str, Any]) -> dict[str, str]:
    return {t["name"]: t["level_of_theory"] for t in summary["teachers"]}


def _ordered(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The students that ran, grouped by level of theory."""
    by_name = {t["name"]: t for t in _ok(summary)}
    return [by_name[n] for names in summary["levels_of_theory"].values() for n in names
            if n in by_name]


def _main_tables(summary: Mapping[str, Any]) -> list:
    """Two narrow tables (one per question) instead of one that overflows a 1400 px page:
    who the teachers are and how close and fast each student is; and what each student says
    about charges, BECs and MD."""
    elements = summary["elements"]
    students = _ordered(summary)
    accuracy = Table(
        [
            "teacher",
            "level of theory",
            "architecture",
            "training data",
            "E MAE (meV/atom)",
            "F MAE (meV/Å)",
            "teacher ms/step",
            "student ms/step",
            "speed-up",
        ],
        [
            [
                t["name"],
                t["level_of_theory"],
                t["info"].get("architecture", ""),
                t["info"].get("training_data", ""),
                t["energy_mae_meV_per_atom"],
                t["forces_mae_meV_per_A"],
                t["teacher_ms_per_step"],
                t["student_ms_per_step"],
                t["speedup"],
            ]
            for t in students
        ],
        "Student errors are against its own teacher on the held-out shared frames; ms/step = "
        "one energy+forces call on the same structure, measured in this run.",
    )
    response = Table(
        ["teacher"] + [f"<q> {e} (e)" for e in elements] + [f"Tr Z*/3 {e} (e)" for e in elements]
        + ["max |Σ Z*| (e)", "MD <T> (K)", "MD stable"],
        [[t["name"]] + [t["mean_charge_e"].get(e) for e in elements]
         + [t["bec_trace_e"].get(e) for e in elements]
         + [t["asr_residual_e"], t.get("md_temperature_K"), t.get("md_stable")] for t in students],
        "<q>: mean charge sqrt(eps_inf) q per element on the held-out frames (after fixing the "
        "global sign); Tr Z*/3: mean BEC trace / 3; max |Σ Z*|: acoustic-sum-rule residual; "
        "MD: each student's spectrum run.")
    return [accuracy, response]


def _unstable_note(unstable: list[dict[str, Any]], what: str) -> str:
    issues = "; ".join(f"{t['name']} ({', '.join(t.get('md_issues') or ['unstable'])})"
                       for t in unstable)
    return f"Not shown, student MD unstable: {issues}." if issues else ""


def _missing_note(ok: list[dict[str, Any]], unstable: list[dict[str, Any]], what: str) -> str:
    """Why a section has no curve at all (it is still shown, so nothing disappears silently)."""
    if not ok:
        return f"No {what}: no student finished."
    if len(unstable) == len(ok):
        return (f"No {what}: the MD of every student was unstable, so none gives a trustworthy "
                f"{what}. Train the students longer or on more (and hotter) frames, or shorten "
                "the MD time step.")
    return f"No {what}: no student that ran stably produced one."


def _sections(summary: Mapping[str, Any], experiment_curve: tuple | None):
    levels = _levels(summary)
    ok = _ok(summary)
    frames = summary["shared_frames"]
    intro = [f"System: {json.dumps(summary['system'], default=str)}.",
             "All students were trained on the same shared frames, each relabelled by its own "
             f"teacher ({', '.join(f'{k}: {v}' for k, v in frames.items())}).",
             f"{len(ok)} of {len(summary['teachers'])} teachers ran."]
    sections = [Section("Teachers and students", intro, _main_tables(summary))]
    if summary["skipped"]:
        rows = [[s["name"], s["spec"], s["status"], s["reason"]] for s in summary["skipped"]]
        sections.append(Section("Skipped teachers", (),
                                [Table(["teacher", "spec", "status", "reason"], rows)]))
    figures, tables, paras = [], [], []
    agree = summary.get("bec_agreement")
    if agree and len(agree["names"]) >= 2:
        m = np.array(agree["r2"], dtype=float)
        figures.append(Figure("bec_agreement", plots.bec_agreement_png(agree["names"], m),
                              agree["definition"]))
        paras.append("R² = 1 - Σ(Z_i - Z_j)² / Σ(Z_j - <Z_j>)² over all tensor components of all "
                     "atoms of the shared BEC frames; <Z_j> is the mean tensor.")
    flipped = [t["name"] for t in ok if t.get("latent_sign", 1.0) < 0]
    rules = sorted({t.get("sign_rule", "") for t in ok if t.get("sign_rule")})
    if rules:
        paras.append("Latent charges are learnt from energies and forces, which do not change "
                     "when every charge changes sign, so each student's overall sign is "
                     f"arbitrary. Sign fixed by: {'; '.join(rules)}. Flipped: "
                     f"{', '.join(flipped) if flipped else 'none'}. IR spectra do not depend "
                     "on it.")
    ref = summary.get("bec_reference")
    if ref:
        rows = [[t["name"], t["level_of_theory"]]
                + [(t["bec_vs_reference"] or {}).get(k)
                   for k in ("mae_e", "rmse_e", "r2", "trace_mae_e")]
                for t in ok]
        tables.append(Table(["student", "level of theory", "MAE (e)", "RMSE (e)", "R²",
                             "Tr/3 MAE (e)"], rows, f"BEC error against the reference: "
                            f"{ref.get('source', '')} ({ref.get('n_frames', '?')} frames)"))
    if summary.get("bec_reference_missing"):
        paras.append(f"No reference BEC: {summary['bec_reference_missing']}.")
    if figures or tables or paras:
        sections.append(Section("Born effective charges", paras, tables, figures))
    if summary.get("bec_benchmark"):
        sections.append(section_bec_benchmark(summary))
    unstable = [t for t in ok if t.get("md_stable") is False]
    shown = [t for t in ok if t.get("md_stable") is not False]
    curves = {t["name"]: (t["ir_curve"]["wavenumber_cm"], t["ir_curve"]["n_alpha_per_cm"])
              for t in shown if t.get("ir_curve")}
    note = _unstable_note(unstable, "IR")
    if curves:
        png = plots.ir_overlay_png(curves, levels, experiment=experiment_curve,
                                   experiment_label=summary.get("experiment_label", "experiment"))
        exp = summary["experiment_peaks_cm"]
        bands = list(exp) or sorted({b for t in ok for b in t["ir_peaks_cm"]})
        rows = [[t["name"], t["level_of_theory"]]
                + [v for b in bands for v in (t["ir_peaks_cm"].get(b), t["band_shift_cm"].get(b))]
                for t in shown if t.get("ir_curve")]
        header = ["student", "level of theory"] + [h for b in bands for h in
                                                    (f"{b} (cm^-1)", f"{b} shift (cm^-1)")]
        if exp:
            rows.append(["experiment", ""] + [v for b in bands for v in (exp[b], 0.0)])
        tables = [Table(header, rows)] if bands else []
        sections.append(Section("IR spectra", ["Each spectrum is scaled to unit maximum."
                                               + (" The band table gives peak positions and "
                                                  "shifts from experiment." if bands else "")]
                                + ([note] if note else []),
                                tables, [Figure("ir_overlay", png, "IR spectra of all students")]))
    else:
        sections.append(Section("IR spectra", [_missing_note(ok, unstable, "IR spectrum")]
                                + ([note] if note else [])))
    rdfs: dict[str, dict[str, tuple]] = {}
    for t in shown:
        for pair, d in (t.get("rdf") or {}).items():
            rdfs.setdefault(pair, {})[t["name"]] = (d["r_A"], d["g"])
    if rdfs:
        ref = {p: (d["r_A"], d["g"]) for p, d in (summary.get("frames_rdf") or {}).items()}
        label = summary.get("frames_rdf_label", "shared frames")
        png = plots.rdf_overlay_png(rdfs, levels, reference=ref, reference_label=label)
        sections.append(Section("Radial distribution functions", [note] if note else (), (),
                                [Figure("rdf_overlay", png, "RDFs from each student's MD; black: "
                                        + label)]))
    else:
        sections.append(Section("Radial distribution functions",
                                [_missing_note(ok, unstable, "radial distribution function")]
                                + ([note] if note else [])))
    sections.append(_level_section(summary, levels))
    runs = [[t["name"], f"../{t['name']}/report/report.html"] for t in ok]
    if runs:
        sections.append(Section("Per-teacher reports", ["Each teacher's folder is a complete "
                                "`lesdistill run` output with its own report (parity plots, "
                                "learning curve, charges, BEC, IR, RDF vs the shared frames)."],
                                [Table(["teacher", "report (relative to this page)"], runs)]))
    timing = _timing_table(summary)
    if timing is not None:
        sections.append(Section("Run time", (), [timing]))
    return sections


def _timing_table(summary: Mapping[str, Any]):
    """Seconds per stage and teacher (from the stage state files: cached stages show the time
    they took when they ran)."""
    ok = [t for t in _ok(summary) if t.get("stage_seconds")]
    if not ok:
        return None
    stages = list(dict.fromkeys(s for t in ok for s in t["stage_seconds"]))
    rows = [[t["name"]] + [t["stage_seconds"].get(s) for s in stages]
            + [sum(t["stage_seconds"].values())] for t in ok]
    seconds = summary.get("seconds") or {}
    shared = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "this_invocation")
    caption = (f"Seconds each stage took when it ran, over all its attempts (a killed and resumed "
               f"stage counts every attempt; cached stages keep their time). Shared "
               f"stages: {shared or 'none'}; this invocation: "
               f"{seconds.get('this_invocation', float('nan')):.0f} s.")
    return Table(["teacher"] + [f"{s} (s)" for s in stages] + ["total (s)"], rows, caption)


def _level_section(summary: Mapping[str, Any], levels: Mapping[str, str]):
    ok = _ok(summary)
    rows = [[level, ", ".join(names)] for level, names in summary["levels_of_theory"].items()]
    spread = summary.get("level_spread") or {}
    srows = [[q, s["std_total"], s["std_within_level_mean"], s["std_between_levels"]]
             for q, s in spread.items()]
    tables = [Table(["level of theory", "teachers"], rows)]
    if srows:
        tables.append(Table(["quantity", "std over all", "mean std within a level",
                             "std between levels"], srows,
                            "If the within-level spread is much smaller than the between-level "
                            "spread, the level of theory (not the architecture) explains it."))
    values: dict[str, dict[str, float]] = {}
    for e in summary["elements"]:
        values[f"Tr Z*/3 {e} (e)"] = {t["name"]: t["bec_trace_e"][e] for t in ok
                                      if t["bec_trace_e"].get(e) is not None}
    for band in summary["experiment_peaks_cm"]:
        values[f"{band} shift (cm^-1)"] = {t["name"]: t["band_shift_cm"][band] for t in ok
                                           if t["band_shift_cm"].get(band) is not None
                                           and t.get("md_stable") is not False}
    values = {k: v for k, v in values.items() if v}
    figures = [Figure("by_level", plots.by_level_png(values, levels),
                      "Per-teacher numbers grouped by level of theory")] if values else []
    return Section("Level of theory vs architecture", (), tables, figures)


def write_report(summary: Mapping[str, Any], out_dir: str | Path, *,
                 experiment_curve: tuple | None = None) -> Path:
    """Write ``summary.json``, one PNG per figure and ``report.html`` into ``out_dir``; returns
    the HTML path. ``experiment_curve`` = (wavenumber_cm, n_alpha_per_cm) overlays experiment
    (default: the summary's ``experiment_curve``, so a re-render keeps it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stored = summary.get("experiment_curve")
    if experiment_curve is None and stored:
        experiment_curve = (stored["wavenumber_cm"], stored["n_alpha_per_cm"])
    write_text_atomic(out / SUMMARY_FILE, json.dumps(summary, indent=1, allow_nan=False) + "\n")
    sections = _sections(summary, experiment_curve)
    for sec in sections:
        for fig in sec.figures:
            with atomic_open(out / f"{fig.name}.png", "wb") as handle:
                handle.write(fig.png)
    n_ok = len(_ok(summary))
    page = render_html(f"lesdistill compare: {summary['name']}", sections,
                       subtitle=f"{n_ok} students compared; numbers in {SUMMARY_FILE}")
    write_text_atomic(out / REPORT_FILE, page)
    return out / REPORT_FILE


def rerender(out_dir: str | Path, *, experiment_curve: tuple | None = None) -> Path:
    """Re-render ``report.html`` and the PNGs from an existing ``summary.json``."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `lesdistill compare CONFIG.yaml` first")
    return write_report(json.loads(path.read_text(encoding="utf-8")), out_dir,
                        experiment_curve=experiment_curve)
