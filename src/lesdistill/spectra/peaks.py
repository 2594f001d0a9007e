"""Band tables, peak finding and comparison with experimental IR band positions.

Bands of the benchmark systems (cm^-1). Water positions are the n*alpha maxima of the shipped
experimental curve (Segelstein 1981 / Hale & Querry 1973, ``spectra/reference/``), found with the
same search windows as the simulated spectrum. The other two are the experimental references of
the LES-distillation benchmark (arXiv 2606.15001, whose scripts ChengUCB/les_distill plot them):

- ``hcl``: the aqueous proton in 2 M HCl, maxima near 1196 (Zundel proton transfer), 1760
  (protonated-water bend) and 2997 cm^-1 (Zundel-like OH stretch) on a continuum spanning
  1000-3200 cm^-1; the paper's curve comes from the broadband (2D) IR study of HCl solutions by
  Thamer, De Marco, Ramasesha, Mandal & Tokmakoff, Science 350, 78 (2015). It describes the
  proton, i.e. the H3O+ core group of a decomposed spectrum; bulk water in the same solution
  compares with the ``water`` table.
- ``tio2-water``: water at the TiO2 interface, OH stretch near 3262 and bend near 1636 cm^-1 (the
  experimental interfacial-water spectrum the paper takes from the DPLR study of the TiO2-water
  interface, Zhang et al., J. Chem. Phys. (2025), Fig. 2). It describes the first water layer;
  the layers beyond compare with the ``water`` table.

:data:`GROUP_REFERENCE` maps the groups of :mod:`lesdistill.analysis.groups` to these tables.
A band is "resolved" when the maximum inside its window is a local maximum away from the edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic

REFERENCE_FILES = {"water": "water_ir_h2o_25C_segelstein1981.csv"}
REFERENCE_CITATION = {
    "water": "Segelstein 1981 / Hale & Querry 1973 (liquid H2O, 25 C)",
    "hcl": "aqueous proton in 2 M HCl (Thamer et al., Science 2015), maxima per arXiv 2606.15001",
    "tio2-water": "water at the TiO2 interface (Zhang et al., JCP 2025), maxima per arXiv "
                  "2606.15001"}


@dataclass(frozen=True)
class Band:
    name: str
    window_cm: tuple[float, float]  # search window, cm^-1
    reference_cm: float | None  # experimental position; None: take it from reference data


_WATER = (
    Band("H-bond stretch", (100.0, 300.0), None),
    Band("libration", (350.0, 1100.0), None),
    Band("bend", (1450.0, 1850.0), None),
    Band("combination", (1900.0, 2400.0), None),
    Band("OH stretch", (2800.0, 3800.0), None),
)
BANDS: dict[str, tuple[Band, ...]] = {
    "water": _WATER,
    "hcl": (
        Band("Zundel proton transfer", (1000.0, 1400.0), 1196.0),
        Band("protonated-water bend", (1700.0, 1900.0), 1760.0),
        Band("Zundel-like OH stretch", (2850.0, 3150.0), 2997.0),
    ),
    "tio2-water": (
        Band("TiO2 lattice", (200.0, 900.0), None),
        Band("interfacial water bend", (1500.0, 1750.0), 1636.0),
        Band("interfacial OH stretch", (2800.0, 3700.0), 3262.0),
    ),
}
#: which band table a group spectrum is compared with: system -> group name -> table
GROUP_REFERENCE: dict[str, dict[str, str]] = {
    "hcl": {"core": "hcl", "shell": "hcl", "bulk": "water"},
    "tio2-water": {"layer1": "tio2-water"},
}


def reference_for_group(system: str, group: str) -> str:
    """Band table for a group spectrum of ``system``: HCl core and shell -> the aqueous proton
    (``hcl``), the first TiO2 water layer -> interfacial water (``tio2-water``), any other
    group -> bulk ``water``."""
    key = normalize_system(system)
    return GROUP_REFERENCE.get(key, {}).get(group, "water")


@dataclass(frozen=True)
class Peak:
    """One band of a spectrum: position and FWHM in cm^-1, height in the spectrum's unit."""

    band: str
    position_cm: float
    height: float
    fwhm_cm: float
    resolved: bool
    reference_cm: float | None = None

    @property
    def shift_cm(self) -> float | None:
        if self.reference_cm is None or not self.resolved:
            return None
        return self.position_cm - self.reference_cm


