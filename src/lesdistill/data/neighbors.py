"""Neighbour lists (vesin) for periodic, partly periodic and open structures.

One function, :func:`neighbor_list`, returns a *full* list (both ``i -> j`` and ``j -> i``) of all
pairs closer than ``cutoff`` (Å), with the integer lattice shift of every pair:

    r_ij = r_j - r_i + S_ij @ cell        (cell rows are lattice vectors, S_ij integer [3])

so that a model can recompute edge vectors from (possibly strained) positions and cell and get
forces and stress by autograd. Self pairs (i == i with zero shift) are never returned; an atom
does see its own periodic images when the cell is smaller than the cutoff.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lesdistill.errors import UserInputError


def _check_geometry(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> None:
    if not np.isfinite(cutoff) or cutoff <= 0.0:
        raise UserInputError(f"cutoff must be a positive number of Å, got {cutoff!r}")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise UserInputError(f"positions must have shape (N, 3), got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(positions), axis=1))[0])
        raise UserInputError(
            f"positions contain NaN or inf (first bad atom index {bad}); fix the structure"
        )
    if cell.shape != (3, 3) or not np.all(np.isfinite(cell)):
        raise UserInputError(
            f"cell must be a finite (3, 3) array of lattice vectors in Å, got {cell!r}"
        )
    for axis in np.flatnonzero(pbc):
        if np.linalg.norm(cell[axis]) < 1e-8:
            raise UserInputError(
                f"periodic along axis {axis} but lattice vector {axis} is zero; set a cell "
                "(atoms.set_cell) or make that direction non-periodic (atoms.pbc)"
            )
    if pbc.any() and pbc.all() and abs(np.linalg.det(cell)) < 1e-8:
        raise UserInputError(
            "periodic cell has zero volume; give three independent lattice vectors"
        )


def neighbor_list(
    positions: np.ndarray,
    cell: np.ndarray | None,
    pbc: bool | np.ndarray,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j) with |r_ij| < cutoff.

    Args:
        positions: [N, 3] Cartesian positions, Å.
        cell: [3, 3] lattice vectors as rows, Å (ignored along non-periodic directions; may be
            None or zeros for an open structure).
        pbc: periodicity, one bool or three (per lattice vector).
        cutoff: radius, Å.

    Returns:
        ``(i, j, shifts)``: int64 [E], int64 [E], int64 [E, 3] lattice shifts S_ij, with
        r_ij = r_j - r_i + S_ij @ cell. Pairs are sorted by ``i``.
    """
    from vesin import NeighborList  # lazy: keep `import lesdistill` cheap

    positions = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
    pbc_arr = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    _check_geometry(positions, cell, pbc_arr, float(cutoff))
    if len(positions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 3), dtype=np.int64)
    box = cell.copy()
    if not pbc_arr.all():
        # vesin wants a box; along open directions any vector works, it is never used for shifts.
        # Give open directions a non-degenerate vector so mixed periodicity is well defined.
        for axis in np.flatnonzero(~pbc_arr):
            if np.linalg.norm(box[axis]) < 1e-8:
                box[axis] = np.eye(3)[axis]
        if not pbc_arr.any():
            box = np.zeros((3, 3))
    calculator = NeighborList(cutoff=float(cutoff), full_list=True)
    periodic = bool(pbc_arr[0]) if np.all(pbc_arr == pbc_arr[0]) else pbc_arr.tolist()
    i, j, shifts = calculator.compute(
        points=positions, box=box, periodic=periodic, quantities="ijS"
    )
    i = i.astype(np.int64)
    j = j.astype(np.int64)
    shifts = shifts.astype(np.int64)
    order = np.argsort(i, kind="stable")
    return i[order], j[order], shifts[order]


