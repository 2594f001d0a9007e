r"""Dielectric response from spectra MD: static eps_0 and eps(omega), SI-consistent units.

Static dielectric constant (tin-foil boundary conditions: Ewald/PME without a surface term, the
LES long range), from the fluctuations of the total dipole M of the cell:

    eps_0 = eps_inf + (<M^2> - <M>^2) / (3 V eps0 k_B T)

with M in e Å, V in Å^3, eps0 in e^2/(eV Å) and k_B T in eV (:mod:`lesdistill.units`), so the
ratio is dimensionless. In a periodic cell M is only defined up to the polarization quantum, so
it is the time integral of the stored dipole current, M(t) = M(0) + integral_0^t Mdot dt'
(trapezoid rule over the frames; the unknown M(0) drops out of the variance). The integral is
exact up to O(dt^2) bounded error for NVE production (the trapezoid errors of velocity Verlet
telescope); stochastic production (Langevin) adds a random walk whose variance grows as
T_run gamma dt_frame^2 (kT/m), so use NVE (or a weak thermostat) for eps_0. An ionic conductor (or
proton transfer across the cell) makes M diffuse: eps_0 then grows with the run length instead of
converging (see the convergence table).

Frequency-dependent dielectric function, from the same windowed current autocorrelation
C(t) = <Mdot(0).Mdot(t)> w(t) as the IR spectrum (classical linear response, e^{+i omega t}):

    eps(omega) = eps_inf + i / (3 V eps0 k_B T omega) * integral_0^inf C(t) e^{i omega t} dt

so eps''(omega) = n alpha(omega) c / omega (the "harmonic" IR intensity in cm^-1 divided by
2 pi nu~), and eps'(omega) - eps_inf = -1/(3 V eps0 k_B T omega) integral_0^inf C sin(omega t) dt,
whose omega -> 0 limit is -1/(3 V eps0 k_B T) integral_0^inf t C(t) dt = the fluctuation formula
above when the window is longer than the dielectric relaxation time. eps_inf: the electronic
(optical) dielectric constant: the student's ``eps_inf`` (stored with the trajectory) or given.
Error bars: standard error over blocks, as for the IR spectrum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesdistill import units
from lesdistill.errors import UserInputError
from lesdistill.fileio import write_text_atomic
from lesdistill.spectra import correlation as corr
from lesdistill.spectra.ir import _as_trajectories, _blocks, _kinetic_temperature_K, _mean_error


def fluctuation_prefactor(volume_A3: float, temperature_K: float) -> float:
    """1 / (3 V eps0 k_B T) in 1/(e^2 Å^2): multiplies a dipole variance (e^2 Å^2)."""
    return 1.0 / (3.0 * volume_A3 * units.EPSILON0_E2_PER_EV_A * units.KB_EV_PER_K
                  * temperature_K)


def integrate_current(current: np.ndarray, frame_dt_fs: float) -> np.ndarray:
    """M(t) - M(0) (F, 3) in e Å: cumulative trapezoid integral of dM/dt (F, 3), e Å/fs."""
    j = np.asarray(current, float)
    steps = 0.5 * (j[1:] + j[:-1]) * frame_dt_fs
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


@dataclass(frozen=True)
class StaticDielectric:
    """eps_0 with its standard error over blocks, and how it converges with run length."""

    eps0: float
    error: float  # NaN with a single block
    eps_inf: float
    variance_e2A2: float  # <M^2> - <M>^2, e^2 Å^2
    volume_A3: float
    temperature_K: float
    n_blocks: int
    run_ps: float  # total production time used, ps
    #: (run length ps, eps_0, error) from the first 1/8, 1/4, 1/2 and all of every trajectory
    convergence: list[tuple[float, float, float]] = field(default_factory=list)

    def text(self) -> str:
        err = "" if math.isnan(self.error) else f" +- {self.error:.3g}"
        steps = ", ".join(f"{t:.3g} ps: {e:.4g}" + ("" if math.isnan(s) else f" +- {s:.2g}")
                          for t, e, s in self.convergence)
        return (f"static dielectric constant eps_0 = {self.eps0:.4g}{err} (eps_inf = "
                f"{self.eps_inf:g}, <dM^2> = {self.variance_e2A2:.4g} e^2 A^2, {self.n_blocks} "
                f"blocks, {self.run_ps:.3g} ps); with run length: {steps}")

    def to_dict(self) -> dict[str, Any]:
        return {"eps0": self.eps0, "error": None if math.isnan(self.error) else self.error,
                "eps_inf": self.eps_inf, "variance_e2A2": self.variance_e2A2,
                "volume_A3": self.volume_A3, "temperature_K": self.temperature_K,
                "n_blocks": self.n_blocks, "run_ps": self.run_ps,
                "convergence": [{"run_ps": t, "eps0": e, "error": None if math.isnan(s) else s}
                                for t, e, s in self.convergence]}


def _settings(trajs: Sequence[Any], temperature_K: float | None, volume_A3: float | None,
              eps_inf: float | None) -> tuple[float, float, float]:
    if temperature_K is None:
        temperature_K = _kinetic_temperature_K(trajs)
    if volume_A3 is None:
        if not all(t.pbc.any() for t in trajs):
            raise UserInputError("non-periodic trajectory: pass the volume (volume_A3, Å^3)")
        volume_A3 = float(np.mean([t.volume_A3 for t in trajs]))
    if eps_inf is None:
        stored = {t.meta.get("eps_inf") for t in trajs}
        eps_inf = float(stored.pop()) if len(stored) == 1 and None not in stored else 1.0
    if not (temperature_K > 0 and volume_A3 > 0 and eps_inf >= 1.0):
        raise UserInputError(f"need T > 0, V > 0 and eps_inf >= 1; got {temperature_K} K, "
                             f"{volume_A3} A^3, {eps_inf}")
    return float(temperature_K), float(volume_A3), float(eps_inf)


def _eps0_of(dipoles: Sequence[np.ndarray], n_blocks: int, pref: float, eps_inf: float
             ) -> tuple[float, float, float]:
    """(eps_0, standard error, variance) from dipole series: variance about each trajectory's
    mean, blocks for the error."""
    block_var, weights = [], []
    for m in dipoles:
        d = m - m.mean(axis=0)
        edges = np.linspace(0, len(d), n_blocks + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            block_var.append(float(np.mean(np.sum(d[a:b] ** 2, axis=1))))
            weights.append(b - a)
    values = np.asarray(block_var)
    w = np.asarray(weights, float)
    variance = float(np.sum(w * values) / w.sum())
    error = math.nan
    if len(values) > 1:
        error = float(np.std(values, ddof=1) / math.sqrt(len(values))) * pref
    return eps_inf + pref * variance, error, variance


def static_dielectric(source: Any, *, temperature_K: float | None = None,
                      volume_A3: float | None = None, eps_inf: float | None = None,
                      n_blocks: int = 4, current_scale: float = 1.0) -> StaticDielectric:
    """eps_0 of one or several trajectories (paths or Trajectory) from the integrated current.

    temperature_K: default the mean kinetic temperature; volume_A3: default the mean cell
    volume; eps_inf: default the calculator's ``eps_inf`` stored with the run, else 1.
    current_scale: multiplies the current correlations (the IR's ``eps_inf`` scale for latent
    currents; 1 for physical ones).
    """
    trajs = _as_trajectories(source)
    if n_blocks < 1 or any(t.n_frames < 4 * n_blocks for t in trajs):
        raise UserInputError(f"need n_blocks >= 1 and at least 4 frames per block; got "
                             f"{n_blocks} blocks for {min(t.n_frames for t in trajs)} frames")
    temperature_K, volume_A3, eps_inf = _settings(trajs, temperature_K, volume_A3, eps_inf)
    pref = fluctuation_prefactor(volume_A3, temperature_K) * current_scale
    dipoles = [integrate_current(t.dipole_current, t.frame_dt_fs) for t in trajs]
    eps0, error, variance = _eps0_of(dipoles, n_blocks, pref, eps_inf)
    convergence = []
    for fraction in (0.125, 0.25, 0.5, 1.0):
        parts = [m[: max(4 * n_blocks, int(round(fraction * len(m))))] for m in dipoles]
        e, s, _ = _eps0_of(parts, n_blocks, pref, eps_inf)
        run = sum((len(p) - 1) * t.frame_dt_fs for p, t in zip(parts, trajs, strict=True))
        convergence.append((run * 1e-3, e, s))
    run_ps = convergence[-1][0]
    return StaticDielectric(eps0=eps0, error=error, eps_inf=eps_inf, variance_e2A2=variance,
                            volume_A3=volume_A3, temperature_K=temperature_K,
                            n_blocks=n_blocks * len(trajs), run_ps=run_ps,
                            convergence=convergence)


@dataclass(frozen=True)
class DielectricFunction:
    """eps(omega) = eps' + i eps'' on a wavenumber grid (cm^-1), with block standard errors."""

    wavenumber_cm: np.ndarray
    real: np.ndarray
    imag: np.ndarray
    real_error: np.ndarray
    imag_error: np.ndarray
    eps_inf: float
    window: str
    window_ps: float

    @property
    def static_limit(self) -> float:
        """eps'(omega -> 0) of the windowed estimate."""
        return float(self.real[0])

    def write_csv(self, path: Any) -> Any:
        """CSV (atomic): wavenumber_cm-1, eps_real, eps_imag and their errors."""
        lines = [f"# lesdistill dielectric function eps(omega) = eps' + i eps'' (eps_inf = "
                 f"{self.eps_inf:g}, window = {self.window} {self.window_ps:g} ps)",
                 "wavenumber_cm-1,eps_real,eps_imag,eps_real_error,eps_imag_error"]
        table = np.column_stack([self.wavenumber_cm, self.real, self.imag, self.real_error,
                                 self.imag_error])
        lines += [",".join(f"{v:.8g}" for v in row) for row in table]
        write_text_atomic(path, "\n".join(lines) + "\n")
        return path