def load_reference(system: str = "water") -> tuple[np.ndarray, np.ndarray]:
    """Experimental (wavenumber cm^-1, n*alpha cm^-1) shipped with the package."""
    if system not in REFERENCE_FILES:
        raise UserInputError(f"no reference spectrum for {system!r}; have "
                             f"{sorted(REFERENCE_FILES)}")
    source = resources.files("lesdistill.spectra") / "reference" / REFERENCE_FILES[system]
    text = source.read_text(encoding="utf-8")
    data = np.loadtxt(text.splitlines(), delimiter=",", skiprows=1)
    return data[:, 0], data[:, 4]


def integrated_intensity(spectrum: object, system: str) -> dict[str, float] | None:
    """Integrated n*alpha (cm^-2, trapezoid rule) of ``spectrum`` over its grid and of the
    shipped experimental curve of ``system`` over the curve's range, and their ratio; None when
    there is no experimental curve for ``system`` (only band positions)."""
    if system not in REFERENCE_FILES:
        return None
    w, y = load_reference(system)
    exp_int = _trapezoid(y, w)
    stu_int = _trapezoid(np.asarray(spectrum.n_alpha_per_cm),  # type: ignore[attr-defined]
                         np.asarray(spectrum.wavenumber_cm))  # type: ignore[attr-defined]
    return {"student_cm2": stu_int, "experiment_cm2": exp_int, "ratio": stu_int / exp_int}


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.trapezoid(y, x)) if hasattr(np, "trapezoid") else float(np.trapz(y, x))


def normalize_system(system: str) -> str:
    key = system.lower().replace("_", "-").replace("/", "-")
    aliases = {"h2o": "water", "hcl-aq": "hcl", "hcl(aq)": "hcl", "tio2": "tio2-water",
               "tio2-h2o": "tio2-water"}
    key = aliases.get(key, key)
    if key not in BANDS:
        raise UserInputError(f"unknown system {system!r} for the band table; choose one of "
                             f"{sorted(BANDS)}")
    return key


def _fwhm(x: np.ndarray, y: np.ndarray, i: int) -> float:
    half = 0.5 * y[i]
    left = i
    while left > 0 and y[left] > half:
        left -= 1
    right = i
    while right < len(y) - 1 and y[right] > half:
        right += 1
    if y[left] > half or y[right] > half:
        return math.nan
    xl = np.interp(half, [y[left], y[left + 1]], [x[left], x[left + 1]])
    xr = np.interp(half, [y[right], y[right - 1]], [x[right], x[right - 1]])
    return float(xr - xl)


def measure_band(x: np.ndarray, y: np.ndarray, band: Band, reference_cm: float | None) -> Peak:
    """Maximum of y inside the band window (parabolic refinement on a uniform grid)."""
    lo, hi = band.window_cm
    inside = np.flatnonzero((x >= lo) & (x <= hi))
    if inside.size < 3:
        return Peak(band.name, math.nan, math.nan, math.nan, False, reference_cm)
    i = int(inside[np.argmax(y[inside])])
    resolved = bool(inside[0] < i < inside[-1] and y[i] > y[i - 1] and y[i] >= y[i + 1])
    position = float(x[i])
    if resolved:
        denom = y[i - 1] - 2 * y[i] + y[i + 1]
        if denom < 0 and np.isclose(x[i + 1] - x[i], x[i] - x[i - 1]):
            position += 0.5 * (y[i - 1] - y[i + 1]) / denom * (x[i + 1] - x[i])
    return Peak(band.name, position, float(y[i]), _fwhm(x, y, i), resolved, reference_cm)


@lru_cache(maxsize=4)
def reference_bands(system: str) -> tuple[Peak, ...]:
    """Band positions of the experimental reference (file maxima or literature values)."""
    key = normalize_system(system)
    peaks = []
    data = load_reference("water") if key == "water" else None
    for band in BANDS[key]:
        if data is not None:
            peaks.append(measure_band(*data, band, None))
        else:
            peaks.append(Peak(band.name, band.reference_cm or math.nan, math.nan, math.nan,
                              band.reference_cm is not None))
    return tuple(peaks)


