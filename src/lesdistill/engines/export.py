"""Export a student (backbone + charge head + LES) as a ``torch.export`` program (``.pt2``)
that any PyTorch >= 2.5 loads and runs without lesdistill.

``export_student(model, atoms, "student.pt2")`` traces energy, forces (their autograd backward
included) and charges into one ATen graph (``make_fx``), with the number of atoms and of
neighbour pairs dynamic, and saves it with ``torch.export.save``. The consumer loads it with

.. code-block:: python

    import json, torch
    extra = {"lesdistill.json": ""}
    program = torch.export.load("student.pt2", extra_files=extra).module()
    meta = json.loads(extra["lesdistill.json"])        # elements, cutoff_A, cell_A, dtype, ...
    energy, forces, charges = program(positions, numbers, edge_index, shifts)

Inputs: ``positions`` [N, 3] Å (dtype ``meta["dtype"]``), ``numbers`` [N] int64 atomic numbers
(of ``meta["elements"]`` only: an unknown element gives an index error), ``edge_index`` [2, E]
int64, the full neighbour list (i -> j and j -> i) of all pairs closer than ``meta["cutoff_A"]``,
and ``shifts`` [E, 3] (integer lattice shifts as floats) with r_ij = r_j - r_i + shifts @ cell.
Outputs: energy [] eV, forces [N, 3] eV/Å, charges [N] e (physical: latent * sqrt(eps_inf)).

What is fixed at export: the cell ``meta["cell_A"]`` (rows, Å) of a periodic structure, with its
reciprocal-space k-set baked into the program (NVT/NVE at that cell; a new cell needs a new
export), or an open structure (``cell_A`` None: the exact erf pair sum, any N). The periodic
long range is always the direct Ewald sum (O(N K)): the PME path has data-dependent control
flow that does not trace into a program, so a student that runs PME (``les_method`` pme, or auto in
a large cell) gives the same filtered energy up to PME's error (~1e-5 relative) in the exported
program. Stress is not exported. The ZBL repulsion prior, if the student has one, is evaluated on
all pairs with a mask instead of selecting the close ones (same values).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesdistill.data.batch import AtomicBatch
from lesdistill.data.neighbors import neighbor_list
from lesdistill.errors import UserInputError
from lesdistill.fileio import atomic_path
from lesdistill.les import ewald
from lesdistill.les.ewald import ewald_energy, open_energy
from lesdistill.model.checkpoint import load_student
from lesdistill.model.repulsion import smoothstep_off, zbl_energy
from lesdistill.model.student import StudentModel, right_handed

__all__ = ["FORMAT", "META_FILE", "export_student", "example_inputs"]

FORMAT = "lesdistill-export/1"
META_FILE = "lesdistill.json"


def _dense_repulsion(repulsion: Any, species: torch.Tensor, edge_index: torch.Tensor,
                     vectors: torch.Tensor) -> torch.Tensor:
    """:class:`~lesdistill.model.repulsion.ZBLRepulsion` on all pairs, masked (no data-dependent
    selection, so the graph has static structure)."""
    i, j = edge_index[0], edge_index[1]
    s_i, s_j = species[i], species[j]
    r_out = repulsion.r_out.to(vectors.dtype)[s_i, s_j]
    r2 = (vectors * vectors).sum(dim=1)
    close = r2 < r_out * r_out
    r = torch.where(close, r2, r_out * r_out).clamp_min(1e-12).sqrt()
    z = repulsion.z.to(vectors.dtype)
    pair = zbl_energy(r, z[s_i], z[s_j]) * smoothstep_off(r, r_out)
    pair = torch.where(close, pair, torch.zeros_like(pair))
    return vectors.new_zeros(species.shape[0]).index_add(0, i, 0.5 * pair)


class _Forward(torch.nn.Module):
    """Energy, forces, charges of one structure at a fixed cell (the function that is traced)."""

    def __init__(self, model: StudentModel, cell: torch.Tensor | None, method: str) -> None:
        super().__init__()
        self.model = model
        self.cell = cell  # [3, 3] rows, right-handed, or None (open)
        self.method = method

    def energy(self, positions: torch.Tensor, numbers: torch.Tensor, edge_index: torch.Tensor,
               shifts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.model
        n = positions.shape[0]
        species = model.z_to_index[numbers]
        cell = (self.cell if self.cell is not None else
                torch.zeros(3, 3, dtype=positions.dtype, device=positions.device)).unsqueeze(0)
        batch = AtomicBatch(
            positions=positions, cell=cell,
            pbc=torch.full((1, 3), self.cell is not None, device=positions.device),
            numbers=numbers, edge_index=edge_index, shifts=shifts,
            batch=torch.zeros_like(numbers), n_atoms=torch.ones_like(numbers[:1]) * n,
            total_charge=positions.new_zeros(1))
        vectors = model._edge_vectors(batch, positions, cell)
        features, atomic = model._backbone(eager=True)(species, edge_index, vectors, batch)
        atomic = atomic + model.reference_energies[species]
        if model.repulsion is not None:
            atomic = atomic + _dense_repulsion(model.repulsion, species, edge_index, vectors)
        q = model._charges(features, batch)
        energy = atomic.sum()
        if model.config.long_range:
            energy = energy + self._long_range(q, positions)
        return energy, q

    def _long_range(self, q: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        config = self.model.config
        if self.cell is None:
            return open_energy(q, positions, sigma=config.les_sigma)
        return ewald_energy(q, positions, self.cell, sigma=config.les_sigma, dl=config.les_dl)

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor, edge_index: torch.Tensor,
                shifts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            x = positions.detach().requires_grad_(True)
            energy, q = self.energy(x, numbers, edge_index, shifts)
            (grad,) = torch.autograd.grad(energy, x)
        scale = math.sqrt(self.model.config.eps_inf)
        return energy.detach(), -grad, q.detach() * scale


def example_inputs(model: StudentModel, atoms: Any) -> tuple[torch.Tensor, ...]:
    """(positions, numbers, edge_index, shifts) of ``atoms`` as the exported program takes them."""
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, model.cutoff)
    return (torch.tensor(atoms.positions, dtype=model.dtype, device=model.device),
            torch.tensor(atoms.numbers, dtype=torch.long, device=model.device),
            torch.from_numpy(np.stack([i, j])).to(model.device),
            torch.from_numpy(shifts.astype(np.float64)).to(model.device, model.dtype))


@contextlib.contextmanager
def _fixed_kspace(cell: torch.Tensor | None, model: StudentModel) -> Iterator[None]:
    """While tracing, the direct sum's k-set is that of the fixed ``cell`` (computed here from
    its values: inside the trace the cell is a symbolic tensor without values)."""
    from unittest import mock

    if cell is None:
        yield
        return
    k_cut = 2.0 * math.pi / model.config.les_dl
    consts = ewald.kspace_terms(cell, float(model.config.les_sigma), k_cut)
    with mock.patch.object(ewald, "kspace_terms", lambda *args, **kwargs: consts):
        yield


class _Program(torch.nn.Module):
    """The traced graph with the student's tensors as buffers (what torch.export saves)."""

    def __init__(self, graph: torch.fx.GraphModule, tensors: list[torch.Tensor]) -> None:
        super().__init__()
        self.graph_module = graph
        self.n_tensors = len(tensors)
        for k, tensor in enumerate(tensors):
            self.register_buffer(f"t{k}", tensor)

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor, edge_index: torch.Tensor,
                shifts: torch.Tensor) -> Any:
        tensors = [getattr(self, f"t{k}") for k in range(self.n_tensors)]
        return self.graph_module(positions, numbers, edge_index, shifts, *tensors)


