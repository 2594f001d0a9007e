"""Fixtures for the training tests: small datasets labelled by the analytic ionic teacher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_ionic_dataset(
    path: Path,
    n_frames: int,
    *,
    n_pairs: int = 4,
    seed: int = 0,
    cation: str = "Na",
    with_bec: bool = False,
    density: float = 0.025,
) -> Path:
    """``n_frames`` random ion boxes labelled with energy, forces, stress (and exact BEC = q I)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from lesdistill.systems.ionic import random_ionic_box
    from lesdistill.teachers.analytic import AnalyticIonicCalculator, IonicModel

    calc = AnalyticIonicCalculator(IonicModel(charges={cation: 1.0, "Cl": -1.0}))
    frames = []
    for k in range(n_frames):
        atoms = random_ionic_box(
            n_pairs, number_density_per_A3=density, seed=seed + k, cation=cation
        )
        atoms.calc = calc
        energy, forces, stress = (
            atoms.get_potential_energy(),
            atoms.get_forces(),
            atoms.get_stress(),
        )
        charges = calc.results["charges"]
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        if with_bec:
            atoms.arrays["bec"] = np.einsum("i,ab->iab", charges, np.eye(3)).reshape(-1, 9)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="session")
def ionic_xyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 labelled NaCl frames of 8 atoms (energy, forces, stress)."""
    return write_ionic_dataset(tmp_path_factory.mktemp("ionic") / "nacl.xyz", 12)


@pytest.fixture(scope="session")
def ionic_bec_xyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 labelled NaCl frames with BEC labels."""
    return write_ionic_dataset(
        tmp_path_factory.mktemp("ionic_bec") / "nacl_bec.xyz", 6, seed=100, with_bec=True
    )


@pytest.fixture(scope="session")
def kcl_xyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 labelled KCl frames (an element a NaCl student does not know)."""
    return write_ionic_dataset(tmp_path_factory.mktemp("kcl") / "kcl.xyz", 4, seed=200, cation="K")


def tiny_config(**changes):
    """A fast TrainConfig for tests (tiny preset shrunk further)."""
    from lesdistill.training.config import TrainConfig

    base = dict(
        model_preset="tiny",
        model={"channels": 16, "layers": 1, "n_rbf": 6},
        epochs=2,
        batch_size=4,
        lr=5e-3,
        checkpoint_interval_s=1e9,
        valid_fraction=0.25,
    )
    base.update(changes)
    return TrainConfig(**base)
