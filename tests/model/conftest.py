"""Small seeded structures and float64 students for the model tests."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from lesdistill.model import StudentConfig, StudentModel


def random_structure(symbols: list[str], cell, pbc, seed: int, min_distance: float = 0.9) -> Atoms:
    """Random positions (no pair closer than ``min_distance`` Å, minimum image) in ``cell``."""
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, dtype=float)
    atoms = Atoms(cell=cell, pbc=pbc)
    while len(atoms) < len(symbols):
        candidate = rng.uniform(0.0, 1.0, 3) @ cell
        trial = atoms + Atoms([symbols[len(atoms)]], positions=[candidate])
        if len(atoms) == 0:
            atoms = trial
            continue
        distances = trial.get_distances(len(atoms), range(len(atoms)), mic=bool(np.any(pbc)))
        if distances.min() > min_distance:
            atoms = trial
    atoms.set_cell(cell if np.any(pbc) else np.zeros((3, 3)))
    return atoms


def _make_model(**overrides) -> StudentModel:
    values = {
        "elements": ["H", "O"],
        "dtype": "float64",
        "les_method": "ewald",
        "eps_inf": 1.5,
        "seed": 3,
    }
    values.update(overrides)
    model = StudentModel(StudentConfig.from_preset(overrides.pop("preset", "tiny"), **values))
    model.set_reference_energies({e: -1.5 - 0.5 * k for k, e in enumerate(model.elements)})
    return model.eval()


@pytest.fixture(scope="session")
def make_model():
    """Factory: float64 tiny H/O student (Ewald LES, eps_inf 1.5, E0 set) with config overrides."""
    return _make_model


@pytest.fixture(scope="module")
def student_model() -> StudentModel:
    return _make_model()


@pytest.fixture
def periodic_atoms() -> Atoms:
    cell = [[5.6, 0.0, 0.0], [0.7, 5.9, 0.0], [-0.4, 0.5, 6.3]]  # triclinic, right-handed, < 2 r_c
    return random_structure(["O", "H", "H"] * 4, cell, True, seed=11)


@pytest.fixture
def open_atoms() -> Atoms:
    return random_structure(
        ["O", "H", "H", "O", "H", "H", "H"], np.diag([4.0, 4.0, 4.0]), False, seed=12
    )
