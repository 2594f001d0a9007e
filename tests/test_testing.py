"""lesdistill.testing checks must catch broken models (each check is shown to be able to fail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from lesdistill import StudentCalculator, keys
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.model.painn import PaiNN
from lesdistill.testing import (
    check_far_apart,
    check_forces_finite_difference,
    check_invariance,
    check_short_range_cutoff,
    check_stress_finite_difference,
)


def _model(**overrides) -> StudentModel:
    values = {
        "elements": ["H", "O"],
        "dtype": "float64",
        "les_method": "ewald",
        "seed": 2,
        **overrides,
    }
    return StudentModel(StudentConfig.from_preset("tiny", **values)).eval()


def _atoms(periodic: bool) -> Atoms:
    rng = np.random.default_rng(5)
    base = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    positions = np.concatenate(
        [base + shift for shift in ([0.5, 0.5, 0.5], [3.2, 0.6, 1.0], [1.2, 3.1, 3.0])]
    )
    positions += rng.uniform(-0.1, 0.1, positions.shape)
    atoms = Atoms("OH2OH2OH2", positions=positions)
    if periodic:
        atoms.set_cell([[5.5, 0.0, 0.0], [0.4, 5.3, 0.0], [0.3, -0.2, 5.8]])
        atoms.pbc = True
    return atoms


class _ScaledCalculator(StudentCalculator):
    """Forces or stress off by a factor: what a sign/unit bug looks like."""

    def __init__(self, model, key: str, factor: float) -> None:
        super().__init__(model)
        self.key, self.factor = key, factor

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(
            atoms, properties, system_changes if system_changes is not None else ["positions"]
        )
        if self.key in self.results:
            self.results[self.key] = self.results[self.key] * self.factor


class _LeakyPaiNN(PaiNN):
    """Adds a term that depends on the absolute x direction and on the structure's atom count."""

    def __init__(self, config: StudentConfig, leak: str) -> None:
        super().__init__(config)
        self.leak = leak

    def forward(self, species, edge_index, edge_vectors, batch):
        features, energies = super().forward(species, edge_index, edge_vectors, batch)
        if self.leak == "rotation":
            extra = torch.zeros_like(energies).index_add_(
                0, edge_index[0], 0.05 * edge_vectors[:, 0] ** 2
            )
        else:  # "global": every atom feels the size of its structure
            extra = 0.01 * batch.n_atoms.to(energies.dtype)[batch.batch]
        return features, energies + extra


class _HardCutoffPaiNN(PaiNN):
    def __init__(self, config: StudentConfig) -> None:
        super().__init__(config)
        self.envelope.forward = lambda r: (r < config.cutoff).to(r.dtype)  # type: ignore[method-assign]


def test_checks_pass_on_a_good_model():
    model = _model()
    assert check_forces_finite_difference(model, _atoms(True)) < 1e-6
    assert check_stress_finite_difference(model, _atoms(True)) < 1e-7
    assert check_invariance(model, _atoms(False)) < 1e-8
    assert check_short_range_cutoff(model) < 1e-6
    assert check_far_apart(model, _atoms(False), _atoms(False)) < 1e-8


@pytest.mark.parametrize("key", [keys.FORCES, keys.STRESS])
def test_finite_difference_checks_catch_wrong_derivatives(key):
    calc = _ScaledCalculator(_model(), key, 1.02)
    check = check_forces_finite_difference if key == keys.FORCES else check_stress_finite_difference
    with pytest.raises(AssertionError, match="finite differences"):
        check(calc, _atoms(True))


def test_invariance_check_catches_orientation_dependence():
    model = _model()
    model.backbone = _LeakyPaiNN(model.config, "rotation").to(torch.float64)
    with pytest.raises(AssertionError, match="rotation invariance"):
        check_invariance(model, _atoms(False))


def test_far_apart_check_catches_global_coupling():
    model = _model()
    model.backbone = _LeakyPaiNN(model.config, "global").to(torch.float64)
    with pytest.raises(AssertionError, match="not additive"):
        check_far_apart(model, _atoms(False), _atoms(False))


def test_far_apart_check_catches_wrong_long_range_prefactor():
    model = _model(neutrality="none")
    original = model._long_range
    model._long_range = lambda *args: 1.1 * original(*args)  # type: ignore[method-assign]
    with pytest.raises(AssertionError, match="Coulomb cross term"):
        check_far_apart(model, _atoms(False), _atoms(False))


def test_cutoff_check_catches_hard_cutoff():
    model = _model()
    model.backbone = _HardCutoffPaiNN(model.config).to(torch.float64)
    with pytest.raises(AssertionError, match="must vanish smoothly"):
        check_short_range_cutoff(model)
