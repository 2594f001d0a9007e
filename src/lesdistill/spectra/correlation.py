"""Time-correlation functions and their Fourier transforms (numpy FFT, zero padded).

Conventions (dt = sampling interval in fs, lag k <-> time t = k dt):

    c(k) = 1/(T - k) sum_{n=0}^{T-1-k} x_n . y_{n+k}          (unbiased, dot over components)
    F(omega) = dt [ c(0) + 2 sum_{k=1}^{L} w(k dt) c(k) cos(omega k dt) ]

``F`` is the two-sided Fourier transform integral_{-inf}^{inf} w(|t|) c(t) exp(-i omega t) dt of
the even, windowed correlation function (units of c times fs). With ``w(0) = 1`` it obeys
integral_0^{omega_Nyquist} F d omega = pi c(0) exactly on the discrete grid (trapezoid rule), the
identity behind the IR sum rule.
"""

from __future__ import annotations

import math

import numpy as np

from lesdistill.errors import UserInputError
from lesdistill.spectra.settings import WINDOWS
from lesdistill.units import SPEED_OF_LIGHT_CM_PER_FS

#: a Gaussian window is cut at this many standard deviations
GAUSSIAN_CUT_SIGMA = 3.0


def correlation(x: np.ndarray, y: np.ndarray | None = None, *, max_lag: int) -> np.ndarray:
    """Unbiased (cross-)correlation c(k), k = 0..max_lag, of series x, y of shape (T,) or (T, d).

    Zero-padded FFT (no circular wrap-around). For y given, returns the even part
    (<x(0) y(t)> + <y(0) x(t)>) / 2, whose transform is the real cross spectrum.
    """
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    n = x.shape[0]
    if not 0 <= max_lag < n:
        raise UserInputError(f"max_lag {max_lag} must be in [0, {n - 1}] for {n} samples")
    size = 1 << (2 * n - 1).bit_length()
    fx = np.fft.rfft(x, n=size, axis=0)
    if y is None:
        raw = np.fft.irfft(np.abs(fx) ** 2, n=size, axis=0)[: max_lag + 1]
    else:
        y = np.asarray(y, dtype=float)
        y = y[:, None] if y.ndim == 1 else y
        fy = np.fft.rfft(y, n=size, axis=0)
        raw = np.fft.irfft((np.conj(fx) * fy).real, n=size, axis=0)[: max_lag + 1]
    return raw.sum(axis=1) / (n - np.arange(max_lag + 1))


def window(kind: str, width_ps: float, dt_fs: float) -> np.ndarray:
    """Window w(k dt) for lags k = 0..L, with w(0) = 1.

    "hann": cos^2(pi t / (2 tau)) for t <= tau = width_ps (zero beyond; spectral FWHM about
    1.44 / (2 tau c) cm^-1, 24 cm^-1 for 1 ps). "gaussian": exp(-t^2 / (2 tau^2)), cut at
    3 tau (a Gaussian line broadening of standard deviation 1/(2 pi c tau) cm^-1, 5.3 cm^-1 for
    1 ps). "none": rectangular, 1 up to tau.
    """
    if kind not in WINDOWS:
        raise UserInputError(f"unknown window {kind!r}; choose one of {WINDOWS}")
    if not width_ps > 0:
        raise UserInputError(f"window width must be > 0 ps, got {width_ps}")
    tau = width_ps * 1e3
    cut = GAUSSIAN_CUT_SIGMA * tau if kind == "gaussian" else tau
    t = np.arange(int(math.floor(cut / dt_fs + 1e-9)) + 1) * dt_fs
    if kind == "hann":
        return np.cos(0.5 * np.pi * t / tau) ** 2
    if kind == "gaussian":
        return np.exp(-0.5 * (t / tau) ** 2)
    return np.ones_like(t)


def max_lag_fs(kind: str, width_ps: float) -> float:
    """Longest correlation time (fs) that a window of this kind and width uses."""
    return width_ps * 1e3 * (GAUSSIAN_CUT_SIGMA if kind == "gaussian" else 1.0)


def fft_size(n_lags: int, dt_fs: float, resolution_cm: float) -> int:
    """FFT length >= 2 n_lags + 1 with grid spacing <= resolution_cm (zero padding)."""
    finest = math.ceil(1.0 / (SPEED_OF_LIGHT_CM_PER_FS * dt_fs * resolution_cm))
    needed = max(2 * n_lags + 1, finest)
    return 1 << (needed - 1).bit_length()


def wavenumber_grid(size: int, dt_fs: float) -> np.ndarray:
    """Wavenumbers (cm^-1) of the rfft bins j = 0..size/2: j / (size dt c)."""
    return np.arange(size // 2 + 1) / (size * dt_fs * SPEED_OF_LIGHT_CM_PER_FS)


def spectrum(c: np.ndarray, w: np.ndarray, dt_fs: float, size: int) -> np.ndarray:
    """Two-sided Fourier transform F (units of c times fs) on :func:`wavenumber_grid`."""
    lags = min(len(c), len(w))
    if size < 2 * lags - 1:
        raise ValueError(f"FFT size {size} too small for {lags} lags")
    a = np.zeros(size)
    a[:lags] = c[:lags] * w[:lags]
    return dt_fs * (2.0 * np.fft.rfft(a).real - a[0])