def compare_with_reference(spectrum: object, system: str = "water", *,
                           group: str | None = None) -> list[Peak]:
    """Peak table of ``spectrum`` (an IRSpectrum or PaperSpectrum) for the bands of ``system``
    with shifts (cm^-1) from the experimental positions: position, height (unit of the
    spectrum), FWHM, reference, shift. ``group``: use that group's spectrum instead of the total
    (pass the matching table, :func:`reference_for_group`, as ``system``)."""
    key = normalize_system(system)
    x = np.asarray(spectrum.wavenumber_cm)  # type: ignore[attr-defined]
    if group is None:
        y = np.asarray(spectrum.n_alpha_per_cm)  # type: ignore[attr-defined]
    else:
        value = spectrum.groups[group]  # type: ignore[attr-defined]
        y = np.asarray(value[0] if isinstance(value, tuple) else value)
    rows = []
    for band, ref in zip(BANDS[key], reference_bands(key), strict=True):
        reference_cm = ref.position_cm if ref.resolved else band.reference_cm
        rows.append(measure_band(x, y, band, reference_cm))
    return rows


def find_peaks(wavenumber_cm: np.ndarray, values: np.ndarray, *,
               min_prominence: float = 0.05) -> list[Peak]:
    """All peaks with prominence >= min_prominence * max(values) (scipy.signal.find_peaks)."""
    from scipy.signal import find_peaks as _find
    from scipy.signal import peak_widths

    values = np.asarray(values, dtype=float)
    index, _ = _find(values, prominence=min_prominence * float(np.max(values)))
    widths = peak_widths(values, index, rel_height=0.5)[0] if index.size else []
    step = float(np.mean(np.diff(wavenumber_cm))) if len(wavenumber_cm) > 1 else 1.0
    return [Peak(f"peak {k + 1}", float(wavenumber_cm[i]), float(values[i]), float(w * step), True)
            for k, (i, w) in enumerate(zip(index, widths, strict=True))]


def format_peak_table(peaks: list[Peak], system: str | None = None, *,
                      height_unit: str = "cm^-1") -> str:
    """Plain-text table (cm^-1) for the terminal."""
    title = f"IR bands ({system}; reference: {REFERENCE_CITATION.get(system or '', 'literature')})"
    lines = [title, f"{'band':36s} {'pos':>8s} {'height':>10s} {'FWHM':>8s} {'ref':>8s} "
                    f"{'shift':>8s}"]
    for p in peaks:
        pos = f"{p.position_cm:8.1f}" if p.resolved else f"{'n.r.':>8s}"
        ref = f"{p.reference_cm:8.1f}" if p.reference_cm is not None else f"{'-':>8s}"
        shift = f"{p.shift_cm:+8.1f}" if p.shift_cm is not None else f"{'-':>8s}"
        lines.append(f"{p.band:36s} {pos} {p.height:10.4g} {p.fwhm_cm:8.1f} {ref} {shift}")
    lines.append(f"(pos/FWHM/ref/shift in cm^-1, height in {height_unit}; n.r. = not resolved)")
    return "\n".join(lines)


def write_peak_csv(peaks: list[Peak], path: str | Path, *, height_unit: str = "cm-1") -> Path:
    """Peak table as CSV (atomic): band, position_cm-1, height_<unit> (cm-1; "au" for paper-style
    spectra), fwhm_cm-1, reference_cm-1, shift_cm-1, resolved."""
    def fmt(value: float | None) -> str:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else f"{value:.6g}"

    lines = [f"band,position_cm-1,height_{height_unit},fwhm_cm-1,reference_cm-1,shift_cm-1,"
             "resolved"]
    for p in peaks:
        lines.append(",".join([f'"{p.band}"', fmt(p.position_cm), fmt(p.height), fmt(p.fwhm_cm),
                               fmt(p.reference_cm), fmt(p.shift_cm), str(p.resolved).lower()]))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)
