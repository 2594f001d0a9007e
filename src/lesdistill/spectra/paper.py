r"""The IR view of the LES-distillation paper (arXiv 2606.15001), beside our absolute units.

lesdistill reports n(omega) alpha(omega) in cm^-1 with a quantum correction of the intensities,
so a spectrum can be compared with experiment without any free scale. The paper plots its spectra
differently; :func:`paper_view` turns an :class:`~lesdistill.spectra.ir.IRSpectrum` into that view
so a user can lay our spectra over the paper's figures. Three steps, in this order:

1. **Intensity**: the classical dipole-current spectrum FT<Mdot(0).Mdot(t)> with no quantum
   correction factor (our ``correction="harmonic"``, whose factor is exactly 1 on the current
   formula; the paper applies none). The source spectrum must have been computed that way.
2. **Frequency shift for nuclear quantum effects** (empirical, red shift): every wavenumber nu
   moves to nu - s(nu), with s = 5 cm^-1 up to 1000 cm^-1, 60 at 1640, 100 at 2800 and 175 from
   3450 cm^-1 on, linear in between (:data:`NQE_SHIFT_ANCHORS_CM`). The map nu -> nu - s(nu) is
   strictly increasing (slope >= 1 - 75/650), so the shifted spectrum is resampled onto the
   original uniform grid by linear interpolation.
3. **Peak normalisation** (dimensionless intensity, "a.u."): water, as in the paper's water
   figure, minus its minimum over the output range, divided by its global maximum; 2 M HCl(aq)
   and TiO2/water divided by the maximum inside 2800-3800 cm^-1 (no baseline), as in the paper's
   HCl and interface figures. Group spectra are divided by the *total's* factor, so the groups
   still add up to the total (their own maxima are reported in :attr:`PaperSpectrum.group_peak`).

The result is labelled ``style = paper`` in every output; absolute n*alpha stays our default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic
from lesdistill.spectra.peaks import normalize_system
from lesdistill.spectra.settings import STYLES

#: (wavenumber cm^-1, red shift cm^-1) anchors of the empirical NQE shift; constant outside
NQE_SHIFT_ANCHORS_CM: tuple[tuple[float, float], ...] = (
    (1000.0, 5.0), (1640.0, 60.0), (2800.0, 100.0), (3450.0, 175.0))
#: normalisation window (cm^-1) per system; None = global maximum after baseline subtraction
NORMALISATION_WINDOW_CM: dict[str, tuple[float, float] | None] = {
    "water": None, "hcl": (2800.0, 3800.0), "tio2-water": (2800.0, 3800.0)}
__all__ = ["NQE_SHIFT_ANCHORS_CM", "PaperSpectrum", "STYLES", "nqe_shift_cm", "paper_view",
           "shift_spectrum"]


def nqe_shift_cm(wavenumber_cm: np.ndarray | float) -> np.ndarray:
    """Empirical NQE red shift s(nu) in cm^-1 (piecewise linear, constant outside the anchors)."""
    xs, ys = zip(*NQE_SHIFT_ANCHORS_CM, strict=True)
    return np.interp(np.asarray(wavenumber_cm, dtype=float), xs, ys)


def shift_spectrum(wavenumber_cm: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values of the red-shifted spectrum (nu -> nu - s(nu)) on the same grid ``wavenumber_cm``.

    Grid points below the lowest shifted wavenumber get the first value; the integral over the
    grid changes only by the Jacobian of the map (at most 11.5%, between 2800 and 3450 cm^-1).
    """
    x = np.asarray(wavenumber_cm, dtype=float)
    moved = x - nqe_shift_cm(x)
    return np.interp(x, moved, np.asarray(values, dtype=float))


