"""Vibrational density of states (VDOS) from the mass-weighted velocity autocorrelation.

    C(t)   = sum_i m_i < v_i(0) . v_i(t) >                       (amu Å^2 fs^-2)
    g(nu)  = F[w C](nu) / integral_0^nu_max F[w C] dnu  x  3 N    (states per cm^-1)

with the windowed, zero-padded transform of :mod:`lesdistill.spectra.correlation`. The
normalisation makes integral_0^{nu_Nyquist} g dnu = 3 N (the degrees of freedom of N atoms):
in equipartition C(0) = 3 N k_B T, and the correlation module's transform integrates to
pi C(0), so the shape is the classical VDOS and the scale is independent of the temperature.
``per_element`` restricts the sum to the atoms of one element (its integral is 3 N_element).

Frames must be equally spaced in time (dt_fs); the Nyquist wavenumber 1/(2 c dt) must lie above
the highest band (OH stretch ~3700 cm^-1 needs dt <= 4.5 fs). :func:`compare_vdos` sets a
teacher's and a student's VDOS side by side and gives each band's peak shift (cm^-1): the test
of whether a student reproduces its teacher's dynamics, independent of experiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.spectra import correlation as corr
from lesdistill.spectra import peaks
from lesdistill.units import SPEED_OF_LIGHT_CM_PER_FS

__all__ = ["VDOS", "vdos", "compare_vdos", "format_vdos_table", "nyquist_cm"]


@dataclass(frozen=True)
class VDOS:
    """VDOS on a wavenumber grid: ``total`` and ``per_element`` (states per cm^-1)."""

    wavenumber_cm: np.ndarray
    total: np.ndarray
    per_element: dict[str, np.ndarray] = field(default_factory=dict)
    dt_fs: float = 0.0
    n_frames: int = 0
    window: str = "hann"
    window_ps: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"wavenumber_cm": self.wavenumber_cm.tolist(), "total": self.total.tolist(),
                "per_element": {k: v.tolist() for k, v in self.per_element.items()},
                "dt_fs": self.dt_fs, "n_frames": self.n_frames, "window": self.window,
                "window_ps": self.window_ps}


def nyquist_cm(dt_fs: float) -> float:
    """Highest wavenumber (cm^-1) that frames ``dt_fs`` apart resolve: 1 / (2 c dt)."""
    return 1.0 / (2.0 * SPEED_OF_LIGHT_CM_PER_FS * dt_fs)


def _transform(x: np.ndarray, dt_fs: float, w: np.ndarray, size: int, n_dof: int) -> np.ndarray:
    c = corr.correlation(x, max_lag=len(w) - 1)
    f = corr.spectrum(c, w, dt_fs, size)
    nu = corr.wavenumber_grid(size, dt_fs)
    area = float(np.trapezoid(f, nu))
    if not area > 0:
        raise UserInputError("the velocities have no kinetic energy; a VDOS needs moving atoms")
    return f * (n_dof / area)


def vdos(velocities: Any, masses: Any, dt_fs: float, *, symbols: Sequence[str] | None = None,
         window: str = "hann", window_ps: float | None = None,
         resolution_cm: float = 2.0, max_wavenumber_cm: float | None = 4500.0) -> VDOS:
    """VDOS of velocities (T, N, 3) in Å/fs with ``masses`` (N,) in amu, frames ``dt_fs`` apart.

    ``window_ps``: correlation window (default: half the trajectory length, so every lag is
    averaged over at least T/2 time origins). ``symbols`` (N,) adds per-element VDOS.
    """
    v = np.asarray(velocities, dtype=float)
    m = np.asarray(masses, dtype=float).reshape(-1)
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[1] != m.size:
        raise UserInputError(f"velocities must have shape (T, N, 3) with N = {m.size} masses, "
                             f"got {v.shape}")
    if v.shape[0] < 8:
        raise UserInputError(f"a VDOS needs at least 8 frames, got {v.shape[0]}")
    if not dt_fs > 0:
        raise UserInputError(f"frame spacing must be > 0 fs, got {dt_fs}")
    if not (np.all(np.isfinite(v)) and np.all(m > 0)):
        raise UserInputError("velocities must be finite and masses > 0")
    length_ps = (v.shape[0] - 1) * dt_fs * 1e-3
    width = window_ps if window_ps is not None else 0.5 * length_ps
    w = corr.window(window, width, dt_fs)
    w = w[: v.shape[0]]
    size = corr.fft_size(len(w), dt_fs, resolution_cm)
    nu = corr.wavenumber_grid(size, dt_fs)
    x = (v * np.sqrt(m)[None, :, None]).reshape(v.shape[0], -1)
    total = _transform(x, dt_fs, w, size, 3 * m.size)
    per: dict[str, np.ndarray] = {}
    if symbols is not None:
        sym = np.asarray([str(s) for s in symbols])
        if sym.shape != (m.size,):
            raise UserInputError(f"symbols has {sym.size} entries for {m.size} atoms")
        for e in sorted(set(sym.tolist())):
            mask = sym == e
            xe = (v[:, mask] * np.sqrt(m[mask])[None, :, None]).reshape(v.shape[0], -1)
            per[e] = _transform(xe, dt_fs, w, size, 3 * int(mask.sum()))
    keep = nu <= max_wavenumber_cm if max_wavenumber_cm is not None else slice(None)
    return VDOS(nu[keep], total[keep], {k: g[keep] for k, g in per.items()}, float(dt_fs),
                int(v.shape[0]), window, float(width))


def _band_peak(g: VDOS, band: peaks.Band, min_relative_height: float) -> float | None:
    p = peaks.measure_band(g.wavenumber_cm, g.total, band, None)
    if not p.resolved or p.height < min_relative_height * float(np.max(g.total)):
        return None
    return p.position_cm


def compare_vdos(teacher: VDOS, student: VDOS, system: str = "water", *,
                 min_relative_height: float = 0.03) -> list[dict[str, Any]]:
    """Band-by-band peaks of the teacher's and the student's VDOS (bands of ``system``'s table in
    :mod:`lesdistill.spectra.peaks`): rows {band, teacher_cm, student_cm, shift_cm (student -
    teacher)}. A band counts as a peak when its maximum is a local maximum inside the window and
    at least ``min_relative_height`` of the spectrum's highest point; else its entries are None
    (and the shift too)."""
    key = peaks.normalize_system(system)
    rows = []
    for band in peaks.BANDS[key]:
        t = _band_peak(teacher, band, min_relative_height)
        s = _band_peak(student, band, min_relative_height)
        rows.append({"band": band.name, "teacher_cm": t, "student_cm": s,
                     "shift_cm": (s - t) if t is not None and s is not None else None})
    return rows


def format_vdos_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Plain-text band table of :func:`compare_vdos` (cm^-1)."""
    def f(x: Any, fmt: str = ".0f") -> str:
        return format(x, fmt) if x is not None else "-"

    lines = [f"{'VDOS band':<20}{'teacher':>9}{'student':>9}{'shift':>8}  (cm^-1)"]
    lines += [f"{r['band']:<20}{f(r['teacher_cm']):>9}{f(r['student_cm']):>9}"
              f"{f(r['shift_cm'], '+.0f'):>8}" for r in rows]
    return "\n".join(lines)
