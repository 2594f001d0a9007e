"""IR spectrum from synthetic dipole currents: units, analytic peaks, corrections, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lesdistill import units
from lesdistill.spectra import correlation as corr
from lesdistill.spectra.ir import (
    correction_factor,
    ir_prefactor,
    spectrum_from_current,
    sum_rule_prefactor,
)


def sines(wavenumbers, amplitudes, *, dt_fs=1.0, n=8000, seed=0):
    """Mdot(t) = sum_k a_k cos(omega_k t + phi_k) e_k along x, y, z in turn (e Å/fs)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * dt_fs
    current = np.zeros((n, 3))
    for k, (nu, a) in enumerate(zip(wavenumbers, amplitudes, strict=True)):
        omega = units.wavenumber_cm_to_omega_rad_per_fs(nu)
        current[:, k % 3] += a * np.cos(omega * t + rng.uniform(0, 2 * np.pi))
    return current


def test_prefactor_matches_si_hand_computation():
    # beta / (6 c V eps0) * F in SI with F in C^2 m^2 s^-2 * s, then m^-1 -> cm^-1
    e, kb, c, eps0 = 1.602176634e-19, 1.380649e-23, 299792458.0, 8.8541878128e-12
    temperature, volume_a3, f_value = 300.0, 1000.0, 2.5e-3  # K, Å^3, e^2 Å^2/fs
    f_si = f_value * e**2 * (1e-10) ** 2 / 1e-15
    n_alpha_cm = f_si / (kb * temperature) / (6 * c * volume_a3 * 1e-30 * eps0) / 100.0
    assert ir_prefactor() * f_value / (volume_a3 * temperature) == pytest.approx(n_alpha_cm,
                                                                                  rel=1e-9)
    assert ir_prefactor() == pytest.approx(1.1674e10, rel=2e-4)  # the number quoted in issue 4


def test_sum_rule_prefactor_matches_si_hand_computation():
    # sum_i Z_i^2/m_i / (12 eps0 c^2 V) in SI: C^2/kg / (F/m m^2/s^2 m^3) = m^-2 -> cm^-2
    e, amu, c, eps0 = 1.602176634e-19, 1.66053906660e-27, 299792458.0, 8.8541878128e-12
    z2_over_m, volume_a3 = 3.7, 900.0  # e^2/amu, Å^3
    si = z2_over_m * e**2 / amu / (12 * eps0 * c**2 * volume_a3 * 1e-30) * 1e-4
    assert sum_rule_prefactor() * z2_over_m / volume_a3 == pytest.approx(si, rel=1e-9)


def test_discrete_integral_identity():
    rng = np.random.default_rng(1)
    c = rng.normal(size=200)
    w = corr.window("hann", 0.1, 0.5)
    size = corr.fft_size(len(w) - 1, 0.5, 2.0)
    nu = corr.wavenumber_grid(size, 0.5)
    f = corr.spectrum(c, w, 0.5, size)
    integral = np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(nu))
    assert integral == pytest.approx(c[0] / (2 * units.SPEED_OF_LIGHT_CM_PER_FS), rel=1e-10)


def test_correlation_matches_direct_sum():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    direct = [np.mean([x[n] @ x[n + k] for n in range(50 - k)]) for k in range(10)]
    assert np.allclose(corr.correlation(x, max_lag=9), direct)
    cross = [0.5 * np.mean([x[n] @ y[n + k] + y[n] @ x[n + k] for n in range(50 - k)])
             for k in range(10)]
    assert np.allclose(corr.correlation(x, y, max_lag=9), cross)


