"""A student with the slab correction (les_slab_correction: yeh-berkowitz): config, energy,
forces/stress by finite differences, polarization and BECs through the calculator (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesdistill import StudentCalculator, keys
from lesdistill.errors import UserInputError
from lesdistill.les.slab import slab_correction_energy
from lesdistill.model import StudentConfig
from lesdistill.model.student import right_handed
from lesdistill.testing import (
    check_forces_finite_difference,
    check_stress_finite_difference,
)
from tests.model.conftest import random_structure


@pytest.fixture(scope="module")
def slab_atoms():
    """Water-like H/O atoms in a 4 Å thick layer, 12 Å of vacuum along z (cell 5.6 x 5.9 x 16 Å)."""
    atoms = random_structure(
        ["O", "H", "H"] * 3, [[5.6, 0, 0], [0.7, 5.9, 0], [0, 0, 4.0]], True, seed=21
    )
    atoms.positions[:, 2] += 6.0
    atoms.set_cell([[5.6, 0, 0], [0.7, 5.9, 0], [0.3, -0.2, 16.0]], scale_atoms=False)
    return atoms


def _strong_charges(model):
    """Latent charges ~0.3 e (the random head's are ~0.01 e): scale the head's output layer."""
    with torch.no_grad():
        model.charge_head[-1].weight.mul_(30.0)
        model.charge_head[-1].bias.mul_(30.0)
    return model


def test_config_validates_the_slab_option():
    cfg = StudentConfig.from_preset(
        "tiny", elements=["H", "O"], les_slab_correction="yeh-berkowitz"
    )
    assert (
        cfg.slab and StudentConfig.from_dict(cfg.to_dict()).les_slab_correction == "yeh-berkowitz"
    )
    assert not StudentConfig(elements=("H",)).slab
    with pytest.raises(UserInputError, match="les_slab_correction must be one of"):
        StudentConfig(elements=("H",), les_slab_correction="slab")
    with pytest.raises(UserInputError, match="latent-charge long-range"):
        StudentConfig(elements=("H",), les_slab_correction="yeh-berkowitz", long_range=False)


def test_slab_student_energy_forces_stress(make_model, slab_atoms):
    bulk = _strong_charges(make_model())
    slab = make_model(les_slab_correction="yeh-berkowitz")
    slab.load_state_dict(bulk.state_dict())
    calc_bulk, calc_slab = StudentCalculator(bulk), StudentCalculator(slab)
    e_bulk = calc_bulk.get_property(keys.ENERGY_LONG_RANGE, slab_atoms.copy())
    atoms = slab_atoms.copy()
    e_slab = calc_slab.get_property(keys.ENERGY_LONG_RANGE, atoms)
    q = torch.tensor(calc_slab.results[keys.CHARGES]) / np.sqrt(
        slab.config.eps_inf
    )  # latent charges
    cell = right_handed(torch.tensor(atoms.cell.array))
    expected = float(
        slab_correction_energy(q, torch.tensor(atoms.positions), cell, sigma=slab.config.les_sigma)
    )
    assert abs(expected) > 1e-3
    assert e_slab - e_bulk == pytest.approx(expected, rel=1e-8, abs=1e-10)
    check_forces_finite_difference(slab, slab_atoms.copy(), atol=1e-6)
    check_stress_finite_difference(slab, slab_atoms.copy(), atol=1e-7)


def test_slab_student_polarization_and_bec(make_model, slab_atoms):
    model = _strong_charges(make_model(les_slab_correction="yeh-berkowitz"))
    calc = StudentCalculator(model)
    atoms = slab_atoms.copy()
    p = calc.get_property(keys.POLARIZATION, atoms)
    q = calc.results[keys.CHARGES]
    q = q - q.mean()
    assert p[2] == pytest.approx(float(q @ atoms.positions[:, 2]), rel=1e-8)
    bec = calc.get_property(keys.BEC, atoms)
    h = 1e-5
    for i, b in [(0, 2), (4, 0), (7, 2)]:
        moved = []
        for sign in (1, -1):
            trial = slab_atoms.copy()
            trial.positions[i, b] += sign * h
            moved.append(StudentCalculator(model).get_property(keys.POLARIZATION, trial)[2])
        assert bec[i, 2, b] == pytest.approx((moved[0] - moved[1]) / (2 * h), rel=1e-5, abs=1e-7)


def test_export_refuses_a_slab_student(make_model, slab_atoms, tmp_path):
    from lesdistill.engines.export import export_student

    model = make_model(les_slab_correction="yeh-berkowitz")
    with pytest.raises(UserInputError, match="les_slab_correction"):
        export_student(model, slab_atoms, tmp_path / "student.pt2")
    assert not (tmp_path / "student.pt2").exists()
