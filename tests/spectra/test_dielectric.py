"""Dielectric response of fixed-charge harmonic oscillators (Lorentz model, known exactly).

N independent charges q_i on springs k_i (frequency omega_i) with Langevin friction gamma in a
periodic box of volume V have, with tin-foil boundaries,

    eps(omega) = eps_inf + sum_i q_i^2 / (V eps0 m_i) / (omega_i^2 - omega^2 - i gamma omega),
    eps_0 = eps_inf + sum_i q_i^2 / (V eps0 k_i).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms

from lesdistill import units
from lesdistill.errors import UserInputError
from lesdistill.md import load_trajectory, run_md
from lesdistill.spectra.dielectric import dielectric_function, integrate_current, static_dielectric
from lesdistill.spectra.ir import spectrum_from_current
from tests.md.fixed_charge_toy import TetheredCharges, spring_for_wavenumber

BOX_A, CHARGE, WAVENUMBER, COUPLING_FS = 16.0, 0.5, 100.0, 100.0


@pytest.fixture(scope="module")
def oscillators(tmp_path_factory):
    rng = np.random.default_rng(7)
    n = 32
    symbols = ["O" if i % 2 == 0 else "H" for i in range(n)]
    atoms = Atoms(symbols, positions=rng.uniform(0, BOX_A, (n, 3)), cell=[BOX_A] * 3, pbc=True)
    masses = atoms.get_masses()
    springs = np.array([spring_for_wavenumber(WAVENUMBER, m) for m in masses])
    charges = np.where(np.arange(n) % 2 == 0, CHARGE, -CHARGE)
    atoms.calc = TetheredCharges(atoms.positions.copy(), springs, charges)
    out = tmp_path_factory.mktemp("lorentz") / "md"
    run_md(atoms, out, temperature_K=300.0, timestep_fs=1.0, n_equil=2000, n_steps=24000,
           stride=1, production="langevin", production_coupling_fs=COUPLING_FS, seed=3,
           chunk_frames=4000, progress=False, guard_min_distance_A=None)
    volume = BOX_A ** 3
    exact = 1.0 + float(np.sum(charges ** 2 / springs)) / (volume * units.EPSILON0_E2_PER_EV_A)
    return out, charges, springs, masses, exact


def test_integrated_current_is_the_dipole_of_fixed_charges(oscillators):
    path, charges, *_ = oscillators
    traj = load_trajectory(path)
    m = integrate_current(traj.dipole_current, traj.frame_dt_fs)
    direct = np.einsum("i,fia->fa", charges, traj.positions)
    drift = m - (direct - direct[0])
    spread = np.sqrt(np.mean((direct - direct.mean(0)) ** 2))
    # trapezoid rule vs the exact dipole: Langevin noise makes the difference a slow random walk
    assert np.sqrt(np.mean((drift - drift.mean(0)) ** 2)) < 0.2 * spread
    # ... that hardly changes the fluctuations eps_0 is made of
    assert np.var(m, axis=0).sum() == pytest.approx(np.var(direct, axis=0).sum(), rel=0.02)


def test_static_dielectric_constant_of_harmonic_ions_with_error_bar_and_convergence(oscillators):
    path, _, _, _, exact = oscillators
    result = static_dielectric(path, n_blocks=6, temperature_K=300.0)
    assert exact == pytest.approx(6.07, abs=0.01)  # 1 + sum q^2/(V eps0 k) for this box
    assert abs(result.eps0 - exact) < 3.0 * result.error + 0.01 * exact
    assert 0.002 * exact < result.error < 0.06 * exact
    runs = [t for t, _, _ in result.convergence]
    errors = [s for _, _, s in result.convergence]
    assert runs == pytest.approx([3.0, 6.0, 12.0, 24.0], rel=0.01)
    assert errors[-1] < errors[0]  # the error bar shrinks with run length (~ 1/sqrt(T))
    assert "eps_0" in result.text() and result.to_dict()["eps0"] == result.eps0
    with pytest.raises(UserInputError, match="frames per block"):
        static_dielectric(path, n_blocks=10 ** 5)


def test_dielectric_function_is_the_lorentz_model(oscillators):
    path, charges, springs, masses, exact = oscillators
    eps = dielectric_function(path, temperature_K=300.0, window="hann", window_ps=4.0,
                              n_blocks=3, max_wavenumber_cm=400.0)
    omega = eps.wavenumber_cm * 2 * math.pi * units.SPEED_OF_LIGHT_CM_PER_FS
    gamma = 1.0 / COUPLING_FS
    strength = charges ** 2 / (masses * units.AMU_A2_PER_FS2_TO_EV)  # e^2 / (amu Å^2 fs^-2 eV)
    omega0 = np.sqrt(springs / (masses * units.AMU_A2_PER_FS2_TO_EV))
    lorentz = 1.0 + np.sum(strength[:, None] / (omega0[:, None] ** 2 - omega[None] ** 2
                                                 - 1j * gamma * omega[None]), axis=0) / (
        BOX_A ** 3 * units.EPSILON0_E2_PER_EV_A)
    assert eps.static_limit == pytest.approx(exact, rel=0.08)
    far = (eps.wavenumber_cm > 200) & (eps.wavenumber_cm < 400)
    np.testing.assert_allclose(eps.real[far], lorentz.real[far], atol=0.05 * exact)
    band = (eps.wavenumber_cm > 20) & (eps.wavenumber_cm < 250)  # the absorption band
    nu = eps.wavenumber_cm[band]
    centre = float(np.sum(nu * eps.imag[band]) / np.sum(eps.imag[band]))
    assert centre == pytest.approx(float(np.sum(nu * lorentz.imag[band])
                                         / np.sum(lorentz.imag[band])), abs=6.0)
    assert np.sum(eps.imag[band]) == pytest.approx(np.sum(lorentz.imag[band]), rel=0.1)
    # eps'' is the harmonic IR intensity over 2 pi nu~: the same autocorrelation
    traj = load_trajectory(path, positions=False)
    ir = spectrum_from_current(traj.dipole_current, traj.frame_dt_fs, temperature_K=300.0,
                               volume_A3=BOX_A ** 3, window="hann", window_ps=4.0, n_blocks=3,
                               max_wavenumber_cm=400.0)
    inside = ir.wavenumber_cm > 5
    np.testing.assert_allclose(eps.imag[inside],
                               ir.n_alpha_per_cm[inside] / (2 * math.pi * ir.wavenumber_cm[inside]),
                               rtol=1e-6, atol=1e-9)
    # f-sum rule of eps'' (window w(0) = 1): integral omega eps'' d omega = pi/2 sum q^2/(V eps0 m)
    step = omega[1] - omega[0]
    full = dielectric_function(path, temperature_K=300.0, window_ps=4.0, n_blocks=3,
                               max_wavenumber_cm=None)
    w_full = full.wavenumber_cm * 2 * math.pi * units.SPEED_OF_LIGHT_CM_PER_FS
    f_sum = float(np.sum(w_full * full.imag) * step)
    plasma = float(np.sum(strength)) / (BOX_A ** 3 * units.EPSILON0_E2_PER_EV_A)
    current2 = float(np.mean(np.sum(traj.dipole_current ** 2, axis=1)))  # <|Mdot|^2>
    pref = 1.0 / (3 * BOX_A ** 3 * units.EPSILON0_E2_PER_EV_A * units.KB_EV_PER_K * 300.0)
    assert f_sum == pytest.approx(0.5 * math.pi * pref * current2, rel=3e-3)
    # ... and <|Mdot|^2> = 3 k_B T sum_i q_i^2 / m_i up to the sampling noise of 24 ps
    kinetic = traj.temperature_series_K().mean() / 300.0
    assert f_sum == pytest.approx(0.5 * math.pi * plasma * kinetic, rel=0.04)
