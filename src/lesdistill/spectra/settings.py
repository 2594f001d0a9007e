"""The settings of the IR spectrum (:func:`lesdistill.spectra.ir_spectrum`): one frozen dataclass.

The run config's ``ir`` section extends it and the CLI's ``ir`` options are derived from its
fields (see :mod:`lesdistill.settings`); it imports neither numpy nor ASE. Inputs that belong to
the data rather than the method (temperature, volume, eps_inf, which group currents) stay
arguments of :func:`~lesdistill.spectra.ir_spectrum`. The per-frame group selector (``group``
and its options) is here too: ``lesdistill ir --group``, the run config's ``ir.group`` (whose
MD then stores per-atom currents) and :mod:`lesdistill.analysis.groups` read it from this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lesdistill.settings import Settings, SettingsError, coerce, one_of, positive, setting

__all__ = ["CORRECTIONS", "GROUP_MODES", "GROUP_SELECTORS", "IRSettings", "STYLES", "WINDOWS"]

CORRECTIONS = ("harmonic", "standard", "none", "schofield")
GROUP_MODES = ("cross", "self")
#: per-frame group selectors of :mod:`lesdistill.analysis.groups`
GROUP_SELECTORS = ("hcl", "tio2-water")
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
    group: str | None = setting(None, "per-frame groups from per-atom currents: hcl (H3O+ core "
                                "/ shell / bulk) | tio2-water (slab / water layers / bulk) | "
                                "null (none)")
    n_excess: int | None = setting(None, "hcl groups: number of H3O+ (default: n_H - 2 n_O)")
    layers: int = setting(2, "tio2-water groups: water layers (cuts at density minima)")
    cuts_A: tuple[float, ...] = setting((), "tio2-water groups: layer cuts, Å from the surface "
                                        "(empty: found from the density profile)", cli="--cuts")

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
        self._check_groups()

    def _check_groups(self) -> None:
        one_of(self, "group", (None, *GROUP_SELECTORS), "group selector")
        positive(self, "layers")
        if self.n_excess is not None:
            positive(self, "n_excess", strict=False)
        positive(self, "cuts_A", fix="give distances in Å from the surface")
        if self.n_excess is not None and self.group != "hcl":
            raise SettingsError("n_excess", "{field} applies to the hcl groups only; select them "
                                "(group hcl) or drop it")
        if self.cuts_A and self.group != "tio2-water":
            raise SettingsError("cuts_A", "{field} applies to the tio2-water groups only; "
                                "select them (group tio2-water) or drop it")

    def selector_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`lesdistill.analysis.groups.group_labels` for ``group``."""
        if self.group == "hcl":
            return {"n_excess": self.n_excess}
        if self.group == "tio2-water":
            return {"cuts_A": list(self.cuts_A)} if self.cuts_A else {"n_layers": self.layers}
        return {}
