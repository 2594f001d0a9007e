"""Seeded placement of rigid molecules in a periodic box with a minimum-distance check.

Molecules are put on randomly chosen sites of a grid that covers the region (with jitter) in
random orientations; a placement is accepted only if every new intermolecular distance
(minimum image) is at least ``min_heavy_A`` between non-hydrogen atoms and ``min_any_A`` for
any pair. This always terminates at liquid densities, unlike pure random insertion.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.data import atomic_masses
from scipy.spatial.transform import Rotation

from lesdistill.errors import UserInputError
from lesdistill.units import AVOGADRO

#: amu per (g/cm^3 * Å^3): mass (amu) = density (g/cm^3) * volume (Å^3) * this
AMU_PER_G_CM3_A3 = AVOGADRO * 1e-24

WATER_OH_A = 0.9572  # Å, TIP3P/experimental gas-phase geometry
WATER_HOH_DEG = 104.52
HYDRONIUM_OH_A = 0.98  # Å
HYDRONIUM_HOH_DEG = 111.3  # C3v pyramid


def water_molecule() -> Atoms:
    """One H2O (O first), centred on O."""
    half = math.radians(WATER_HOH_DEG) / 2
    return Atoms("OH2", positions=[[0, 0, 0],
                                   [WATER_OH_A * math.sin(half), 0, WATER_OH_A * math.cos(half)],
                                   [-WATER_OH_A * math.sin(half), 0, WATER_OH_A * math.cos(half)]])


def hydronium_ion() -> Atoms:
    """One H3O+ (O first), trigonal pyramid with H-O-H = 111.3 deg, centred on O."""
    theta = math.radians(HYDRONIUM_HOH_DEG)
    # angle alpha between each O-H bond and the C3 axis: cos(theta) = 1.5 sin^2(alpha) - 1 ...
    # solved:
    sin2 = (1.0 - math.cos(theta)) / 1.5
    alpha = math.asin(math.sqrt(sin2))
    pos = [[0.0, 0.0, 0.0]]
    for k in range(3):
        phi = 2 * math.pi * k / 3
        pos.append([HYDRONIUM_OH_A * math.sin(alpha) * math.cos(phi),
                    HYDRONIUM_OH_A * math.sin(alpha) * math.sin(phi),
                    HYDRONIUM_OH_A * math.cos(alpha)])
    return Atoms("OH3", positions=pos)


def molar_mass_amu(atoms: Atoms) -> float:
    """Total mass (amu) using standard atomic masses."""
    return float(sum(atomic_masses[z] for z in atoms.numbers))


def _min_image_d2(delta: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Squared minimum-image lengths of ``delta`` (M, 3) in a cell (orthorhombic or general)."""
    frac = delta @ np.linalg.inv(cell)
    frac[:, pbc] -= np.round(frac[:, pbc])
    cart = frac @ cell
    return np.einsum("ij,ij->i", cart, cart)


