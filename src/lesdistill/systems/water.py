"""Liquid water box: n rigid H2O in random orientations at a given density (cubic, periodic)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from lesdistill.errors import UserInputError
from lesdistill.systems.packing import (
    AMU_PER_G_CM3_A3,
    molar_mass_amu,
    place_molecules,
    water_molecule,
)


def water_box(n_molecules: int = 32, density_g_cm3: float = 0.997, seed: int = 0,
              min_distance_A: float = 1.5) -> Atoms:
    """Cubic periodic box of ``n_molecules`` water molecules at ``density_g_cm3`` (g/cm^3).

    Atoms are ordered O, H, H per molecule. Intermolecular distances are at least
    ``min_distance_A`` (Å) for any pair and 2.5 Å between oxygens. The same ``seed`` gives the
    same structure. ``info["density_g_cm3"]`` records the density.
    """
    if n_molecules < 1:
        raise UserInputError(f"n_molecules must be >= 1, got {n_molecules}")
    if not 0.1 <= density_g_cm3 <= 1.5:
        raise UserInputError(f"density_g_cm3 must be within 0.1..1.5 g/cm^3, got {density_g_cm3}")
    mol = water_molecule()
    volume = n_molecules * molar_mass_amu(mol) / (density_g_cm3 * AMU_PER_G_CM3_A3)
    length = volume ** (1.0 / 3.0)
    box = Atoms(cell=np.eye(3) * length, pbc=True)
    rng = np.random.default_rng(seed)
    atoms = place_molecules(box, [mol] * n_molecules, rng, np.zeros(3), np.full(3, length),
                            min_heavy_A=2.5, min_any_A=min_distance_A)
    atoms.info["system"] = "water"
    atoms.info["density_g_cm3"] = float(density_g_cm3)
    return atoms
