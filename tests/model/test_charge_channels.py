"""Several latent charge channels (``les_channels``): E_long = sum_c E_LES(q_c), forces and BECs
by finite differences, channel totals, bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.calculators.fd import calculate_numerical_forces

from lesdistill import keys
from lesdistill.calculator import StudentCalculator
from lesdistill.data.batch import AtomicBatch
from lesdistill.errors import UserInputError
from lesdistill.les import energy as les_energy
from lesdistill.model import StudentConfig


@pytest.fixture(scope="module")
def model3(make_model):
    return make_model(les_channels=3)


@pytest.mark.parametrize("periodic", [False, True])
def test_channel_forces_by_finite_differences(model3, periodic, open_atoms, periodic_atoms):
    atoms = periodic_atoms if periodic else open_atoms
    atoms.calc = StudentCalculator(model3, skin=0.0)
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-4),
                               atol=1e-7)


def test_long_range_is_the_sum_over_channels(model3, periodic_atoms):
    periodic_atoms.info[keys.TOTAL_CHARGE] = 1.0
    batch = AtomicBatch.from_atoms(periodic_atoms, model3.cutoff)
    out = model3(batch, compute_forces=False)
    species = model3.species(batch.numbers)
    vectors = model3._edge_vectors(batch, batch.positions, batch.cell)
    features, _ = model3.backbone(species, batch.edge_index, vectors, batch)
    q = model3._charges(features, batch)  # [N, 3]
    assert q.shape == (len(periodic_atoms), 3)
    np.testing.assert_allclose(q.sum(dim=0).detach().numpy(), [1 / 3 / 1.5**0.5] * 3, atol=1e-12)
    cell = batch.cell[0]
    expected = sum(les_energy(q[:, c], batch.positions, cell, sigma=model3.config.les_sigma,
                              dl=model3.config.les_dl, method="ewald") for c in range(3))
    assert float(out[keys.ENERGY_LONG_RANGE][0].detach()) == pytest.approx(
        float(expected.detach()), rel=1e-10
    )
    np.testing.assert_allclose(
        out[keys.LATENT_CHARGES].detach().numpy(), q.sum(dim=1).detach().numpy()
    )
    assert float(out[keys.CHARGES].detach().sum()) == pytest.approx(1.0, abs=1e-10)


def test_channel_bec_is_the_derivative_of_the_summed_dipole(model3, open_atoms):
    open_atoms.calc = StudentCalculator(model3, skin=0.0)
    bec = open_atoms.calc.get_property("born_effective_charges", open_atoms)
    h = 1e-4
    moved = []
    for sign in (1, -1):
        a = open_atoms.copy()
        a.positions[2, 1] += sign * h
        a.calc = StudentCalculator(model3, skin=0.0)
        moved.append(a.get_dipole_moment())
    np.testing.assert_allclose(bec[2, :, 1], (moved[0] - moved[1]) / (2 * h), atol=1e-7)


def test_one_channel_is_the_plain_student(make_model, periodic_atoms):
    a, b = make_model(), make_model(les_channels=1)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_bad_channel_settings():
    with pytest.raises(UserInputError, match="les_channels must be a positive integer"):
        StudentConfig(elements=("H",), les_channels=0)
    with pytest.raises(UserInputError, match="one charge channel"):
        StudentConfig(elements=("H",), charge_model="qeq", les_channels=2)
