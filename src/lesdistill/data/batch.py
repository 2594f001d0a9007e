"""The student model's input: :class:`AtomicBatch`, B structures concatenated into one graph.

Contract (what data loaders and the trainer build, what :class:`lesdistill.model.StudentModel`
consumes). N = total atoms, E = total directed edges, B = structures:

=================  =================  =====================================================
field              shape / dtype      meaning
=================  =================  =====================================================
positions          [N, 3] float       Cartesian positions, Å
cell               [B, 3, 3] float    lattice vectors as rows, Å (zeros for open structures)
pbc                [B, 3] bool        periodicity per lattice vector
numbers            [N] int64          atomic numbers Z
edge_index         [2, E] int64       (i, j): centre atom i receives a message from j
shifts             [E, 3] float       integer lattice shifts S: r_ij = r_j - r_i + S @ cell[b]
batch              [N] int64          structure index of every atom (0..B-1), sorted
n_atoms            [B] int64          atoms per structure
total_charge       [B] float          total (physical) charge per structure, e
spin_multiplicity  [B] float or None  spin multiplicity 2S+1 per structure (None: all 1)
=================  =================  =====================================================

Build one with ``AtomicBatch.from_atoms(list_of_atoms, cutoff)`` (neighbour lists by vesin), or
build per-structure batches once (``from_atoms([atoms], cutoff)``) and join mini-batches with
``AtomicBatch.collate(parts)`` -- the cheap path for training, neighbour lists are computed once.
``batch.to(device, dtype)`` moves everything and casts floating tensors to ``dtype``.

``total_charge`` is read from ``atoms.info["total_charge"]`` (lesdistill.keys.TOTAL_CHARGE),
default 0, ``spin_multiplicity`` from ``info["spin_multiplicity"]``, default 1; both are checked
against the element count (:mod:`lesdistill.data.charge_state`). A batch holds structures only:
training labels live in :class:`lesdistill.training.losses.Targets`, built from the frames of
:mod:`lesdistill.data.dataset`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from lesdistill.data.charge_state import charge_and_spin
from lesdistill.data.neighbors import neighbor_list

if TYPE_CHECKING:
    from ase import Atoms

@dataclasses.dataclass
class AtomicBatch:
    """B structures as one disjoint graph (see the module docstring for every field)."""

    positions: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    numbers: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    batch: torch.Tensor
    n_atoms: torch.Tensor
    total_charge: torch.Tensor
    spin_multiplicity: torch.Tensor | None = None

    @property
    def num_structures(self) -> int:
        """B, the number of structures."""
        return int(self.n_atoms.shape[0])

    @property
    def num_atoms(self) -> int:
        """N, the total number of atoms."""
        return int(self.positions.shape[0])

    @property
    def device(self) -> torch.device:
        return self.positions.device

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_atoms(
        cls,
        atoms_list: Atoms | Sequence[Atoms],
        cutoff: float,
        *,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> AtomicBatch:
        """Build a batch from ASE Atoms; neighbour lists (vesin) with ``cutoff`` in Å."""
        from ase import Atoms as _Atoms

        if isinstance(atoms_list, _Atoms):
            atoms_list = [atoms_list]
        if len(atoms_list) == 0:
            raise ValueError("cannot build a batch from an empty list of structures")
        parts = [cls._from_single(a, cutoff, k) for k, a in enumerate(atoms_list)]
        return cls.collate(parts).to(device, dtype)

    @classmethod
    def _from_single(cls, atoms: Atoms, cutoff: float, index: int) -> AtomicBatch:
        if not hasattr(atoms, "get_positions") or not hasattr(atoms, "numbers"):
            raise TypeError(f"expected ase.Atoms, got {type(atoms).__name__} (structure {index})")
        n = len(atoms)
        if n == 0:
            raise ValueError(f"structure {index} has no atoms")
        positions = atoms.get_positions()
        cell = np.asarray(atoms.get_cell().array, dtype=np.float64)
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
        try:
            i, j, shifts = neighbor_list(positions, cell, pbc, cutoff)
        except ValueError as err:
            raise ValueError(f"structure {index}: {err}") from None

        charge, spin = charge_and_spin(atoms.info, atoms.numbers, f"structure {index}")
        return cls(
            positions=torch.from_numpy(np.array(positions, dtype=np.float64)),
            cell=torch.from_numpy(cell.copy()).unsqueeze(0),
            pbc=torch.from_numpy(pbc.copy()).unsqueeze(0),
            numbers=torch.from_numpy(np.asarray(atoms.numbers, dtype=np.int64).copy()),
            edge_index=torch.from_numpy(np.stack([i, j])),
            shifts=torch.from_numpy(shifts.astype(np.float64)),
            batch=torch.zeros(n, dtype=torch.long),
            n_atoms=torch.tensor([n], dtype=torch.long),
            total_charge=torch.tensor([charge], dtype=torch.float64),
            spin_multiplicity=torch.tensor([1.0 if spin is None else spin], dtype=torch.float64),
        )

    @classmethod
    def collate(cls, parts: Sequence[AtomicBatch]) -> AtomicBatch:
        """Concatenate batches (e.g. single structures) into one; edge indices are offset."""
        if len(parts) == 0:
            raise ValueError("cannot collate an empty list of batches")
        if len(parts) == 1:
            return parts[0]
        atom_offsets = np.cumsum([0] + [p.num_atoms for p in parts[:-1]])
        struct_offsets = np.cumsum([0] + [p.num_structures for p in parts[:-1]])
        return cls(
            positions=torch.cat([p.positions for p in parts]),
            cell=torch.cat([p.cell for p in parts]),
            pbc=torch.cat([p.pbc for p in parts]),
            numbers=torch.cat([p.numbers for p in parts]),
            edge_index=torch.cat(
                [p.edge_index + int(o) for p, o in zip(parts, atom_offsets)], dim=1
            ),
            shifts=torch.cat([p.shifts for p in parts]),
            batch=torch.cat([p.batch + int(o) for p, o in zip(parts, struct_offsets)]),
            n_atoms=torch.cat([p.n_atoms for p in parts]),
            total_charge=torch.cat([p.total_charge for p in parts]),
            spin_multiplicity=None
            if all(p.spin_multiplicity is None for p in parts)
            else torch.cat(
                [
                    torch.ones_like(p.total_charge)
                    if p.spin_multiplicity is None
                    else p.spin_multiplicity
                    for p in parts
                ]
            ),
        )

    # ---------------------------------------------------------------- conversion
    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> AtomicBatch:
        """Move to ``device``; cast floating-point tensors (not integer/bool ones) to ``dtype``."""

        def conv(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return AtomicBatch(
            **{f.name: conv(getattr(self, f.name)) for f in dataclasses.fields(self)},
        )

    def replace(self, **changes: torch.Tensor) -> AtomicBatch:
        """A shallow copy with some fields replaced (e.g. strained positions and cell)."""
        return dataclasses.replace(self, **changes)

    def split_sizes(self) -> list[int]:
        """Atoms per structure as a python list (for ``tensor.split``)."""
        return [int(n) for n in self.n_atoms.tolist()]