def dielectric_function(source: Any, *, temperature_K: float | None = None,
                        volume_A3: float | None = None, eps_inf: float | None = None,
                        window: str = "hann", window_ps: float = 1.0, n_blocks: int = 1,
                        max_wavenumber_cm: float | None = 4500.0,
                        resolution_cm: float = 1.0, current_scale: float = 1.0
                        ) -> DielectricFunction:
    """eps(omega) from the windowed dipole-current autocorrelation (see module docstring);
    ``current_scale`` as in :func:`static_dielectric`."""
    trajs = _as_trajectories(source)
    temperature_K, volume_A3, eps_inf = _settings(trajs, temperature_K, volume_A3, eps_inf)
    dt = trajs[0].frame_dt_fs
    w = corr.window(window, window_ps, dt)
    lags = len(w) - 1
    if any(t.n_frames // n_blocks < 2 * lags for t in trajs):
        raise UserInputError(f"trajectory too short for a {window} window of {window_ps:g} ps in "
                             f"{n_blocks} block(s): run longer or use a narrower window")
    size = corr.fft_size(lags, dt, resolution_cm)
    nu = corr.wavenumber_grid(size, dt)
    omega = nu * 2.0 * math.pi * units.SPEED_OF_LIGHT_CM_PER_FS  # rad/fs
    pref = fluctuation_prefactor(volume_A3, temperature_K) * current_scale
    t = np.arange(lags + 1) * dt
    reals, imags = [], []
    for traj in trajs:
        for piece in _blocks(traj.n_frames, n_blocks):
            c = corr.correlation(traj.dipole_current[piece], max_lag=lags) * w
            a = np.zeros(size)
            a[: lags + 1] = c
            f = np.fft.rfft(a)
            cos_int = dt * (f.real - 0.5 * a[0])  # trapezoid integral_0^inf C cos(omega t)
            sin_int = -dt * f.imag  # integral_0^inf C sin(omega t)
            safe = np.where(omega > 0, omega, 1.0)
            imag = np.where(omega > 0, pref * cos_int / safe, 0.0)
            real = np.where(omega > 0, -pref * sin_int / safe,
                            -pref * dt * float(np.sum(t * c)))
            reals.append(eps_inf + real)
            imags.append(imag)
    real, real_err = _mean_error(np.asarray(reals))
    imag, imag_err = _mean_error(np.asarray(imags))
    keep = slice(None) if max_wavenumber_cm is None else nu <= max_wavenumber_cm + 1e-9
    return DielectricFunction(wavenumber_cm=nu[keep], real=real[keep], imag=imag[keep],
                              real_error=real_err[keep], imag_error=imag_err[keep],
                              eps_inf=eps_inf, window=window, window_ps=float(window_ps))


def dielectric_response(source: Any, *, window: str, window_ps: float, n_blocks: int,
                        max_wavenumber_cm: float | None = 4500.0,
                        temperature_K: float | None = None, eps_inf: float | None = None,
                        current_scale: float = 1.0
                        ) -> tuple[StaticDielectric, DielectricFunction] | str:
    """(eps_0, eps(omega)) of periodic trajectories with the IR's window and blocks, or the
    reason why they cannot give them (open boundary, too short)."""
    trajs = _as_trajectories(source)
    if not all(bool(np.all(t.pbc)) for t in trajs):
        return "the dielectric constant needs a periodic cell (tin-foil Ewald)"
    try:
        static = static_dielectric(trajs, n_blocks=n_blocks, temperature_K=temperature_K,
                                   eps_inf=eps_inf, current_scale=current_scale)
        eps = dielectric_function(trajs, window=window, window_ps=window_ps, n_blocks=n_blocks,
                                  max_wavenumber_cm=max_wavenumber_cm,
                                  temperature_K=temperature_K, eps_inf=eps_inf,
                                  current_scale=current_scale)
    except UserInputError as exc:
        return str(exc)
    return static, eps


def summary_dict(static: StaticDielectric, eps: DielectricFunction) -> dict[str, Any]:
    """JSON-able eps_0 (error bar, convergence with run length) and eps(omega) arrays."""

    def finite(values: np.ndarray) -> list[float | None]:
        return [float(v) if math.isfinite(v) else None for v in values]

    return {"static": static.to_dict(), "text": static.text(),
            "omega": {"wavenumber_cm": eps.wavenumber_cm.tolist(), "real": eps.real.tolist(),
                      "imag": eps.imag.tolist(), "real_error": finite(eps.real_error),
                      "imag_error": finite(eps.imag_error), "static_limit": eps.static_limit,
                      "window": eps.window, "window_ps": eps.window_ps}}
