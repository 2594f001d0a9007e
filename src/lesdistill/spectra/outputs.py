"""One call for the pipeline and the CLI: IR spectrum -> CSV, PNG, peak tables, JSON-able summary.

``style="absolute"`` (default) writes n*alpha in cm^-1; ``style="paper"`` writes the view of the
LES-distillation paper (:mod:`lesdistill.spectra.paper`: classical intensities, NQE red shift,
peak-normalised), labelled as such in every file. Group spectra get their own band table,
compared with the matching reference (:func:`lesdistill.spectra.peaks.reference_for_group`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lesdistill.errors import UserInputError


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _bands(table: list[Any], height_key: str) -> list[dict[str, Any]]:
    return [{"band": p.band, "position_cm-1": _num(p.position_cm) if p.resolved else None,
             height_key: _num(p.height), "fwhm_cm-1": _num(p.fwhm_cm),
             "reference_cm-1": _num(p.reference_cm), "shift_cm-1": _num(p.shift_cm),
             "resolved": p.resolved} for p in table]


def view(spectrum: Any, system: str, style: str) -> Any:
    """The spectrum in the requested style (``absolute``: unchanged; ``paper``: PaperSpectrum)."""
    from lesdistill.spectra.paper import STYLES, paper_view

    if style not in STYLES:
        raise UserInputError(f"unknown IR style {style!r}; choose one of {STYLES}")
    return paper_view(spectrum, system) if style == "paper" else spectrum


def group_tables(shown: Any, system: str) -> dict[str, tuple[str, list[Any]]]:
    """Per group: (matching band table, peak table) of its spectrum."""
    from lesdistill.spectra.peaks import compare_with_reference, reference_for_group

    out = {}
    for name in shown.groups:
        table = reference_for_group(system, name)
        out[name] = (table, compare_with_reference(shown, table, group=name))
    return out


def _values(values: Any) -> list[float | None]:
    return [_num(float(v)) for v in values]


def group_arrays(spectrum: Any, system: str, *, style: str = "absolute") -> dict[str, Any]:
    """JSON-ready group decomposition of ``spectrum`` in ``style``: the group spectra (and in
    "self" mode the cross terms between groups; n*alpha in cm^-1, or a.u. in paper style), the
    sum check (:meth:`~lesdistill.spectra.ir.IRSpectrum.group_sum_check`) and per group its
    band table against the matching reference
    (:func:`~lesdistill.spectra.peaks.reference_for_group`, with the reference's citation)."""
    from lesdistill.spectra.peaks import REFERENCE_CITATION, normalize_system

    key = normalize_system(system)
    shown = view(spectrum, key, style)
    height = "height_au" if style == "paper" else "height_cm-1"
    out: dict[str, Any] = {
        "mode": spectrum.group_mode, "style": style,
        "spectra": {name: _values(v[0] if isinstance(v, tuple) else v)
                    for name, v in shown.groups.items()},
        "sum_check": spectrum.group_sum_check(),
        "bands": {name: {"reference": table,
                         "reference_citation": REFERENCE_CITATION.get(table, "literature values"),
                         "bands": _bands(rows, height)}
                  for name, (table, rows) in group_tables(shown, key).items()}}
    if style == "absolute" and spectrum.cross_terms is not None:
        out["cross_terms"] = _values(spectrum.cross_terms[0])
    return out


def paper_arrays(spectrum: Any, system: str) -> dict[str, Any]:
    """JSON-ready paper-style view (:mod:`lesdistill.spectra.paper`) of ``spectrum``: its label,
    wavenumbers (cm^-1), normalised intensity (a.u.), the band table of the total against
    ``system`` and, with groups, :func:`group_arrays` in paper style."""
    from lesdistill.spectra.peaks import compare_with_reference, normalize_system

    key = normalize_system(system)
    shown = view(spectrum, key, "paper")
    out: dict[str, Any] = {
        "label": shown.label(), "system": key, "wavenumber_cm": _values(shown.wavenumber_cm),
        "intensity_au": _values(shown.intensity), "scale_cm-1": shown.scale_per_cm,
        "baseline_cm-1": shown.baseline_per_cm,
        "bands": _bands(compare_with_reference(shown, key), "height_au")}
    if spectrum.groups:
        out["groups"] = group_arrays(spectrum, key, style="paper")
        out["group_peak_au"] = dict(shown.group_peak)
    return out


def ir_summary(spectrum: Any, system: str = "water", *, style: str = "absolute"
               ) -> dict[str, Any]:
    """JSON-serializable summary: settings, sum rule (cm^-2), band tables (cm^-1) of the total
    and of every group (heights: ``height_cm-1``, or ``height_au`` in paper style)."""
    from lesdistill.spectra.peaks import compare_with_reference, normalize_system

    key = normalize_system(system)
    shown = view(spectrum, key, style)
    rule = spectrum.sum_rule
    height = "height_au" if style == "paper" else "height_cm-1"
    out = {
        "system": key, "style": style, "temperature_K": spectrum.temperature_K,
        "volume_A3": spectrum.volume_A3,
        "correction": spectrum.correction, "window": spectrum.window,
        "window_ps": spectrum.window_ps, "n_blocks": spectrum.n_blocks,
        "frame_dt_fs": spectrum.frame_dt_fs, "eps_inf": spectrum.eps_inf,
        "groups": sorted(spectrum.groups), "group_mode": spectrum.group_mode,
        "sum_rule": None if rule is None else {
            "integral_cm-2": _num(rule.integral_cm2), "expected_cm-2": _num(rule.expected_cm2),
            "relative_mismatch": _num(rule.relative_mismatch)},
        "bands": _bands(compare_with_reference(shown, key), height),
        "group_bands": {name: {"reference": table, "bands": _bands(rows, height)}
                        for name, (table, rows) in group_tables(shown, key).items()},
    }
    if style == "paper":
        out["paper"] = {"label": shown.label(), "scale_cm-1": shown.scale_per_cm,
                        "baseline_cm-1": shown.baseline_per_cm,
                        "group_peak_au": shown.group_peak}
    return out


def write_ir_outputs(spectrum: Any, out_prefix: str | Path, *, system: str = "water",
                     title: str | None = None, style: str = "absolute") -> dict[str, Path]:
    """Write PREFIX.csv (spectrum), PREFIX_peaks.csv (band table), PREFIX_peaks_<group>.csv per
    group (matching reference) and PREFIX.png (plot, with the experimental water curve for
    water), each atomically. Returns the paths by kind."""
    from lesdistill.spectra.peaks import compare_with_reference, normalize_system, write_peak_csv
    from lesdistill.spectra.plot import plot_ir

    key = normalize_system(system)
    shown = view(spectrum, key, style)
    stem = str(out_prefix)
    paths = {"csv": Path(stem + ".csv"), "peaks": Path(stem + "_peaks.csv"),
             "png": Path(stem + ".png")}
    unit = "au" if style == "paper" else "cm-1"
    shown.write_csv(paths["csv"])
    write_peak_csv(compare_with_reference(shown, key), paths["peaks"], height_unit=unit)
    for name, (_, rows) in group_tables(shown, key).items():
        paths[f"peaks_{name}"] = write_peak_csv(rows, Path(f"{stem}_peaks_{name}.csv"),
                                                height_unit=unit)
    plot_ir(shown, paths["png"], reference="water" if key == "water" else None, title=title,
            bands=key)
    return paths