def test_two_oscillators_peaks_heights_and_band_intensities():
    nus, amps = (900.0, 2200.0), (0.02, 0.01)
    temperature, volume, dt, width_ps = 300.0, 2000.0, 1.0, 1.0
    s = spectrum_from_current(sines(nus, amps, dt_fs=dt), dt, temperature_K=temperature,
                              volume_A3=volume, window="hann", window_ps=width_ps,
                              max_wavenumber_cm=None, resolution_cm=0.5)
    scale = ir_prefactor() / (volume * temperature)
    for nu, a in zip(nus, amps, strict=True):
        band = (s.wavenumber_cm > nu - 200) & (s.wavenumber_cm < nu + 200)
        peak = s.wavenumber_cm[band][np.argmax(s.n_alpha_per_cm[band])]
        assert abs(peak - nu) <= 1.0
        # Hann: F(omega0) = (a^2/2) * (1/2) * integral_{-T}^{T} cos^2(pi t / 2T) dt = a^2 T / 4
        height = s.n_alpha_per_cm[band].max()
        assert height == pytest.approx(scale * a**2 * width_ps * 1e3 / 4, rel=0.02)
        # band integral over wavenumber: scale * <Mdot^2>_band / (2 c)
        x, y = s.wavenumber_cm[band], s.n_alpha_per_cm[band]
        integral = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
        expected = scale * (a**2 / 2) / (2 * units.SPEED_OF_LIGHT_CM_PER_FS)
        assert integral == pytest.approx(expected, rel=0.02)


def test_gaussian_window_width_and_sign_flip_invariance():
    current = sines((1500.0,), (0.02,), n=12000)
    kwargs = dict(temperature_K=300.0, volume_A3=1000.0, window="gaussian", window_ps=0.4,
                  max_wavenumber_cm=3000.0, resolution_cm=0.5)
    s = spectrum_from_current(current, 1.0, **kwargs)
    flipped = spectrum_from_current(-current, 1.0, **kwargs)
    np.testing.assert_array_equal(s.n_alpha_per_cm, flipped.n_alpha_per_cm)
    # Gaussian window of width tau -> Gaussian line of std 1 / (2 pi c tau) cm^-1
    sigma_cm = 1.0 / (2 * math.pi * units.SPEED_OF_LIGHT_CM_PER_FS * 400.0)
    y = s.n_alpha_per_cm
    above = s.wavenumber_cm[y > 0.5 * y.max()]
    assert above[-1] - above[0] == pytest.approx(2.3548 * sigma_cm, abs=1.0)


def test_groups_cross_mode_is_additive_and_sign_agnostic():
    a = sines((800.0, 1600.0), (0.02, 0.01), seed=3)
    b = sines((800.0, 3000.0), (0.01, 0.02), seed=4)
    kwargs = dict(temperature_K=300.0, volume_A3=1000.0, window_ps=0.5, n_blocks=2)
    s = spectrum_from_current(a + b, 1.0, group_currents={"a": a, "b": b}, **kwargs)
    total = s.groups["a"][0] + s.groups["b"][0]
    np.testing.assert_allclose(total, s.n_alpha_per_cm, rtol=1e-9,
                               atol=1e-9 * s.n_alpha_per_cm.max())
    flipped = spectrum_from_current(-(a + b), 1.0, group_currents={"a": -a, "b": -b}, **kwargs)
    np.testing.assert_allclose(flipped.groups["a"][0], s.groups["a"][0], rtol=1e-12, atol=1e-9)
    own = spectrum_from_current(a + b, 1.0, group_currents={"a": a}, group_mode="self", **kwargs)
    alone = spectrum_from_current(a, 1.0, **kwargs)
    np.testing.assert_allclose(own.groups["a"][0], alone.n_alpha_per_cm, rtol=1e-12, atol=1e-9)


def test_quantum_correction_factors():
    nu = np.array([0.0, 208.5, 1000.0, 3400.0])
    x = units.HBAR_EV_FS * units.wavenumber_cm_to_omega_rad_per_fs(nu) / (units.KB_EV_PER_K * 300)
    assert np.allclose(correction_factor("harmonic", nu, 300.0), 1.0)
    assert np.allclose(correction_factor("none", nu, 300.0)[1:], -np.expm1(-x[1:]) / x[1:])
    half = x[1:] / 2
    assert np.allclose(correction_factor("standard", nu, 300.0)[1:], np.tanh(half) / half)
    assert np.allclose(correction_factor("schofield", nu, 300.0)[1:], np.sinh(half) / half)
    for kind in ("none", "standard", "schofield"):
        assert correction_factor(kind, nu, 300.0)[0] == 1.0
    # x = 1 at 208.5 cm^-1 and 300 K: none < standard < harmonic < schofield
    f = [correction_factor(k, nu[1:2], 300.0)[0] for k in ("none", "standard", "harmonic",
                                                              "schofield")]
    assert f == sorted(f) and f[0] == pytest.approx(1 - math.exp(-1), rel=2e-3)


