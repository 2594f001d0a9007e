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
targets            dict[str, Tensor]  optional labels (keys from lesdistill.keys), see below
=================  =================  =====================================================

Build one with ``AtomicBatch.from_atoms(list_of_atoms, cutoff)`` (neighbour lists by vesin), or
build per-structure batches once (``from_atoms([atoms], cutoff)``) and join mini-batches with
``AtomicBatch.collate(parts)`` -- the cheap path for training, neighbour lists are computed once.
``batch.to(device, dtype)`` moves everything and casts floating tensors to ``dtype``.

``total_charge`` is read from ``atoms.info["total_charge"]`` (lesdistill.keys.TOTAL_CHARGE),
default 0, ``spin_multiplicity`` from ``info["spin_multiplicity"]``, default 1; both are checked
against the element count (:mod:`lesdistill.data.charge_state`). With ``read_targets=True`` the ASE calculator results of each Atoms become targets:
``energy`` [B] eV, ``forces`` [N, 3] eV/Å, ``stress`` [B, 3, 3] eV/Å^3 (full tensor, ASE sign;
zeros where missing) with ``has_stress`` [B] bool, and ``bec`` [N, 3, 3] e with ``has_bec`` [B]
bool when frames carry the per-atom ``bec`` (N, 9) array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from lesdistill import keys
from lesdistill.data.neighbors import neighbor_list

if TYPE_CHECKING:
    from ase import Atoms

#: Name of the per-structure boolean mask telling which frames carry a stress / BEC label.
HAS_STRESS = "has_stress"
HAS_BEC = "has_bec"


def _voigt_to_full(stress: np.ndarray) -> np.ndarray:
    s = np.asarray(stress, dtype=np.float64).reshape(-1)
    if s.shape == (9,):
        return s.reshape(3, 3)
    if s.shape != (6,):
        raise ValueError(f"stress must have 6 (Voigt) or 9 components, got {s.shape}")
    xx, yy, zz, yz, xz, xy = s
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def _read_targets(atoms: Atoms, index: int) -> dict[str, torch.Tensor]:
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    if keys.ENERGY not in results or keys.FORCES not in results:
        raise ValueError(
            f"structure {index} has no energy/forces labels; label it with a teacher first "
            "(lesdistill label) or pass read_targets=False"
        )
    n = len(atoms)
    forces = np.asarray(results[keys.FORCES], dtype=np.float64)
    if forces.shape != (n, 3):
        raise ValueError(f"structure {index}: forces have shape {forces.shape}, expected ({n}, 3)")
    out = {
        keys.ENERGY: torch.tensor([float(results[keys.ENERGY])], dtype=torch.float64),
        keys.FORCES: torch.from_numpy(forces.copy()),
    }
    has_stress = keys.STRESS in results and results[keys.STRESS] is not None
    stress = _voigt_to_full(results[keys.STRESS]) if has_stress else np.zeros((3, 3))
    out[keys.STRESS] = torch.from_numpy(stress).unsqueeze(0)
    out[HAS_STRESS] = torch.tensor([has_stress])
    has_bec = keys.BEC_ARRAY in atoms.arrays
    bec = np.asarray(atoms.arrays[keys.BEC_ARRAY], dtype=np.float64) if has_bec else np.zeros((n, 9))
    out[keys.BEC] = torch.from_numpy(bec.reshape(n, 3, 3).copy())
    out[HAS_BEC] = torch.tensor([has_bec])
    return out


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
    targets: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
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
        read_targets: bool = False,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> AtomicBatch:
        """Build a batch from ASE Atoms; neighbour lists (vesin) with ``cutoff`` in Å."""
        from ase import Atoms as _Atoms

        if isinstance(atoms_list, _Atoms):
            atoms_list = [atoms_list]
        if len(atoms_list) == 0:
            raise ValueError("cannot build a batch from an empty list of structures")
        parts = [cls._from_single(a, cutoff, read_targets, k) for k, a in enumerate(atoms_list)]
        return cls.collate(parts).to(device, dtype)

    @classmethod
    def _from_single(cls, atoms: Atoms, cutoff: float, read_targets: bool, index: int) -> AtomicBatch:
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
        from lesdistill.data.charge_state import charge_and_spin

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
            targets=_read_targets(atoms, index) if read_targets else {},
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
        target_keys = set(parts[0].targets)
        if any(set(p.targets) != target_keys for p in parts):
            raise ValueError("cannot collate batches with different target keys")
        targets = {k: torch.cat([p.targets[k] for p in parts]) for k in sorted(target_keys)}
        return cls(
            positions=torch.cat([p.positions for p in parts]),
            cell=torch.cat([p.cell for p in parts]),
            pbc=torch.cat([p.pbc for p in parts]),
            numbers=torch.cat([p.numbers for p in parts]),
            edge_index=torch.cat([p.edge_index + int(o) for p, o in zip(parts, atom_offsets)], dim=1),
            shifts=torch.cat([p.shifts for p in parts]),
            batch=torch.cat([p.batch + int(o) for p, o in zip(parts, struct_offsets)]),
            n_atoms=torch.cat([p.n_atoms for p in parts]),
            total_charge=torch.cat([p.total_charge for p in parts]),
            targets=targets,
            spin_multiplicity=None if all(p.spin_multiplicity is None for p in parts) else torch.cat([
                torch.ones_like(p.total_charge) if p.spin_multiplicity is None else p.spin_multiplicity
                for p in parts]),
        )

    # ---------------------------------------------------------------- conversion
    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> AtomicBatch:
        """Move to ``device``; cast floating-point tensors (not integer/bool ones) to ``dtype``."""

        def conv(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return AtomicBatch(
            **{f.name: conv(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "targets"},
            targets={k: conv(v) for k, v in self.targets.items()},
        )

    def replace(self, **changes: torch.Tensor) -> AtomicBatch:
        """A shallow copy with some fields replaced (e.g. strained positions and cell)."""
        return dataclasses.replace(self, **changes)

    def split_sizes(self) -> list[int]:
        """Atoms per structure as a python list (for ``tensor.split``)."""
        return [int(n) for n in self.n_atoms.tolist()]
