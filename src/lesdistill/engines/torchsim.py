"""The LES student as a torch-sim model: batched energies, forces, stress, charges and response.

torch-sim (package ``torch-sim-atomistic``, optional extra ``lesdistill[torchsim]``) integrates
many systems at once as one :class:`torch_sim.state.SimState` (atoms of all systems
concatenated, ``system_idx`` per atom). :class:`StudentTorchSimModel` implements its
``ModelInterface``: ``model(state)`` returns

* ``energy`` [S] eV, ``forces`` [N, 3] eV/Å, ``charges`` [N] e (physical: latent * sqrt(eps_inf)),
  ``energy_short_range`` / ``energy_long_range`` [S] eV,
* ``stress`` [S, 3, 3] eV/Å^3 when built with ``compute_stress=True`` (the ASE sign: (1/V)
  dE/d(strain), as :class:`~lesdistill.calculator.StudentCalculator`).

:meth:`StudentTorchSimModel.response` gives per-system Born effective charges and dipole
currents: the charges of all systems come from one forward pass and the vector-Jacobian
products of the LES read-out (six backward passes for periodic cells, three for open ones) are
taken for all systems at once, since the charges of one system do not depend on the atoms of
another; the result equals the ASE calculator's per system to round-off.

Conventions of torch-sim (0.3 and later): cells are stored column-wise (``state.cell[s]`` has
the lattice vectors as columns; ``state.row_vector_cell`` is ASE's layout), momenta in
amu Å / t with ASE's time unit t = ``ase.units.fs`` * fs, energies in eV.

Neighbour lists are built per system with vesin on the host (exactly the pairs within the
cutoff, as the calculator), so a step copies the positions to the CPU once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.data.neighbors import neighbor_list
from lesdistill.device import check_device
from lesdistill.errors import MissingDependencyError, UserInputError
from lesdistill.les.response import ResponseTerms
from lesdistill.les.slab import slab_cell, slab_frame
from lesdistill.model.checkpoint import load_student
from lesdistill.model.student import StudentModel, right_handed

__all__ = ["BatchedResponse", "StudentTorchSimModel", "require_torch_sim"]


def require_torch_sim() -> Any:
    """Import torch_sim or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import torch_sim
    except ImportError:
        raise MissingDependencyError("torch-sim-atomistic", "torchsim",
                                     "batched replica MD (--replicas)") from None
    return torch_sim


def _interface() -> type:
    require_torch_sim()
    from torch_sim.models.interface import ModelInterface

    return ModelInterface


def _system_index(state: Any) -> torch.Tensor:
    index = getattr(state, "system_idx", None)
    return state.batch if index is None else index


def _pbc(state: Any) -> np.ndarray:
    pbc = state.pbc
    if isinstance(pbc, torch.Tensor):
        pbc = pbc.detach().cpu().numpy()
    return np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()


@dataclass
class BatchedResponse:
    """Per-system response of one batched geometry (lists indexed by system)."""

    terms: list[ResponseTerms]
    sizes: list[int]

    def dipole_currents(self, velocities: torch.Tensor) -> torch.Tensor:
        """dM/dt of every system [S, 3], e Å/fs, from ``velocities`` [N, 3] (Å/fs)."""
        parts = velocities.split(self.sizes)
        return torch.stack([t.dipole_current(v) for t, v in zip(self.terms, parts, strict=True)])

    def born_effective_charges(self) -> list[torch.Tensor]:
        """Z*[i, a, b] = dP_a/dr_ib of every system, a list of [n_s, 3, 3] tensors, e."""
        return [t.born_effective_charges() for t in self.terms]


