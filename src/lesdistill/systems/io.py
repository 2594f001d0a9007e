"""Validated loading of users' structure files (any format ASE reads; extxyz recommended)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms

from lesdistill.data.frames import read_frame, read_frames
from lesdistill.errors import UserInputError


def validate_structure(atoms: Atoms, *, periodic: bool = False, source: str = "structure") -> Atoms:
    """Check ``atoms``: non-empty, finite positions, and (if ``periodic``) a full 3D cell.

    Raises :class:`UserInputError` with a one-line message saying how to fix the input.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{source}: expected ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise UserInputError(f"{source}: contains no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise UserInputError(f"{source}: has NaN/inf atomic positions; fix the file")
    if np.any(atoms.numbers <= 0):
        raise UserInputError(f"{source}: has unknown elements (atomic number 0, e.g. 'X')")
    if periodic:
        if not atoms.pbc.all():
            raise UserInputError(
                f"{source}: is not periodic (pbc={atoms.pbc.tolist()}) but a periodic cell is "
                "needed; add a Lattice= cell and pbc=\"T T T\" (extxyz) or use a builder"
            )
    if atoms.pbc.any():
        cell = atoms.cell.array
        if not np.all(np.isfinite(cell)) or abs(np.linalg.det(cell)) < 1e-6:
            raise UserInputError(f"{source}: periodic but the cell is degenerate (zero volume); "
                                 "give three independent lattice vectors (Lattice= in extxyz) "
                                 "or set pbc=False")
    return atoms


def check_start_structure(atoms: Atoms, *, elements: tuple[str, ...] | list[str] | None = None,
                          min_distance_A: float = 0.5, source: str = "structure") -> Atoms:
    """Checks of a structure MD starts from (after :func:`validate_structure`): only
    ``elements`` (the model's) present, and no two atoms closer than ``min_distance_A`` (Å)."""
    validate_structure(atoms, source=source)
    if elements is not None:
        unseen = sorted(set(atoms.get_chemical_symbols()) - set(elements))
        if unseen:
            raise UserInputError(f"{source}: element(s) {', '.join(unseen)} are unknown to the "
                                 f"student (it knows {', '.join(elements)}); fine-tune it on data "
                                 "with them (`lesdistill train --init ... --allow-new-elements`)")
    if len(atoms) > 1 and min_distance_A > 0:
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", atoms, float(min_distance_A))
        if len(d):
            k = int(np.argmin(d))
            raise UserInputError(f"{source}: atoms {i[k]} and {j[k]} are {d[k]:.3f} Å apart "
                                 f"(< {min_distance_A} Å, overlapping); fix the structure or "
                                 "relax it first")
    return atoms


def load_structure(path: str | os.PathLike[str], *, index: int = 0, periodic: bool = False,
                   format: str | None = None) -> Atoms:
    """Read one structure (frame ``index``) from ``path`` with ASE and validate it.

    Args:
        path: structure file (extxyz, xyz, cif, POSCAR, ...).
        index: frame to read from a multi-frame file (default: the first).
        periodic: require a 3D-periodic cell (e.g. for periodic-only teachers).
        format: ASE format name if it cannot be guessed from the file name.

    Raises FileNotFoundError (missing), UserInputError (not a structure / invalid content).
    """
    p = Path(path).expanduser()
    atoms = read_frame(p, index, what="structure file", format=format,
                       hint="check the path or build one with `lesdistill system`")
    return validate_structure(atoms, periodic=periodic, source=str(p))


def load_frames(path: str | os.PathLike[str], *, format: str | None = None) -> list[Atoms]:
    """Read every frame of ``path`` (validated); used by ``label``."""
    p = Path(path).expanduser()
    frames = read_frames(p, what="structure file", format=format)
    return [validate_structure(a, source=f"{p} frame {k}") for k, a in enumerate(frames)]
