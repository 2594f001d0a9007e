"""ASE calculator for LES students: energies, forces, stress, latent charges and response.

>>> from lesdistill import StudentCalculator
>>> atoms.calc = StudentCalculator("student.pt", device="cpu")
>>> atoms.get_potential_energy(), atoms.get_forces(), atoms.get_charges()
>>> atoms.calc.get_property("born_effective_charges", atoms)        # (N, 3, 3), e

Results (ASE names and units): ``energy``/``free_energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å^3
(Voigt, only for structures periodic in all three directions), ``charges`` e (physical: latent *
sqrt(eps_inf)), ``polarization`` e Å (any periodic direction; LES periodic form) or ``dipole`` e Å
(open boundary), ``energy_short_range`` / ``energy_long_range`` eV, and on request
``born_effective_charges`` (N, 3, 3) e, Z[i, a, b] = dP_a/dr_ib. Born effective charges need one
backward pass per Cartesian component, so they are computed only when asked for.

The neighbour list is rebuilt on every call (vesin). Elements the model was not trained on raise
``ValueError`` naming them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.model.checkpoint import load_student
from lesdistill.model.student import StudentModel, right_handed
from lesdistill.errors import UserInputError

_BASE = (keys.ENERGY, keys.FORCES, keys.CHARGES, keys.ENERGY_SHORT_RANGE, keys.ENERGY_LONG_RANGE)


def _full_to_voigt(stress: np.ndarray) -> np.ndarray:
    return np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]])


class StudentCalculator(Calculator):
    """ASE calculator wrapping a :class:`~lesdistill.model.StudentModel`.

    Args:
        model: path to a ``.pt`` checkpoint (see :func:`lesdistill.model.save_student`) or a
            ``StudentModel`` instance (used as is, moved to ``device``).
        device: torch device, e.g. "cpu" or "cuda".
        compile: compile the backbone with ``torch.compile`` (inference only; about 2.5x faster
            energy+forces on CPU after a one-off compilation of about a minute; worth it for long
            MD). A ``StudentModel`` passed in is compiled in place.
        trust_backbone: let a checkpoint that names a custom backbone (``module:Factory``)
            import and run that code; only for files you trust (built-in backbones and installed
            ``lesdistill.backbones`` entry points always load).

    A device that is not there (``"cuda"`` on a CPU-only torch) raises ``ValueError`` at once.
    """

    implemented_properties = [
        keys.ENERGY,
        keys.FREE_ENERGY,
        keys.FORCES,
        keys.STRESS,
        keys.CHARGES,
        keys.BEC,
        keys.POLARIZATION,
        keys.DIPOLE,
        keys.ENERGY_SHORT_RANGE,
        keys.ENERGY_LONG_RANGE,
    ]

    def __init__(
        self,
        model: str | os.PathLike[str] | StudentModel = "student.pt",
        device: str = "cpu",
        *,
        compile: bool = False,
        trust_backbone: bool = False,
        **kwargs: Any,
    ) -> None:
        from lesdistill.device import check_device

        super().__init__(**kwargs)
        device = check_device(device)
        if isinstance(model, StudentModel):
            self.model = model.to(device)
        elif isinstance(model, (str, os.PathLike)):
            self.model = load_student(Path(model), device=device, trust_backbone=trust_backbone)
        else:
            raise TypeError(f"model must be a checkpoint path or a StudentModel, got {type(model).__name__}")
        self.device = torch.device(device)
        if compile:
            self.model.compile_backbone()

    # ------------------------------------------------------------------ helpers
    @property
    def eps_inf(self) -> float:
        return self.model.config.eps_inf

    def _check_atoms(self, atoms: Atoms) -> None:
        if not isinstance(atoms, Atoms):
            raise TypeError(f"expected ase.Atoms, got {type(atoms).__name__}")
        unseen = sorted(set(atoms.get_chemical_symbols()) - set(self.model.elements))
        if unseen:
            raise UserInputError(
                f"elements {unseen} were not in the training set of this student "
                f"(it knows {list(self.model.elements)}); fine-tune it with --allow-new-elements"
            )

    def _batch(self, atoms: Atoms) -> AtomicBatch:
        self._check_atoms(atoms)
        return AtomicBatch.from_atoms([atoms], self.model.cutoff, dtype=self.model.dtype, device=self.model.device)

    def _tensors(self, atoms: Atoms) -> tuple[torch.Tensor, torch.Tensor | None]:
        kw = {"dtype": self.model.dtype, "device": self.model.device}
        positions = torch.tensor(atoms.get_positions(), **kw)
        cell = right_handed(torch.tensor(atoms.get_cell().array, **kw)) if atoms.pbc.any() else None
        return positions, cell

    # ------------------------------------------------------------------ ASE interface
    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = (keys.ENERGY,),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if keys.STRESS in properties and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                "stress needs a structure periodic in all three directions (atoms.pbc = True)"
            )
        if any(k not in self.results for k in _BASE):
            self._calculate_base(atoms)
        if keys.BEC in properties and keys.BEC not in self.results:
            self.results[keys.BEC] = self.born_effective_charges(atoms)

    def _calculate_base(self, atoms: Atoms) -> None:
        from lesdistill.les import polarization

        batch = self._batch(atoms)
        periodic = bool(atoms.pbc.all())
        out = self.model(batch, compute_forces=True, compute_stress=periodic, create_graph=False)
        energy = float(out[keys.ENERGY][0].detach())
        charges = out[keys.CHARGES].detach()
        results: dict[str, Any] = {
            keys.ENERGY: energy,
            keys.FREE_ENERGY: energy,
            keys.FORCES: out[keys.FORCES].detach().cpu().numpy().astype(np.float64),
            keys.CHARGES: charges.cpu().numpy().astype(np.float64),
            keys.ENERGY_SHORT_RANGE: float(out[keys.ENERGY_SHORT_RANGE][0].detach()),
            keys.ENERGY_LONG_RANGE: float(out[keys.ENERGY_LONG_RANGE][0].detach()),
        }
        if periodic:
            stress = out[keys.STRESS][0].detach().cpu().numpy().astype(np.float64)
            results[keys.STRESS] = _full_to_voigt(stress)
        positions, cell = self._tensors(atoms)
        with torch.no_grad():
            moment = polarization(charges, positions, cell).cpu().numpy().astype(np.float64)
        results[keys.POLARIZATION if cell is not None else keys.DIPOLE] = moment
        self.results.update(results)

    # ------------------------------------------------------------------ response
    def charge_function(self, atoms: Atoms) -> Callable[[torch.Tensor], torch.Tensor]:
        """Latent charges as a differentiable function of positions (neighbour list of ``atoms``).

        Returns ``fn(positions [N, 3] Å) -> latent charges [N] e`` (multiply by sqrt(eps_inf)
        for physical charges), the ``charge_fn`` of :mod:`lesdistill.les` response functions.
        The neighbour list is built once from ``atoms``: valid for small displacements.
        """
        batch = self._batch(atoms)
        model = self.model

        def charge_fn(positions: torch.Tensor) -> torch.Tensor:
            positions = torch.as_tensor(positions).to(device=model.device, dtype=model.dtype)
            if positions.shape != batch.positions.shape:
                expected = tuple(batch.positions.shape)
                raise ValueError(f"positions must have shape {expected}, got {tuple(positions.shape)}")
            return model.latent_charges(batch.replace(positions=positions))

        return charge_fn

    def born_effective_charges(self, atoms: Atoms) -> np.ndarray:
        """Born effective charges (N, 3, 3) in e, Z[i, a, b] = dP_a / dr_ib (incl. sqrt(eps_inf))."""
        from lesdistill.les import born_effective_charges

        charge_fn = self.charge_function(atoms)
        positions, cell = self._tensors(atoms)
        bec = born_effective_charges(charge_fn, positions, cell, eps_inf=self.eps_inf)
        return bec.detach().cpu().numpy().astype(np.float64)

    def get_dipole_current(self, atoms: Atoms) -> np.ndarray:
        """Dipole current dM/dt = sum_i Z*_i v_i (3,), e Å/fs, from ``atoms.get_velocities()``."""
        from lesdistill.les import dipole_current

        velocities = np.asarray(atoms.get_velocities(), dtype=np.float64) * units.fs  # Å/fs
        charge_fn = self.charge_function(atoms)
        positions, cell = self._tensors(atoms)
        v = torch.tensor(velocities, dtype=self.model.dtype, device=self.model.device)
        current = dipole_current(charge_fn, positions, v, cell, eps_inf=self.eps_inf)
        return current.detach().cpu().numpy().astype(np.float64)
