"""Random (unequilibrated) ion placements for the analytic ionic teachers.

Charge-recovery tests need configurations in which the long-range Coulomb interaction is not
screened away, so ions are placed uniformly at random (rejection sampling with a minimum-image
minimum distance) instead of taken from an equilibrated melt.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from lesdistill.errors import UserInputError


def random_ionic_box(
    n_pairs: int = 16,
    number_density_per_A3: float = 0.025,
    min_distance_A: float = 2.3,
    seed: int = 0,
    cation: str = "Na",
    anion: str = "Cl",
    max_tries: int = 200_000,
) -> Atoms:
    """``n_pairs`` cations + ``n_pairs`` anions at random positions in a cubic periodic box.

    Args:
        n_pairs: number of cation/anion pairs (the structure has ``2 * n_pairs`` atoms).
        number_density_per_A3: ions per Å^3 (crystalline NaCl: 0.045; default is about half).
        min_distance_A: minimum minimum-image distance between any two ions (Å).
        seed: seed of the numpy generator; the same seed gives the same structure.
        cation, anion: chemical symbols (charges come from the teacher, e.g. Na +1 / Cl -1).

    Returns:
        Periodic cubic ``Atoms``; ordering alternates cation, anion, cation, ...
    """
    if n_pairs < 1:
        raise UserInputError(f"n_pairs must be >= 1, got {n_pairs}")
    if not number_density_per_A3 > 0:
        raise UserInputError(f"number_density_per_A3 must be > 0, got {number_density_per_A3}")
    if min_distance_A < 0:
        raise UserInputError(f"min_distance_A must be >= 0, got {min_distance_A}")
    for sym in (cation, anion):
        if sym not in atomic_numbers:
            raise UserInputError(f"unknown element {sym!r}")
    n = 2 * n_pairs
    length = (n / number_density_per_A3) ** (1.0 / 3.0)
    # random close packing of spheres of diameter d caps the packing fraction near 0.64
    packing = n * np.pi / 6.0 * min_distance_A**3 / length**3
    if packing > 0.35:
        raise UserInputError(
            f"min_distance_A={min_distance_A} is too large for density {number_density_per_A3} "
            f"ions/A^3 (packing fraction {packing:.2f} > 0.35); lower one of them"
        )
    rng = np.random.default_rng(seed)
    positions = np.empty((n, 3))
    placed = 0
    tries = 0
    while placed < n:
        tries += 1
        if tries > max_tries:
            raise UserInputError(
                f"could not place {n} ions with min distance {min_distance_A} A in "
                f"{max_tries} tries; lower the density or the minimum distance"
            )
        trial = rng.uniform(0.0, length, size=3)
        if placed:
            delta = positions[:placed] - trial
            delta -= length * np.round(delta / length)
            if np.min(np.einsum("ij,ij->i", delta, delta)) < min_distance_A**2:
                continue
        positions[placed] = trial
        placed += 1
    symbols = [cation, anion] * n_pairs
    return Atoms(symbols, positions=positions, cell=np.eye(3) * length, pbc=True)