def closest_pair_distances(structures: Any, cutoff: float) -> dict[tuple[int, int], float]:
    """Shortest distance (Å) between atoms of each pair of elements over ``structures``.

    Args:
        structures: iterable of ASE Atoms (periodic, partly periodic or open).
        cutoff: search radius, Å; element pairs never closer than this are left out.

    Returns:
        ``{(Z_a, Z_b): d_min}`` with ``Z_a <= Z_b`` (atomic numbers).
    """
    closest: dict[tuple[int, int], float] = {}
    for atoms in structures:
        positions = np.asarray(atoms.positions, dtype=np.float64)
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        i, j, shifts = neighbor_list(positions, cell, np.asarray(atoms.pbc, dtype=bool), cutoff)
        if len(i) == 0:
            continue
        d = np.linalg.norm(positions[j] - positions[i] + shifts @ cell, axis=1)
        numbers = np.asarray(atoms.numbers)
        za, zb = numbers[i], numbers[j]
        low, high = np.minimum(za, zb), np.maximum(za, zb)
        for pair in set(zip(low.tolist(), high.tolist())):
            mask = (low == pair[0]) & (high == pair[1])
            value = float(d[mask].min())
            closest[pair] = min(value, closest.get(pair, value))
    return closest


class VerletNeighborList:
    """Neighbour list with a Verlet skin for MD: rebuilt only when an atom has moved far enough.

    :meth:`candidates` returns all pairs closer than ``cutoff + skin`` (Å) at the last rebuild;
    the list is rebuilt (vesin, :func:`neighbor_list`) on the first call, when the number of
    atoms, the cell or the periodicity changes, or when any atom has moved more than ``skin / 2``
    since the last rebuild. Each pair distance then changed by at most ``skin``, so every pair
    now closer than ``cutoff`` is among the candidates (with the same lattice shift);
    :func:`within_cutoff` selects exactly those, the pairs a fresh :func:`neighbor_list` gives.
    """

    def __init__(self, cutoff: float, skin: float = 1.0) -> None:
        if not np.isfinite(skin) or skin < 0.0:
            raise ValueError(f"skin must be a non-negative number of Å, got {skin!r}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.n_builds = 0
        self._reference: np.ndarray | None = None
        self._cell: np.ndarray | None = None
        self._pbc: np.ndarray | None = None
        self._pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def needs_rebuild(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> bool:
        """True if :meth:`candidates` would rebuild the list for these positions, cell and pbc."""
        ref = self._reference
        if ref is None or ref.shape != positions.shape:
            return True
        if not (np.array_equal(cell, self._cell) and np.array_equal(pbc, self._pbc)):
            return True
        moved_sq = float(((positions - ref) ** 2).sum(axis=1).max(initial=0.0))
        # NaN/inf positions rebuild too: the fresh list rejects them with a clear message
        return not moved_sq <= (0.5 * self.skin) ** 2

    def candidates(
        self, positions: np.ndarray, cell: np.ndarray | None, pbc: bool | np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], bool]:
        """``((i, j, shifts), rebuilt)``: candidate pairs (as :func:`neighbor_list` with
        ``cutoff + skin``) and whether they were rebuilt on this call."""
        positions = np.asarray(positions, dtype=np.float64)
        cell_arr = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
        pbc_arr = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
        if self._pairs is not None and not self.needs_rebuild(positions, cell_arr, pbc_arr):
            return self._pairs, False
        self._pairs = neighbor_list(positions, cell_arr, pbc_arr, self.cutoff + self.skin)
        self._reference = positions.copy()
        self._cell = cell_arr.copy()
        self._pbc = pbc_arr
        self.n_builds += 1
        return self._pairs, True


def within_cutoff(
    edge_index: Any, shifts: Any, positions: Any, cell: Any, cutoff: float
) -> Any:
    """Boolean mask [E] of the pairs with |r_j - r_i + S @ cell| < ``cutoff`` (torch tensors:
    ``edge_index`` [2, E], ``shifts`` [E, 3], ``positions`` [N, 3], ``cell`` [3, 3]; Å)."""
    vectors = positions.index_select(0, edge_index[1]) - positions.index_select(0, edge_index[0])
    vectors = vectors + shifts @ cell
    return (vectors * vectors).sum(dim=1) < cutoff * cutoff
