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
  each cell face in the middle of the widest empty slab between atoms, and wrapped. Even then
  such a dipole is no polarization once charge flows between atoms: charge moved across a face
  enters with the wrong lever arm, so the BECs depend on where the faces are. Every periodic
  frame is therefore checked: the BECs of the atoms nearest the faces are computed again with
  the faces in a second empty slab (a quarter cell or more away, along each vector where there
  is one) and must agree within :data:`FACE_TOLERANCE_E`; otherwise the frame is refused.
  Fixed charges pass (their Z_i = q_i 1 wherever the faces are); GFN1-xTB in 16-H2O liquid
  cells does not (two placements differ by 0.13 e MAE over all atoms,
  ``benchmarks/xtb_periodic_dipole.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.progress import progress_bar

#: largest BEC difference (e) between two face placements for a periodic finite-difference
#: reference (FD error and SCF noise of the teachers are far below it)
FACE_TOLERANCE_E = 0.02
#: narrowest gap between atoms (Å, across the planes) that may hold the second face placement
SECOND_GAP_A = 0.2
#: atoms (nearest a face) whose BECs are recomputed with the second face placement
FACE_CHECK_ATOMS = 6


def calculator_gives_dipole(calculator: object) -> bool:
    """True if an ASE calculator declares the ``dipole`` property (e.g. tblite xTB)."""
    return keys.DIPOLE in getattr(calculator, "implemented_properties", ())


def _face_shifts(frac: np.ndarray, pbc: np.ndarray, spacing_A: np.ndarray,
                 second: bool) -> np.ndarray:
    """Fractional shifts that put each periodic cell face in the middle of the widest gap
    between the atoms' fractional coordinates (``second``: of the widest gap at least
    :data:`SECOND_GAP_A` wide whose middle is a quarter cell or more from that one's, where
    there is one; else the same gap). ``spacing_A``: distances between lattice planes."""
    shift = np.zeros(3)
    for axis in range(3):
        if not pbc[axis]:
            continue
        x = np.sort(frac[:, axis])
        gaps = np.diff(np.concatenate([x, [x[0] + 1.0]]))
        mids = (x + 0.5 * gaps) % 1.0
        k = int(np.argmax(gaps))
        if second:
            apart = np.abs((mids - mids[k] + 0.5) % 1.0 - 0.5) >= 0.25
            ok = apart & (gaps * spacing_A[axis] >= SECOND_GAP_A)
            if ok.any():
                k = int(np.argmax(np.where(ok, gaps, -1.0)))
        shift[axis] = -mids[k]  # the gap's midpoint goes to the face
    return shift


def away_from_faces(atoms, second: bool = False):
    """A copy translated rigidly and wrapped so that, along every periodic cell vector, the cell
    face lies in the middle of the widest gap between the atoms' fractional coordinates
    (``second``: of another gap a quarter cell away where there is one, :func:`_face_shifts`)."""
    work = atoms.copy()
    if not work.pbc.any():
        return work
    frac = work.get_scaled_positions(wrap=True)
    spacing = 1.0 / np.linalg.norm(work.cell.reciprocal(), axis=1)
    frac = frac + _face_shifts(frac, work.pbc, spacing, second)
    frac[:, work.pbc] %= 1.0
    work.set_scaled_positions(frac)
    return work


def _fd_bec_of(work, atoms_idx, displacement_A: float, progress: bool) -> np.ndarray:
    """Central-difference BECs (len(atoms_idx), 3, 3) of ``work`` (its calculator's dipole)."""
    base = work.get_positions()
    z = np.zeros((len(atoms_idx), 3, 3))
    steps = range(len(atoms_idx))
    if progress:
        steps = progress_bar(
            steps, desc="reference BEC (finite differences)", unit="atom", leave=False
        )
    for k in steps:
        i = atoms_idx[k]
        for b in range(3):
            dip = []
            for sign in (1.0, -1.0):
                pos = base.copy()
                pos[i, b] += sign * displacement_A
                work.set_positions(pos, apply_constraint=False)
                dip.append(np.asarray(work.get_dipole_moment(), dtype=float))
            z[k, :, b] = (dip[0] - dip[1]) / (2.0 * displacement_A)
    work.set_positions(base, apply_constraint=False)
    return z


def _nearest_faces(work, n: int) -> list[int]:
    """The ``n`` atoms of ``work`` nearest a periodic cell face (fractional distance)."""
    frac = work.get_scaled_positions(wrap=False)[:, work.pbc]
    to_face = np.minimum(frac, 1.0 - frac).min(axis=1)
    return [int(i) for i in np.argsort(to_face, kind="stable")[:n]]


def finite_difference_bec(atoms, calculator, *, displacement_A: float = 0.01,
                          progress: bool = False) -> np.ndarray:
    """BEC tensors (N, 3, 3) in e from central differences of ``calculator``'s dipole (e Å).

    ``atoms`` is not modified (a copy is displaced). Raises UserInputError if the calculator
    gives no dipole, the step is not positive, or (periodic cells) the BECs depend on where the
    cell faces are (module docstring; 6 x :data:`FACE_CHECK_ATOMS` extra calls per frame).
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
    z = _fd_bec_of(work, list(range(len(atoms))), displacement_A, progress)
    other = away_from_faces(atoms, second=True) if work.pbc.any() else work
    # (no second placement: every other gap too narrow or near, or an open structure)
    if not np.allclose(other.get_positions(), work.get_positions()):
        check = _nearest_faces(work, min(FACE_CHECK_ATOMS, len(atoms)))
        other.calc = calculator
        diff = float(np.abs(_fd_bec_of(other, check, displacement_A, False) - z[check]).max())
        if not diff <= FACE_TOLERANCE_E:
            name = type(calculator).__name__
            raise UserInputError(
                f"the {name} dipole of this periodic cell is not a polarization: its "
                f"finite-difference BECs change by up to {diff:.3g} e when the cell faces move "
                f"(tolerance {FACE_TOLERANCE_E} e); use open clusters cut from the cell or "
                "frames with 'bec' labels"
            )
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
