"""IR spectra from the dipole current, Born effective charges, peak tables, reference data.

    ir_spectrum(trajectories, settings=IRSettings(), *, temperature_K, volume_A3, eps_inf,
                groups, **field_overrides) -> IRSpectrum
    compare_with_reference(spectrum, system="water") -> list[Peak]
    plot_ir(spectrum, path, reference="water") -> Path ; IRSpectrum.write_csv(path) -> Path
    write_ir_outputs(spectrum, out_prefix, system="water") -> {"csv", "peaks", "png": Path}
    ir_summary(spectrum, system="water") -> dict (JSON: settings, sum rule, band table)
    bec_summary(numbers, bec) -> BECSummary ; subtract_mean_bec(bec) (acoustic sum rule)
    paper_view(spectrum, system) -> PaperSpectrum (the view of arXiv 2606.15001)
    static_dielectric(trajectories) -> StaticDielectric ; dielectric_function(...) -> eps(omega)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "IRSpectrum": "ir",
    "SumRule": "ir",
    "ir_spectrum": "ir",
    "spectrum_from_current": "ir",
    "ir_prefactor": "ir",
    "sum_rule_prefactor": "ir",
    "correction_factor": "ir",
    "CORRECTIONS": "settings",
    "IRSettings": "settings",
    "Peak": "peaks",
    "compare_with_reference": "peaks",
    "find_peaks": "peaks",
    "format_peak_table": "peaks",
    "load_reference": "peaks",
    "reference_bands": "peaks",
    "write_peak_csv": "peaks",
    "plot_ir": "plot",
    "BECSummary": "bec",
    "bec_summary": "bec",
    "compute_bec": "bec",
    "bec_of_trajectory": "bec",
    "subtract_mean_bec": "bec",
    "write_bec_extxyz": "bec",
    "read_bec_extxyz": "bec",
    "bec_of_frames": "bec",
    "ir_summary": "outputs",
    "write_ir_outputs": "outputs",
    "paper_view": "paper",
    "PaperSpectrum": "paper",
    "nqe_shift_cm": "paper",
    "static_dielectric": "dielectric",
    "dielectric_function": "dielectric",
    "StaticDielectric": "dielectric",
    "DielectricFunction": "dielectric",
}
if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.spectra.bec import (
        BECSummary,
        bec_of_frames,
        bec_of_trajectory,
        bec_summary,
        compute_bec,
        read_bec_extxyz,
        subtract_mean_bec,
        write_bec_extxyz,
    )
    from lesdistill.spectra.dielectric import (
        DielectricFunction,
        StaticDielectric,
        dielectric_function,
        static_dielectric,
    )
    from lesdistill.spectra.ir import (
        IRSpectrum,
        SumRule,
        correction_factor,
        ir_prefactor,
        ir_spectrum,
        spectrum_from_current,
        sum_rule_prefactor,
    )
    from lesdistill.spectra.outputs import ir_summary, write_ir_outputs
    from lesdistill.spectra.paper import PaperSpectrum, nqe_shift_cm, paper_view
    from lesdistill.spectra.peaks import (
        Peak,
        compare_with_reference,
        find_peaks,
        format_peak_table,
        load_reference,
        reference_bands,
        write_peak_csv,
    )
    from lesdistill.spectra.plot import plot_ir
    from lesdistill.spectra.settings import CORRECTIONS, IRSettings

__all__ = [
    "BECSummary",
    "CORRECTIONS",
    "DielectricFunction",
    "IRSettings",
    "IRSpectrum",
    "PaperSpectrum",
    "Peak",
    "StaticDielectric",
    "SumRule",
    "bec_of_frames",
    "bec_of_trajectory",
    "bec_summary",
    "compare_with_reference",
    "compute_bec",
    "correction_factor",
    "dielectric_function",
    "find_peaks",
    "format_peak_table",
    "ir_prefactor",
    "ir_spectrum",
    "ir_summary",
    "load_reference",
    "nqe_shift_cm",
    "paper_view",
    "plot_ir",
    "read_bec_extxyz",
    "reference_bands",
    "spectrum_from_current",
    "static_dielectric",
    "subtract_mean_bec",
    "sum_rule_prefactor",
    "write_bec_extxyz",
    "write_ir_outputs",
    "write_peak_csv",
]


def __getattr__(name: str) -> Any:
    # lazy: matplotlib/scipy load only when used
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f"lesdistill.spectra.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lesdistill.spectra' has no attribute {name!r}")
