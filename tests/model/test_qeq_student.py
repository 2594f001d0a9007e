"""The charge-equilibration student: forces, stress and BECs by finite differences through the
solve, total charges, CG = dense, bad settings, checkpoints with and without the new fields."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from lesdistill.calculator import StudentCalculator
from lesdistill.errors import UserInputError
from lesdistill.model import StudentConfig, load_student, save_student


@pytest.fixture(scope="module")
def qeq_model():
    from tests.model.conftest import _make_model

    model = _make_model(charge_model="qeq", qeq_hardness_min=2.0)
    # a visible electronegativity contrast (an untrained head gives |q| ~ 1e-3 e)
    last = model.charge_head[-1]
    last.bias.data[0] = 0.0
    last.weight.data[0] *= 30.0
    return model


@pytest.mark.parametrize("periodic", [False, True])
def test_qeq_forces_and_stress_by_finite_differences(
    qeq_model, periodic, open_atoms, periodic_atoms
):
    atoms = periodic_atoms if periodic else open_atoms
    atoms.calc = StudentCalculator(qeq_model, skin=0.0)
    charges = atoms.get_charges()
    assert np.abs(charges).max() > 0.02
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-4),
                               atol=1e-7)
    if periodic:
        np.testing.assert_allclose(atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5),
                                   atol=1e-7)


def test_qeq_bec_is_the_derivative_of_the_dipole(qeq_model, open_atoms):
    atoms = open_atoms
    atoms.calc = StudentCalculator(qeq_model, skin=0.0)
    bec = atoms.calc.get_property("born_effective_charges", atoms)
    h = 1e-4
    for i, b in ((0, 2), (4, 0)):
        moved = []
        for sign in (1, -1):
            a = atoms.copy()
            a.positions[i, b] += sign * h
            a.calc = StudentCalculator(qeq_model, skin=0.0)
            moved.append(a.get_dipole_moment())
        np.testing.assert_allclose(bec[i, :, b], (moved[0] - moved[1]) / (2 * h), atol=1e-7)
    # charge flows with the geometry: Z* is not q I
    assert np.abs(bec[0] - atoms.get_charges()[0] * np.eye(3)).max() > 1e-3


@pytest.mark.parametrize("total", [0.0, 1.0, -2.0])
def test_qeq_total_charge(qeq_model, periodic_atoms, total):
    atoms = periodic_atoms
    atoms.info["total_charge"] = total
    atoms.calc = StudentCalculator(qeq_model)
    assert atoms.get_charges().sum() == pytest.approx(total, abs=1e-10)


def test_cg_solver_equals_dense(qeq_model, periodic_atoms):
    import copy

    cg = copy.deepcopy(qeq_model)
    cg.config.qeq_solver = "cg"
    dense = StudentCalculator(qeq_model, skin=0.0)
    iterative = StudentCalculator(cg, skin=0.0)
    a, b = periodic_atoms.copy(), periodic_atoms.copy()
    a.calc, b.calc = dense, iterative
    assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-8)
    np.testing.assert_allclose(b.calc.get_property("born_effective_charges", b),
                               a.calc.get_property("born_effective_charges", a), atol=1e-8)


def test_bad_qeq_settings():
    with pytest.raises(UserInputError, match="qeq_hardness_min must be > 0"):
        StudentConfig(elements=("H",), charge_model="qeq", qeq_hardness_min=0.0)
    with pytest.raises(UserInputError, match="charge_model"):
        StudentConfig(elements=("H",), charge_model="eem")
    with pytest.raises(UserInputError, match="needs the long-range"):
        StudentConfig(elements=("H",), charge_model="qeq", long_range=False)


def test_checkpoints_round_trip_and_old_configs_load(
    tmp_path, qeq_model, make_model, periodic_atoms
):
    path = save_student(qeq_model, tmp_path / "qeq.pt")
    loaded = load_student(path)
    assert loaded.config.charge_model == "qeq"
    a, b = periodic_atoms.copy(), periodic_atoms.copy()
    a.calc, b.calc = StudentCalculator(qeq_model), StudentCalculator(loaded)
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-12)
    # a config written before the Qeq fields existed builds the plain student
    old = make_model().config.to_dict()
    for key in ("charge_model", "qeq_hardness_min", "qeq_solver"):
        old.pop(key)
    assert StudentConfig.from_dict(old).charge_model == "latent"
