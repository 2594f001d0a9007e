"""The latent-charge sign convention: flipping the charge head is an exact symmetry."""

from __future__ import annotations

import torch

from lesdistill.data.batch import AtomicBatch
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.charge_sign import (
    charge_electronegativity_covariance,
    flip_charge_sign,
    follows_convention,
)
from lesdistill.systems import water_box


def test_flip_negates_charges_and_keeps_energy_and_forces():
    torch.manual_seed(0)
    model = StudentModel(StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64"))
    batch = AtomicBatch.from_atoms([water_box(n_molecules=8, seed=1)], model.cutoff)
    before = model(batch)
    decided = follows_convention(model, [batch])
    assert decided is not None
    flip_charge_sign(model)
    after = model(batch)
    torch.testing.assert_close(after["latent_charges"], -before["latent_charges"])
    torch.testing.assert_close(after["energy"], before["energy"])
    torch.testing.assert_close(after["forces"], before["forces"])
    assert follows_convention(model, [batch]) is (not decided)


def test_covariance_sign_and_unknown_elements():
    numbers = torch.tensor([8, 1, 1])
    assert charge_electronegativity_covariance(numbers, torch.tensor([-0.8, 0.4, 0.4])) < 0
    assert charge_electronegativity_covariance(numbers, torch.tensor([0.8, -0.4, -0.4])) > 0
    assert (
        charge_electronegativity_covariance(torch.tensor([118, 1]), torch.tensor([0.1, -0.1]))
        is None
    )
