"""TiO2 slab with liquid water on both sides: anatase (101) (default) or rutile (110).

The slab is cut with ``ase.build.surface`` from the bulk crystal (``ase.spacegroup.crystal``);
among all cuts of one period the termination with the highest minimum coordination is kept, which
for anatase (101) and rutile (110) is the ideal stoichiometric surface (5-fold Ti, 2-fold bridging
O; no 4-fold Ti or 1-fold O). Water fills the gap between the slab and its periodic image at the
given density.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from lesdistill.systems.packing import (
    AMU_PER_G_CM3_A3,
    molar_mass_amu,
    place_molecules,
    water_molecule,
)

from lesdistill.errors import UserInputError

#: phase -> (spacegroup, cellpar (Å, deg), basis (Ti, O fractional), surface Miller index)
PHASES: dict[str, tuple[int, list[float], list[tuple[float, float, float]], tuple[int, int, int]]] = {
    # anatase I4_1/amd, origin choice 1; a, c, O z from Horn et al., Z. Kristallogr. 136 (1972)
    "anatase": (141, [3.785, 3.785, 9.514, 90, 90, 90], [(0, 0, 0), (0, 0, 0.2081)], (1, 0, 1)),
    # rutile P4_2/mnm; a, c, O x from Burdett et al., JACS 109 (1987)
    "rutile": (136, [4.594, 4.594, 2.959, 90, 90, 90], [(0, 0, 0), (0.3048, 0.3048, 0)], (1, 1, 0)),
}
TI_O_BOND_A = 2.3  # coordination cutoff (Å); Ti-O bonds are 1.93-1.99 Å


def bulk_tio2(phase: str = "anatase") -> Atoms:
    """Conventional bulk cell of anatase or rutile TiO2."""
    from ase.spacegroup import crystal

    if phase not in PHASES:
        raise UserInputError(f"unknown TiO2 phase {phase!r}; use 'anatase' or 'rutile'")
    spacegroup, cellpar, basis, _ = PHASES[phase]
    return crystal(["Ti", "O"], basis=basis, spacegroup=spacegroup, cellpar=cellpar)


def _coordination(atoms: Atoms) -> np.ndarray:
    from ase.neighborlist import neighbor_list

    i = neighbor_list("i", atoms, TI_O_BOND_A)
    return np.bincount(i, minlength=len(atoms))


def tio2_slab(phase: str = "anatase", layers: int = 3, repeats: tuple[int, int] = (1, 3)) -> Atoms:
    """Stoichiometric TiO2 slab (periodic in x, y; ``pbc[2]`` False), surface normal along z."""
    from ase.build import surface

    if layers < 1:
        raise UserInputError(f"layers must be >= 1, got {layers}")
    if len(repeats) != 2 or min(repeats) < 1:
        raise UserInputError(f"repeats must be two integers >= 1, got {repeats}")
    if phase not in PHASES:
        raise UserInputError(f"unknown TiO2 phase {phase!r}; use 'anatase' or 'rutile'")
    miller = PHASES[phase][3]
    bulk = bulk_tio2(phase)
    per_layer = len(surface(bulk, miller, 1, vacuum=None))
    # a thicker cut, then the window of `layers` periods (contiguous in z) with the best surface
    thick = surface(bulk, miller, layers + 2, vacuum=None)
    order = np.argsort(thick.positions[:, 2], kind="stable")
    z = thick.positions[order, 2]
    n_target = layers * per_layer
    best, best_score = None, (-1, -1)
    for start in range(len(thick) - n_target + 1):
        stop = start + n_target
        if start > 0 and z[start] - z[start - 1] < 0.05:
            continue  # the window boundary would split atoms at the same height
        if stop < len(z) and z[stop] - z[stop - 1] < 0.05:
            continue
        trial = thick[order[start:stop]]
        if 2 * int((trial.numbers == 22).sum()) != int((trial.numbers == 8).sum()):
            continue  # not stoichiometric
        trial.pbc = [True, True, False]
        cn = _coordination(trial)
        ti = trial.numbers == 22
        score = (int(cn[ti].min()), int(cn[~ti].min()))
        if score > best_score:
            best, best_score = trial, score
    if best is None:
        raise UserInputError(f"no stoichiometric {phase} slab with {layers} layers found")
    best.info.clear()
    for key in [k for k in best.arrays if k not in ("numbers", "positions")]:
        del best.arrays[key]  # spacegroup_kinds, tags from the crystal builder
    slab = best.repeat((repeats[0], repeats[1], 1))
    slab.positions[:, 2] -= slab.positions[:, 2].min()
    slab.info["min_coordination_Ti_O"] = best_score
    return slab


def tio2_water_interface(
    phase: str = "anatase",
    layers: int = 3,
    repeats: tuple[int, int] | None = None,
    water_thickness_A: float = 8.0,
    density_g_cm3: float = 0.997,
    seed: int = 0,
    min_distance_A: float = 1.5,
) -> Atoms:
    """TiO2 slab (anatase (101) or rutile (110)) with ``water_thickness_A`` of water on each side.

    Args:
        phase: ``"anatase"`` (101 surface) or ``"rutile"`` (110 surface).
        layers: slab thickness in surface repeat units (anatase (101): 3.5 Å, 4 TiO2 per cell).
        repeats: lateral repetitions (a, b); default makes both lateral lengths >= 10 Å.
        water_thickness_A: water thickness (Å) on each side; the gap between the slab and its
            periodic image is 2 * water_thickness_A.
        density_g_cm3: water density in the gap (the number of molecules uses the gap minus 1.5 Å
            excluded at the interfaces).
        seed: seed of the water placement.

    Returns:
        3D-periodic Atoms (slab first, then water O,H,H), cell c = slab thickness + 2 * water.
    """
    if phase not in PHASES:
        raise UserInputError(f"unknown TiO2 phase {phase!r}; use 'anatase' or 'rutile'")
    if water_thickness_A < 2.0:
        raise UserInputError(f"water_thickness_A must be >= 2 A, got {water_thickness_A}")
    if repeats is None:
        probe = tio2_slab(phase, 1, (1, 1))
        lengths = probe.cell.lengths()[:2]
        repeats = tuple(int(np.ceil(10.0 / x)) for x in lengths)  # type: ignore[assignment]
    repeats = (int(repeats[0]), int(repeats[1]))
    slab = tio2_slab(phase, layers, repeats)
    thickness = float(slab.positions[:, 2].max())
    gap = 2.0 * water_thickness_A
    cell = slab.cell.array.copy()
    cell[2] = [0.0, 0.0, thickness + gap]
    slab.set_cell(cell, scale_atoms=False)
    slab.pbc = True
    area = float(np.linalg.norm(np.cross(cell[0], cell[1])))
    mol = water_molecule()
    n_water = int(round(density_g_cm3 * AMU_PER_G_CM3_A3 * area * (gap - 1.5) / molar_mass_amu(mol)))
    # water region: above the slab top up to the periodic image of the slab bottom
    ab = cell[0] + cell[1]
    lo = np.array([min(0.0, ab[0]), min(0.0, ab[1]), thickness + 0.9])
    hi = np.array([max(cell[0][0], ab[0]), max(cell[1][1], ab[1]), thickness + gap - 0.9])
    rng = np.random.default_rng(seed)
    atoms = place_molecules(slab, [mol] * n_water, rng, lo, hi, min_heavy_A=2.4,
                            min_any_A=min_distance_A)
    atoms.wrap()
    atoms.info.update({"system": "tio2-water", "phase": phase, "surface": "".join(
        map(str, PHASES[phase][3])), "n_water": n_water, "slab_thickness_A": thickness,
        "water_thickness_A": float(water_thickness_A)})
    return atoms