@dataclass(frozen=True)
class PaperSpectrum:
    """A spectrum in the paper's view: NQE-shifted wavenumbers, peak-normalised intensity."""

    wavenumber_cm: np.ndarray  # cm^-1 (uniform grid of the source spectrum)
    intensity: np.ndarray  # dimensionless (a.u.), total
    error: np.ndarray  # dimensionless, standard error over blocks (NaN with one block)
    system: str
    scale_per_cm: float  # n*alpha (cm^-1) that maps to intensity 1
    baseline_per_cm: float  # n*alpha (cm^-1) subtracted before scaling (water only)
    window_cm: tuple[float, float] | None
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # name -> intensity (a.u.)
    group_peak: dict[str, float] = field(default_factory=dict)  # own maximum, same window
    source: Any = None  # the IRSpectrum it came from

    @property
    def n_alpha_per_cm(self) -> np.ndarray:
        """Alias of :attr:`intensity`, so peak tables read both views (values are a.u. here)."""
        return self.intensity

    def label(self) -> str:
        where = ("global maximum" if self.window_cm is None
                 else f"maximum in {self.window_cm[0]:g}-{self.window_cm[1]:g} cm^-1")
        return ("paper style (arXiv 2606.15001): classical intensities, empirical NQE red shift, "
                f"normalised to the {where}")

    def write_csv(self, path: str | Path) -> Path:
        """CSV (atomic): '#' lines with the settings, then wavenumber_cm-1, intensity_au,
        error_au and intensity_<group>_au per group."""
        names = ["wavenumber_cm-1", "intensity_au", "error_au"]
        columns = [self.wavenumber_cm, self.intensity, self.error]
        for name, values in self.groups.items():
            names.append(f"intensity_{name}_au")
            columns.append(values)
        src = self.source
        lines = [f"# lesdistill IR, {self.label()}",
                 f"# system = {self.system}, intensity 1 = {self.scale_per_cm:.6g} cm^-1 of "
                 f"n*alpha after subtracting {self.baseline_per_cm:.6g} cm^-1; shift anchors "
                 f"(cm^-1: cm^-1) = {dict(NQE_SHIFT_ANCHORS_CM)}"]
        if src is not None:
            lines.append(f"# source: T = {src.temperature_K:g} K, V = {src.volume_A3:.6g} A^3, "
                         f"window = {src.window} {src.window_ps:g} ps, blocks = {src.n_blocks}")
        lines.append(",".join(names))
        lines += [",".join(f"{v:.8g}" for v in row) for row in np.column_stack(columns)]
        write_text_atomic(path, "\n".join(lines) + "\n")
        return Path(path)


def normalisation(wavenumber_cm: np.ndarray, values: np.ndarray, system: str
                  ) -> tuple[float, float]:
    """(baseline, scale) in the unit of ``values`` such that (values - baseline) / scale is the
    paper's normalised intensity for ``system`` (water: min and max - min over the grid;
    hcl, tio2-water: 0 and the maximum in 2800-3800 cm^-1)."""
    key = normalize_system(system)
    x, y = np.asarray(wavenumber_cm, float), np.asarray(values, float)
    window = NORMALISATION_WINDOW_CM[key]
    if window is None:
        baseline = float(np.min(y))
        scale = float(np.max(y)) - baseline
    else:
        inside = (x >= window[0]) & (x <= window[1])
        if not np.any(inside):
            raise UserInputError(f"paper-style normalisation of {key} needs the spectrum up to "
                                 f"{window[1]:g} cm^-1 (it ends at {x[-1]:.0f}); raise "
                                 "max_wavenumber")
        baseline, scale = 0.0, float(np.max(y[inside]))
    if not scale > 0:
        raise UserInputError(f"cannot normalise a spectrum whose maximum is {scale:g} (<= 0)")
    return baseline, scale


def paper_view(spectrum: Any, system: str = "water") -> PaperSpectrum:
    """The paper's view of an IRSpectrum (see the module docstring). Needs a spectrum computed
    with ``correction="harmonic"`` (no intensity correction factor)."""
    key = normalize_system(system)
    if spectrum.correction != "harmonic":
        raise UserInputError(
            f"paper style uses the classical intensities without a correction factor; the "
            f"spectrum was computed with correction={spectrum.correction!r}: use 'harmonic' "
            "(factor 1 on the dipole-current formula)")
    x = np.asarray(spectrum.wavenumber_cm, float)
    total = shift_spectrum(x, spectrum.n_alpha_per_cm)
    baseline, scale = normalisation(x, total, key)
    error = shift_spectrum(x, spectrum.error_per_cm) / scale
    groups, peaks = {}, {}
    window = NORMALISATION_WINDOW_CM[key]
    for name, (values, _) in spectrum.groups.items():
        shifted = shift_spectrum(x, values)
        groups[name] = shifted / scale
        inside = np.ones_like(x, bool) if window is None else (x >= window[0]) & (x <= window[1])
        peaks[name] = float(np.max(shifted[inside]) / scale)
    return PaperSpectrum(wavenumber_cm=x, intensity=(total - baseline) / scale, error=error,
                         system=key, scale_per_cm=scale, baseline_per_cm=baseline,
                         window_cm=window, groups=groups, group_peak=peaks, source=spectrum)