def test_correction_and_eps_inf_scale_the_spectrum():
    current = sines((700.0, 3400.0), (0.02, 0.02), n=4000)
    kw = dict(temperature_K=300.0, volume_A3=1000.0, window_ps=0.5)
    base = spectrum_from_current(current, 1.0, **kw)
    none = spectrum_from_current(current, 1.0, correction="none", eps_inf=1.78, **kw)
    factor = correction_factor("none", base.wavenumber_cm, 300.0) * 1.78
    np.testing.assert_allclose(none.n_alpha_per_cm, base.n_alpha_per_cm * factor, rtol=1e-12,
                               atol=1e-12)
    assert none.sum_rule.integral_cm2 == pytest.approx(1.78 * base.sum_rule.integral_cm2)


def test_blocks_give_error_bars_and_consistent_mean():
    current = sines((1000.0,), (0.02,), n=8000) + np.random.default_rng(5).normal(
        scale=0.005, size=(8000, 3))
    kw = dict(temperature_K=300.0, volume_A3=1000.0, window_ps=0.5)
    one = spectrum_from_current(current, 1.0, **kw)
    four = spectrum_from_current(current, 1.0, n_blocks=4, **kw)
    assert np.all(np.isnan(one.error_per_cm)) and four.n_blocks == 4
    assert np.all(np.isfinite(four.error_per_cm)) and np.all(four.error_per_cm >= 0)
    peak = np.argmax(four.n_alpha_per_cm)
    assert four.error_per_cm[peak] < 0.2 * four.n_alpha_per_cm[peak]
    assert four.n_alpha_per_cm[peak] == pytest.approx(one.n_alpha_per_cm[peak], rel=0.1)


def test_spectrum_is_normalised_with_the_kinetic_temperature():
    """Frames whose velocities are Maxwell-Boltzmann at 150 K while the run's target said 300 K
    (as when NVE production settles away from the equilibration temperature): by default the
    spectrum divides by the kinetic temperature of the frames, and the sum rule holds; with the
    target it would be off by the ratio."""
    from lesdistill.md.trajectory import Trajectory
    from lesdistill.spectra import ir_spectrum

    rng = np.random.default_rng(5)
    n_atoms, n_frames, temperature = 24, 20000, 150.0
    masses = np.tile([16.0, 1.008], n_atoms // 2)
    charges = np.tile([0.6, -0.6], n_atoms // 2)
    sigma = np.sqrt(units.KB_EV_PER_K * temperature / (masses * units.AMU_A2_PER_FS2_TO_EV))  # Å/fs
    v = rng.normal(size=(n_frames, n_atoms, 3)) * sigma[None, :, None]  # uncorrelated frames
    kinetic = 0.5 * (masses[None, :] * units.AMU_A2_PER_FS2_TO_EV * (v**2).sum(axis=2)).sum(axis=1)
    traj = Trajectory(
        timestep_fs=1.0,
        stride=1,
        numbers=np.tile([8, 1], n_atoms // 2),
        masses=masses,
        pbc=np.ones(3, bool),
        cell=np.broadcast_to(np.eye(3) * 10.0, (n_frames, 3, 3)),
        step=np.arange(n_frames),
        dipole_current=(charges[None, :, None] * v).sum(axis=1),
        velocities=v,
        kinetic=kinetic,
        temperature_K=300.0,
        bec=charges[None, :, None, None] * np.eye(3)[None, None],
        bec_frame=np.zeros(1, int),
        meta={"production": "langevin"},
    )
    s = ir_spectrum(traj, window_ps=0.1, max_wavenumber_cm=None)
    assert s.temperature_K == pytest.approx(traj.temperature_series_K().mean())
    assert s.temperature_K == pytest.approx(temperature, rel=0.01)
    assert abs(s.sum_rule.relative_mismatch) < 0.02
    at_target = ir_spectrum(traj, temperature_K=300.0, window_ps=0.1, max_wavenumber_cm=None)
    assert at_target.sum_rule.relative_mismatch == pytest.approx(-0.5, abs=0.02)
