"""One call for the pipeline and the CLI: IR spectrum -> CSV, PNG, peak table, JSON-able summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def ir_summary(spectrum: Any, system: str = "water") -> dict[str, Any]:
    """JSON-serializable summary: settings, sum rule (cm^-2) and band table (cm^-1)."""
    from lesdistill.spectra.peaks import compare_with_reference, normalize_system

    key = normalize_system(system)

    def num(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else float(value)

    rule = spectrum.sum_rule
    return {
        "system": key, "temperature_K": spectrum.temperature_K, "volume_A3": spectrum.volume_A3,
        "correction": spectrum.correction, "window": spectrum.window,
        "window_ps": spectrum.window_ps, "n_blocks": spectrum.n_blocks,
        "frame_dt_fs": spectrum.frame_dt_fs, "eps_inf": spectrum.eps_inf,
        "groups": sorted(spectrum.groups), "group_mode": spectrum.group_mode,
        "sum_rule": None if rule is None else {
            "integral_cm-2": num(rule.integral_cm2), "expected_cm-2": num(rule.expected_cm2),
            "relative_mismatch": num(rule.relative_mismatch)},
        "bands": [{"band": p.band, "position_cm-1": num(p.position_cm) if p.resolved else None,
                   "height_cm-1": num(p.height), "fwhm_cm-1": num(p.fwhm_cm),
                   "reference_cm-1": num(p.reference_cm), "shift_cm-1": num(p.shift_cm),
                   "resolved": p.resolved}
                  for p in compare_with_reference(spectrum, key)],
    }


def write_ir_outputs(spectrum: Any, out_prefix: str | Path, *, system: str = "water",
                     title: str | None = None) -> dict[str, Path]:
    """Write PREFIX.csv (spectrum), PREFIX_peaks.csv (band table) and PREFIX.png (plot, with the
    experimental water curve for water), each atomically. Returns the paths by kind."""
    from lesdistill.spectra.peaks import compare_with_reference, normalize_system, write_peak_csv
    from lesdistill.spectra.plot import plot_ir

    key = normalize_system(system)
    table = compare_with_reference(spectrum, key)
    stem = str(out_prefix)
    paths = {"csv": Path(stem + ".csv"), "peaks": Path(stem + "_peaks.csv"),
             "png": Path(stem + ".png")}
    spectrum.write_csv(paths["csv"])
    write_peak_csv(table, paths["peaks"])
    plot_ir(spectrum, paths["png"], reference="water" if key == "water" else None, title=title)
    return paths