def export_student(model: StudentModel | str | os.PathLike[str], atoms: Any,
                   path: str | os.PathLike[str], *, trust_backbone: bool = False) -> Path:
    """Trace and save the student for structures like ``atoms`` (its cell and pbc; any N).

    ``atoms`` must be periodic in all three directions (the cell is baked in) or in none.
    Returns the written path (``.pt2``, written atomically).
    """
    from torch.fx.experimental.proxy_tensor import make_fx

    if not isinstance(model, StudentModel):
        model = load_student(Path(model), device="cpu", trust_backbone=trust_backbone)
    unsupported = [
        name
        for name, on in (
            ("charge_model: qeq", model.config.charge_model != "latent"),
            ("les_channels > 1", model.config.les_channels != 1),
            ("charge_spin_embedding", model.config.charge_spin_embedding),
            ("les_slab_correction", model.config.slab),
        )
        if on
    ]
    if unsupported:
        raise UserInputError(
            f"export supports the plain latent-charge student only; this one uses "
            f"{', '.join(unsupported)} (run it through the ASE calculator or torch-sim)"
        )
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise UserInputError(f"export needs a structure periodic in all three directions or in "
                             f"none, got pbc={pbc.tolist()}")
    unseen = sorted(set(atoms.get_chemical_symbols()) - set(model.elements))
    if unseen:
        raise UserInputError(f"elements {unseen} are not known to this student (it knows "
                             f"{list(model.elements)})")
    model = model.eval()
    cell = None
    method = "open"
    if pbc.all():
        cell = right_handed(torch.tensor(atoms.cell.array, dtype=model.dtype, device=model.device))
        method = "ewald"  # the direct sum: PME does not trace (module docstring)
    forward = _Forward(model, cell, method)
    names, tensors = [], []
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        names.append(name)
        tensors.append(tensor.detach())

    def traced(positions, numbers, edge_index, shifts, *values):
        state = dict(zip(names, values, strict=True))
        return torch.func.functional_call(forward, {f"model.{k}": v for k, v in state.items()},
                                          (positions, numbers, edge_index, shifts))

    inputs = example_inputs(model, atoms)
    with _fixed_kspace(cell, model):
        graph = make_fx(traced, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*inputs,
                                                                                      *tensors)
    program = _Program(graph, tensors)
    n_atoms = torch.export.Dim("n_atoms", min=2, max=10_000_000)
    n_edges = torch.export.Dim("n_edges", min=2, max=2_000_000_000)
    exported = torch.export.export(
        program, inputs, strict=False,
        dynamic_shapes={"positions": {0: n_atoms}, "numbers": {0: n_atoms},
                        "edge_index": {1: n_edges}, "shifts": {0: n_edges}})
    meta = {"format": FORMAT, "elements": list(model.elements), "cutoff_A": float(model.cutoff),
            "dtype": str(model.dtype).replace("torch.", ""), "eps_inf": float(model.config.eps_inf),
            "cell_A": None if cell is None else cell.tolist(), "long_range_method": method,
            "inputs": ["positions [N, 3] Å", "numbers [N] int64", "edge_index [2, E] int64",
                       "shifts [E, 3] (lattice shifts)"],
            "outputs": ["energy [] eV", "forces [N, 3] eV/Å", "charges [N] e"]}
    out = Path(path)
    with atomic_path(out) as tmp:
        torch.export.save(exported, str(tmp), extra_files={META_FILE: json.dumps(meta)})
    return out

