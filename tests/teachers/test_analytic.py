"""Analytic ionic teacher: exact Ewald (Madelung), finite-difference forces and stress."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from lesdistill.systems.ionic import random_ionic_box
from lesdistill.teachers.analytic import ANALYTIC_MODELS, AnalyticIonicCalculator, IonicModel
from lesdistill.units import COULOMB_EV_A

MADELUNG_NACL = 1.747564594633  # rock salt, referred to the nearest-neighbour distance


def _energy(atoms: Atoms, model: IonicModel) -> float:
    work = atoms.copy()
    work.calc = AnalyticIonicCalculator(model)
    return work.get_potential_energy()


def _repulsion_direct(atoms: Atoms, model: IonicModel) -> float:
    i, j, d = neighbor_list("ijd", atoms, model.cutoff_A)
    shift = np.exp(-model.cutoff_A / model.repulsion_rho_A)
    return 0.5 * float(np.sum(model.repulsion_A_eV * (np.exp(-d / model.repulsion_rho_A) - shift)))


@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("name", ["ionic", "ionic-half"])
def test_rocksalt_madelung_plus_repulsion(name: str, cubic: bool) -> None:
    model = ANALYTIC_MODELS[name]
    a = 5.64
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=cubic)
    q = model.charges["Na"]
    n_pairs = len(atoms) // 2
    expected = (
        -MADELUNG_NACL * q**2 * COULOMB_EV_A / (a / 2) + _repulsion_direct(atoms, model) / n_pairs
    )
    assert _energy(atoms, model) / n_pairs == pytest.approx(expected, abs=1e-7)


def test_rocksalt_equilibrium_near_2p8_angstrom() -> None:
    model = ANALYTIC_MODELS["ionic"]
    lattice = np.linspace(5.2, 6.2, 21)
    energies = [_energy(bulk("NaCl", "rocksalt", a=a), model) for a in lattice]
    r0 = lattice[int(np.argmin(energies))] / 2
    assert 2.6 < r0 < 3.0


def test_ewald_independent_of_splitting() -> None:
    atoms = random_ionic_box(n_pairs=6, seed=3)
    e1 = _energy(atoms, IonicModel(cutoff_A=6.0))
    e2 = _energy(atoms, IonicModel(cutoff_A=9.0, tolerance=1e-12))
    shift_fix = _repulsion_direct(atoms, IonicModel(cutoff_A=6.0)) - _repulsion_direct(
        atoms, IonicModel(cutoff_A=9.0))
    assert e1 - e2 == pytest.approx(shift_fix, abs=1e-6)


@pytest.mark.parametrize("periodic", [True, False])
def test_forces_finite_difference(periodic: bool) -> None:
    atoms = random_ionic_box(n_pairs=4, seed=1)
    if not periodic:
        atoms.pbc = False
        atoms.cell = None
    model = ANALYTIC_MODELS["ionic"]
    atoms.calc = AnalyticIonicCalculator(model)
    forces = atoms.get_forces()
    h = 1e-4
    rng = np.random.default_rng(0)
    for a in rng.choice(len(atoms), size=3, replace=False):
        for c in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, c] += h
            minus.positions[a, c] -= h
            fd = -(_energy(plus, model) - _energy(minus, model)) / (2 * h)
            assert forces[a, c] == pytest.approx(fd, abs=1e-5, rel=1e-5)
    assert np.abs(forces.sum(axis=0)).max() < 1e-8  # no net force


def test_stress_finite_difference() -> None:
    atoms = random_ionic_box(n_pairs=4, seed=2)
    model = ANALYTIC_MODELS["ionic"]
    atoms.calc = AnalyticIonicCalculator(model)
    stress = atoms.get_stress(voigt=False)
    volume = atoms.get_volume()
    h = 1e-5
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            energies.append(_energy(strained, model))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        assert stress[a, b] == pytest.approx(fd, abs=1e-6)


def test_charges_translation_and_permutation() -> None:
    atoms = random_ionic_box(n_pairs=5, seed=4)
    model = ANALYTIC_MODELS["ionic-half"]
    atoms.calc = AnalyticIonicCalculator(model)
    e0 = atoms.get_potential_energy()
    charges = atoms.calc.results["charges"]
    np.testing.assert_allclose(charges, [0.5, -0.5] * 5)
    moved = atoms.copy()
    moved.positions += [1.3, -0.7, 2.9]
    assert _energy(moved, model) == pytest.approx(e0, abs=1e-8)
    perm = np.random.default_rng(5).permutation(len(atoms))
    assert _energy(atoms[perm], model) == pytest.approx(e0, abs=1e-8)


def test_bad_input() -> None:
    calc = AnalyticIonicCalculator()
    with pytest.raises(ValueError, match="K"):
        calc.get_potential_energy(Atoms("NaK", positions=[[0, 0, 0], [3, 0, 0]]))
    with pytest.raises(ValueError, match="neutral"):
        charged = Atoms("NaNa", positions=[[0, 0, 0], [3, 0, 0]], cell=[8, 8, 8], pbc=True)
        AnalyticIonicCalculator().get_potential_energy(charged)
    with pytest.raises(ValueError, match="cutoff_A"):
        IonicModel(cutoff_A=-1.0)


def test_random_ionic_box() -> None:
    atoms = random_ionic_box(n_pairs=12, number_density_per_A3=0.03, min_distance_A=2.4, seed=7)
    assert len(atoms) == 24 and atoms.pbc.all()
    assert atoms.get_chemical_formula() == "Cl12Na12"
    assert len(atoms) / atoms.get_volume() == pytest.approx(0.03)
    d = atoms.get_all_distances(mic=True)[np.triu_indices(24, 1)]
    assert d.min() >= 2.4
    again = random_ionic_box(n_pairs=12, number_density_per_A3=0.03, min_distance_A=2.4, seed=7)
    np.testing.assert_array_equal(atoms.positions, again.positions)
    with pytest.raises(ValueError, match="too large"):
        random_ionic_box(n_pairs=12, number_density_per_A3=0.09, min_distance_A=3.0)
