"""Reference Born effective charges for judging students.

Two sources:

* user-provided labels, e.g. from DFT perturbation theory, stored per atom in the frames' extxyz
  array ``bec`` (shape (N, 9), row-major Z[i].reshape(9), e; key ``lesdistill.keys.BEC_ARRAY``);
* a teacher whose ASE calculator gives a dipole (tblite GFN1/GFN2-xTB: Mulliken-charge dipole plus
  atomic dipoles): Z[i, a, b] = d mu_a / d r_ib by central finite differences,
  (mu_a(r_ib + h) - mu_a(r_ib - h)) / (2 h), 6 N calculations per frame -- meant for small cells.
  In a periodic cell the xTB dipole is sum_i q_i r_i over positions wrapped into the cell (no
  Berry phase): an atom crossing a cell face during a displacement would make the dipole jump by
  q_i L. So the structure is first translated rigidly (which leaves every Z_i unchanged) to put
  each cell face in the middle of the widest empty slab between atoms, and wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.progress import progress_bar


def calculator_gives_dipole(calculator: object) -> bool:
    """True if an ASE calculator declares the ``dipole`` property (e.g. tblite xTB)."""
    return keys.DIPOLE in getattr(calculator, "implemented_properties", ())


def away_from_faces(atoms):
    """A copy translated rigidly and wrapped so that, along every periodic cell vector, the cell
    face lies in the middle of the widest gap between the atoms' fractional coordinates."""
    work = atoms.copy()
    if not work.pbc.any():
        return work
    frac = work.get_scaled_positions(wrap=True)
    shift = np.zeros(3)
    for axis in range(3):
        if not work.pbc[axis]:
            continue
        x = np.sort(frac[:, axis])
        gaps = np.diff(np.concatenate([x, [x[0] + 1.0]]))
        k = int(np.argmax(gaps))
        shift[axis] = -(x[k] + 0.5 * gaps[k])  # the gap's midpoint goes to the face
    frac = frac + shift
    frac[:, work.pbc] %= 1.0
    work.set_scaled_positions(frac)
    return work


def finite_difference_bec(atoms, calculator, *, displacement_A: float = 0.01,
                          progress: bool = False) -> np.ndarray:
    """BEC tensors (N, 3, 3) in e from central differences of ``calculator``'s dipole (e Å).

    ``atoms`` is not modified (a copy is displaced). Raises ValueError if the calculator gives no
    dipole or the step is not positive.
    """
    if not displacement_A > 0:
        raise UserInputError(f"displacement_A must be > 0 Å, got {displacement_A!r}")
    if not calculator_gives_dipole(calculator):
        name = type(calculator).__name__
        raise UserInputError(
            f"calculator {name} gives no dipole; a finite-difference reference BEC "
            "needs one (use an xTB teacher or frames with 'bec' labels)"
        )
    work = away_from_faces(atoms)
    work.calc = calculator
    base = work.get_positions()
    n = len(atoms)
    z = np.zeros((n, 3, 3))
    steps = range(n)
    if progress:
        steps = progress_bar(
            steps, desc="reference BEC (finite differences)", unit="atom", leave=False
        )
    for i in steps:
        for b in range(3):
            dip = []
            for sign in (1.0, -1.0):
                pos = base.copy()
                pos[i, b] += sign * displacement_A
                work.set_positions(pos, apply_constraint=False)
                dip.append(np.asarray(work.get_dipole_moment(), dtype=float))
            z[i, :, b] = (dip[0] - dip[1]) / (2.0 * displacement_A)
    return z


def frames_bec(frames: Sequence) -> list[np.ndarray] | None:
    """User-provided BEC labels of every frame as (N, 3, 3) arrays, or None if any frame lacks
    them. Raises ValueError on a label of the wrong shape or with NaN."""
    out = []
    for k, atoms in enumerate(frames):
        if keys.BEC_ARRAY not in atoms.arrays:
            return None
        arr = np.asarray(atoms.arrays[keys.BEC_ARRAY], dtype=float)
        if arr.shape != (len(atoms), 9):
            raise UserInputError(f"frame {k}: array '{keys.BEC_ARRAY}' must have shape "
                             f"({len(atoms)}, 9) (row-major 3x3 per atom), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise UserInputError(f"frame {k}: array '{keys.BEC_ARRAY}' contains NaN or inf")
        out.append(arr.reshape(len(atoms), 3, 3))
    return out


def fixed_charge_bec(atoms, calculator) -> np.ndarray:
    """BEC (N, 3, 3) in e of a fixed point-charge model (the analytic teachers): Z_i = q_i I.

    Exact when the calculator's ``charges`` do not depend on the positions, as for
    ``analytic-*`` teachers; not valid for charge-equilibration or quantum models."""
    if keys.CHARGES not in getattr(calculator, "implemented_properties", ()):
        raise UserInputError(f"calculator {type(calculator).__name__} gives no charges")
    work = atoms.copy()
    work.calc = calculator
    q = np.asarray(calculator.get_property(keys.CHARGES, work), dtype=float)
    return q[:, None, None] * np.eye(3)[None]
