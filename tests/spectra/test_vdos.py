"""VDOS: analytic oscillators and ASE MD of a harmonic crystal peak at the right wavenumber,
the normalisation counts degrees of freedom, teacher-vs-student band shifts, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.spectra.vdos import compare_vdos, format_vdos_table, nyquist_cm, vdos
from lesdistill.units import SPEED_OF_LIGHT_CM_PER_FS


def _oscillators(nu_cm: float, n_atoms: int, n_frames: int, dt_fs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    omega = 2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS * nu_cm  # rad/fs
    t = np.arange(n_frames) * dt_fs
    phase = rng.uniform(0, 2 * np.pi, size=(n_atoms, 3))
    amp = rng.choice([-1.0, 1.0], size=(n_atoms, 3))
    return amp[None] * np.cos(omega * t[:, None, None] + phase[None])


def test_analytic_oscillators_peak_at_their_frequency_and_count_dof() -> None:
    dt = 1.0
    # equipartition: amplitude ~ 1/sqrt(m)
    v = np.concatenate([_oscillators(1600.0, 4, 4000, dt, 0) / 4.0,
                        _oscillators(3500.0, 2, 4000, dt, 1)], axis=1)
    masses = np.array([16.0] * 4 + [1.0] * 2)
    g = vdos(v, masses, dt, symbols=["O"] * 4 + ["H"] * 2, window_ps=1.0)
    assert np.trapezoid(g.total, g.wavenumber_cm) == pytest.approx(18.0, rel=1e-3)
    assert np.trapezoid(g.per_element["H"], g.wavenumber_cm) == pytest.approx(6.0, rel=1e-3)
    o_peak = g.wavenumber_cm[np.argmax(g.per_element["O"])]
    h_peak = g.wavenumber_cm[np.argmax(g.per_element["H"])]
    assert o_peak == pytest.approx(1600.0, abs=3.0) and h_peak == pytest.approx(3500.0, abs=3.0)
    # mass weighting: at equal kinetic energy per atom the 4 O carry 2/3 of the states
    near = np.abs(g.wavenumber_cm - 1600) < 100
    assert np.trapezoid(g.total[near], g.wavenumber_cm[near]) == pytest.approx(12.0, rel=0.05)


def test_ase_harmonic_md_peaks_at_sqrt_k_over_m() -> None:
    """Atoms tethered by springs (ASE MD, velocity Verlet): nu = sqrt(k/m) / (2 pi c)."""
    from ase import Atoms, units
    from ase.calculators.calculator import Calculator, all_changes
    from ase.md.verlet import VelocityVerlet

    class Springs(Calculator):
        implemented_properties = ["energy", "forces"]

        def __init__(self, k: float, anchor: np.ndarray) -> None:
            super().__init__()
            self.k, self.anchor = k, anchor

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            d = self.atoms.positions - self.anchor
            self.results = {"energy": 0.5 * self.k * float(np.sum(d ** 2)), "forces": -self.k * d}

    rng = np.random.default_rng(3)
    atoms = Atoms("O4", positions=rng.uniform(0, 10, size=(4, 3)))
    k = 20.0  # eV/Å^2
    atoms.calc = Springs(k, atoms.positions.copy())
    atoms.set_velocities(rng.normal(scale=0.01, size=(4, 3)) / units.fs)  # Å/fs -> ASE units
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    vel = []
    dyn.attach(lambda: vel.append(atoms.get_velocities() * units.fs), interval=2)  # Å/fs
    dyn.run(1200)
    g = vdos(np.array(vel), atoms.get_masses(), 2.0)
    mass_kg = atoms.get_masses()[0] * 1.66053906660e-27
    omega = np.sqrt(k * 1.602176634e-19 / 1e-20 / mass_kg)  # rad/s
    expected = omega / (2 * np.pi * 2.99792458e10)
    peak = g.wavenumber_cm[np.argmax(g.total)]
    assert peak == pytest.approx(expected, rel=0.01)  # Verlet shifts it by ~(omega dt)^2/24


def test_compare_vdos_band_shifts() -> None:
    dt = 1.0
    teacher = vdos(_oscillators(1640.0, 6, 3000, dt, 0), np.ones(6), dt)
    student = vdos(_oscillators(1600.0, 6, 3000, dt, 0), np.ones(6), dt)
    rows = {r["band"]: r for r in compare_vdos(teacher, student, "water")}
    assert rows["bend"]["shift_cm"] == pytest.approx(-40.0, abs=3.0)
    assert rows["OH stretch"]["shift_cm"] is None  # no peak in that window
    assert "bend" in format_vdos_table(list(rows.values()))
    assert nyquist_cm(4.0) == pytest.approx(4170, rel=1e-3)


@pytest.mark.parametrize("shape,dt", [((10, 3, 2), 1.0), ((4, 3, 3), 1.0), ((20, 3, 3), 0.0)])
def test_bad_input_is_rejected(shape, dt) -> None:
    with pytest.raises(ValueError):
        vdos(np.ones(shape), np.ones(3), dt)