def _segment_mean(values: torch.Tensor, index: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per-system mean of ``values`` [K, N] over atoms, broadcast back to [K, N]."""
    sums = values.new_zeros((values.shape[0], counts.shape[0])).index_add_(1, index, values)
    return (sums / counts.to(values.dtype))[:, index]


class _StudentTorchSimMixin:
    """Everything except the torch-sim base class (bound in :func:`StudentTorchSimModel`)."""

    def _setup(self, model: StudentModel, *, compute_stress: bool) -> None:
        self.student = model
        self._device = model.device
        self._dtype = model.dtype
        self._compute_stress = bool(compute_stress)
        self._compute_forces = True
        self._memory_scales_with = "n_atoms_x_density"

    # ------------------------------------------------------------------ batch
    def atomic_batch(self, state: Any, requires_grad: bool = False) -> AtomicBatch:
        """The model's :class:`AtomicBatch` of a torch-sim state (neighbour lists by vesin)."""
        model = self.student
        dev, dt = model.device, model.dtype
        index = _system_index(state).to(dev)
        positions = state.positions.to(device=dev, dtype=dt)
        cells = state.row_vector_cell.to(device=dev, dtype=dt)  # [S, 3, 3] rows
        pbc = _pbc(state)
        numbers = state.atomic_numbers.to(dev).long()
        counts = torch.bincount(index, minlength=cells.shape[0])
        sizes = counts.tolist()
        host_pos = positions.detach().to("cpu", torch.float64).numpy()
        host_cells = cells.detach().to("cpu", torch.float64).numpy()
        edges, shifts, start = [], [], 0
        for s, n in enumerate(sizes):
            i, j, shift = neighbor_list(host_pos[start:start + n], host_cells[s], pbc, model.cutoff)
            edges.append(np.stack([i, j]) + start)
            shifts.append(shift)
            start += n
        charge = getattr(state, "total_charge", None)
        total = (torch.zeros(len(sizes), dtype=dt, device=dev) if charge is None
                 else torch.as_tensor(charge, dtype=dt, device=dev).reshape(len(sizes)))
        if requires_grad:
            positions = positions.detach().requires_grad_(True)
        return AtomicBatch(
            positions=positions,
            cell=cells,
            pbc=torch.tensor(pbc, device=dev).expand(len(sizes), 3).clone(),
            numbers=numbers,
            edge_index=torch.from_numpy(np.concatenate(edges, axis=1)).to(dev),
            shifts=torch.from_numpy(np.concatenate(shifts).astype(np.float64)).to(
                device=dev, dtype=dt
            ),
            batch=index,
            n_atoms=counts,
            total_charge=total,
        )

    # ------------------------------------------------------------------ torch-sim API
    def forward(self, state: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Energies [S] (eV), forces [N, 3] (eV/Å), charges [N] (e), stress [S, 3, 3] if set."""
        if isinstance(state, dict):
            from torch_sim.state import SimState

            state = SimState(**state)
        batch = self.atomic_batch(state, requires_grad=True)
        out = self.student(batch, compute_forces=True, compute_stress=self._compute_stress,
                           create_graph=False)
        result = {
            name: out[name].detach()
            for name in (
                keys.ENERGY,
                keys.FORCES,
                keys.CHARGES,
                keys.ENERGY_SHORT_RANGE,
                keys.ENERGY_LONG_RANGE,
            )
        }
        if self._compute_stress:
            result[keys.STRESS] = out[keys.STRESS].detach()
        return result

    def response(self, state: Any) -> BatchedResponse:
        """Born effective charges and dipole currents of every system of ``state``.

        All systems must be periodic (any direction, as the calculator: phase form; a slab
        student: phase form in the plane and the dipole along the normal) or all open.
        """
        model = self.student
        batch = self.atomic_batch(state)
        sizes = batch.split_sizes()
        periodic = bool(batch.pbc[0].any())
        scale = math.sqrt(model.config.eps_inf)
        with torch.enable_grad():
            x = batch.positions.detach().requires_grad_(True)
            q_raw = model.latent_charges(batch.replace(positions=x))
            index, counts = batch.batch, batch.n_atoms
            q = q_raw.detach()
            q = q - _segment_mean(q.unsqueeze(0), index, counts)[0]
            xd = x.detach()
            slab = periodic and model.config.slab
            normals = None
            if periodic:
                cells = torch.stack([right_handed(c) for c in batch.cell.detach()])
                if slab:  # phase form in the plane, heights along the normal (les.response)
                    normals = torch.stack([slab_frame(c)[0] for c in cells])
                    inv = torch.linalg.inv(torch.stack([slab_cell(c) for c in cells]))[:, :, :2]
                else:
                    inv = torch.linalg.inv(cells)
                angles = 2.0 * math.pi * torch.einsum("nk,nkl->ln", xd, inv[index])  # [d, N]
                readout = torch.cat([torch.cos(angles), torch.sin(angles)])  # [2d, N]
                if normals is not None:
                    readout = torch.cat([readout, (xd * normals[index]).sum(dim=1).unsqueeze(0)])
            else:
                cells = None
                readout = (xd - _segment_mean(xd.T, index, counts).T).T.contiguous()  # [3, N]
            cotangents = readout - _segment_mean(readout, index, counts) if periodic else readout
            grads = []
            for k in range(cotangents.shape[0]):
                (g,) = torch.autograd.grad(q_raw, x, grad_outputs=cotangents[k],
                                           retain_graph=k < cotangents.shape[0] - 1,
                                           allow_unused=True)
                grads.append(torch.zeros_like(x) if g is None else g)
            grads_t = torch.stack(grads)  # [K, N, 3]
        terms, start = [], 0
        for s, n in enumerate(sizes):
            part = slice(start, start + n)
            if normals is not None:  # slab: two phase directions, then the heights
                terms.append(
                    ResponseTerms(
                        q[part],
                        cells[s][:2],
                        readout[:4, part],
                        grads_t[:, part],
                        scale,
                        normals[s],
                    )
                )
            else:
                terms.append(ResponseTerms(q[part], None if cells is None else cells[s],
                                           readout[:, part] if periodic else None,
                                           grads_t[:, part], scale))
            start += n
        return BatchedResponse(terms, sizes)


def StudentTorchSimModel(model: str | os.PathLike[str] | StudentModel, device: str = "cpu", *,
                         compute_stress: bool = False, trust_backbone: bool = False) -> Any:
    """A torch-sim ``ModelInterface`` of a student (checkpoint path or ``StudentModel``).

    The class derives from torch-sim's ``ModelInterface``, so it is created on first use (torch-sim
    stays an optional import). Raises :class:`MissingDependencyError` without torch-sim.
    """
    device = check_device(device)
    if isinstance(model, StudentModel):
        student = model.to(device)
    elif isinstance(model, (str, os.PathLike)):
        student = load_student(Path(model), device=device, trust_backbone=trust_backbone)
    else:
        raise TypeError(
            f"model must be a checkpoint path or a StudentModel, got {type(model).__name__}"
        )
    cls = _model_class()
    instance = cls()
    instance._setup(student, compute_stress=compute_stress)
    return instance


_CLASS: type | None = None


def _model_class() -> type:
    global _CLASS
    if _CLASS is None:
        base = _interface()

        class _Model(_StudentTorchSimMixin, base):  # type: ignore[misc, valid-type]
            """LES student behind torch-sim's ModelInterface (see the module docstring)."""

            def __init__(self) -> None:
                torch.nn.Module.__init__(self)

        _Model.__name__ = _Model.__qualname__ = "StudentTorchSimModel"
        _CLASS = _Model
    return _CLASS


def state_from_atoms(atoms_list: list[Any], model: Any) -> Any:
    """A torch-sim ``SimState`` of ASE structures on the model's device and dtype.

    All structures must share one periodicity (torch-sim keeps one ``pbc`` per state).
    """
    torch_sim = require_torch_sim()
    pbcs = {tuple(bool(p) for p in a.pbc) for a in atoms_list}
    if len(pbcs) != 1:
        raise UserInputError("replicas must share one periodicity (atoms.pbc); got "
                             f"{sorted(pbcs)}")
    pbc = next(iter(pbcs))
    if len(set(pbc)) != 1:
        raise UserInputError(f"torch-sim needs a structure periodic in all directions or in none; "
                             f"got pbc={list(pbc)}")
    return torch_sim.io.atoms_to_state(atoms_list, device=model.device, dtype=model.dtype)