def place_molecules(
    system: Atoms,
    molecules: list[Atoms],
    rng: np.random.Generator,
    region_lo: np.ndarray,
    region_hi: np.ndarray,
    min_heavy_A: float = 2.5,
    min_any_A: float = 1.5,
    max_attempts: int = 60,
    keep_out_A: tuple[np.ndarray, np.ndarray] | None = None,
) -> Atoms:
    """Return ``system`` + ``molecules`` placed in the box [region_lo, region_hi) (Cartesian Å).

    ``system`` supplies the cell/pbc (and atoms already present, e.g. a slab). Each molecule
    is centred on its first atom. ``keep_out_A`` = (heavy, any), two arrays over the atoms of
    ``system`` (Å): larger minimum distances of new heavy atoms / of any new atom to those atoms
    (e.g. ions already placed), on top of ``min_heavy_A`` / ``min_any_A``. Raises
    UserInputError if the region is too crowded.
    """
    cell = np.asarray(system.cell.array, dtype=float)
    pbc = np.asarray(system.pbc, dtype=bool)
    lo, hi = np.asarray(region_lo, float), np.asarray(region_hi, float)
    extent = hi - lo
    n = len(molecules)
    if n == 0:
        return system.copy()
    sites, step = fcc_sites(lo, extent, n)
    sites = sites[rng.permutation(len(sites))]
    positions = [p for p in system.positions]
    heavy = [z != 1 for z in system.numbers]
    keep_out = None
    if keep_out_A is not None:
        keep_out = tuple(np.asarray(k, dtype=float) for k in keep_out_A)
        if any(k.shape != (len(system),) for k in keep_out):
            raise ValueError(
                f"keep_out_A must be two arrays of length {len(system)} (atoms of system)"
            )
    result = system.copy()
    used = 0
    max_sites = len(sites) + 200 * n  # lattice sites first, then uniform random points
    for mol in molecules:
        placed = False
        while not placed and used < max_sites:
            if used < len(sites):
                site, jitter_scale, attempts = sites[used], 0.1, max_attempts
            else:
                site, jitter_scale, attempts = lo + rng.random(3) * extent, 0.0, 10
            used += 1
            for _ in range(attempts):
                rot = Rotation.random(random_state=rng).as_matrix()
                jitter = (rng.random(3) - 0.5) * jitter_scale * step
                new = (mol.positions - mol.positions[0]) @ rot.T + site + jitter
                if _fits(new, mol.numbers != 1, positions, heavy, cell, pbc, min_heavy_A, min_any_A,
                         keep_out):
                    placed = True
                    break
        if not placed:
            raise UserInputError(
                f"could not place {n} molecules without overlap (min distance {min_any_A} A); "
                "lower the density or enlarge the box"
            )
        positions.extend(new)
        heavy.extend(bool(h) for h in (mol.numbers != 1))
        result += Atoms(mol.numbers, positions=new)
    result.cell = cell
    result.pbc = pbc
    return result


def fcc_sites(lo: np.ndarray, extent: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At least ``n`` sites of a face-centred lattice filling the box (lo, lo + extent).

    FCC keeps sites farthest apart for a given number density (nearest-neighbour distance
    1.12 (V/n)^(1/3)). Returns (sites (M, 3), conventional cell edge per axis (3,)).
    """
    a = (4.0 * float(np.prod(extent)) / n) ** (1.0 / 3.0)
    m = np.maximum(1, np.round(extent / a)).astype(int)
    while 4 * np.prod(m) < n:
        m[np.argmax(extent / m)] += 1
    edge = extent / m
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) + 0.25
    cells = np.stack(np.meshgrid(*[np.arange(k) for k in m], indexing="ij"), axis=-1).reshape(-1, 3)
    frac = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    return lo + frac * edge, edge


def _fits(new: np.ndarray, new_heavy: np.ndarray, positions: list[np.ndarray], heavy: list[bool],
          cell: np.ndarray, pbc: np.ndarray, min_heavy: float, min_any: float,
          keep_out: tuple[np.ndarray, ...] | None = None) -> bool:
    if not positions:
        return True
    old = np.asarray(positions)
    old_heavy = np.asarray(heavy, dtype=bool)
    delta = (old[None, :, :] - new[:, None, :]).reshape(-1, 3)
    d2 = _min_image_d2(delta, cell, pbc).reshape(len(new), len(old))
    if d2.min() < min_any**2:
        return False
    if keep_out is not None:  # the first atoms of `old` are the system's
        k_heavy, k_any = keep_out
        first = d2[:, : len(k_any)]
        if (first < k_any**2).any():
            return False
        new_h = np.asarray(new_heavy, dtype=bool)
        if new_h.any() and (first[new_h] < k_heavy**2).any():
            return False
    pair_heavy = np.asarray(new_heavy, dtype=bool)[:, None] & old_heavy[None, :]
    return not (pair_heavy.any() and d2[pair_heavy].min() < min_heavy**2)


def min_intermolecular_distances(atoms: Atoms, molecule_ids: np.ndarray) -> tuple[float, float]:
    """(min heavy-heavy, min any) minimum-image distance (Å) between atoms of different
    molecules."""
    d = atoms.get_all_distances(mic=True)
    other = molecule_ids[:, None] != molecule_ids[None, :]
    heavy = (atoms.numbers != 1)
    both_heavy = heavy[:, None] & heavy[None, :]
    any_min = float(d[other].min()) if other.any() else math.inf
    hh = other & both_heavy
    return (float(d[hh].min()) if hh.any() else math.inf), any_min
