"""The settings of the IR spectrum (:func:`lesdistill.spectra.ir_spectrum`): one frozen dataclass.

The run config's ``ir`` section extends it and the CLI's ``ir`` options are derived from its
fields (see :mod:`lesdistill.settings`); it imports neither numpy nor ASE. Inputs that belong to
the data rather than the method (temperature, volume, eps_inf, which group currents) stay
arguments of :func:`~lesdistill.spectra.ir_spectrum`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesdistill.settings import Settings, coerce, one_of, positive, setting

__all__ = ["CORRECTIONS", "GROUP_MODES", "IRSettings", "STYLES", "WINDOWS"]

CORRECTIONS = ("harmonic", "standard", "none", "schofield")
GROUP_MODES = ("cross", "self")
WINDOWS = ("hann", "gaussian", "none")
#: "absolute": n*alpha in cm^-1; "paper": the view of arXiv 2606.15001 (lesdistill.spectra.paper)
STYLES = ("absolute", "paper")


@dataclass(frozen=True)
class IRSettings(Settings):
    """How the spectrum is computed from the dipole current (units in the names)."""

    window: str = setting("hann", "autocorrelation window: hann | gaussian | none")
    window_ps: float | None = setting(None, "window width, ps (default: min(1 ps, half a block))")
    correction: str = setting("harmonic", "quantum correction: harmonic | standard | none | "
                              "schofield")
    n_blocks: int = setting(1, "blocks per trajectory for error bars (1: no error bars)",
                            cli="--blocks")
    group_mode: str = setting("cross", "group decomposition: cross | self")
    max_wavenumber_cm: float | None = setting(4500.0, "output cut, cm^-1 (null: Nyquist)",
                                              cli="--max-wavenumber")
    resolution_cm: float = setting(1.0, "wavenumber grid spacing, cm^-1")
    style: str = setting("absolute", "absolute: n*alpha in cm^-1 | paper: the view of arXiv "
                         "2606.15001 (classical intensities, empirical NQE red shift, "
                         "peak-normalised)")

    def __post_init__(self) -> None:
        coerce(self)
        one_of(self, "window", WINDOWS, "window")
        one_of(self, "correction", CORRECTIONS, "quantum correction")
        one_of(self, "group_mode", GROUP_MODES, "group mode")
        one_of(self, "style", STYLES, "IR style")
        positive(self, "n_blocks", "resolution_cm")
        if self.window_ps is not None:
            positive(self, "window_ps")
        if self.max_wavenumber_cm is not None:
            positive(self, "max_wavenumber_cm")
