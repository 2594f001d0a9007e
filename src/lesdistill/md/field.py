r"""A homogeneous external electric field on top of any calculator with Born effective charges.

A field :math:`\mathbf E` (V/Å) couples to the polarization :math:`\mathbf P` (e Å) of the
structure through the enthalpy

.. math::

    U(\{\mathbf r\}) = E_0(\{\mathbf r\}) - \mathbf E\cdot\mathbf P(\{\mathbf r\}),\qquad
    F_{ib} = F^0_{ib} + \sum_a E_a Z^*_{i,ab},\qquad Z^*_{i,ab} = \partial P_a/\partial r_{ib},

so each atom feels :math:`\mathbf F_i \mathrel{+}= Z^{*\,T}_i\mathbf E` (eV/Å; e times V/Å is
eV/Å). For fixed charges :math:`q_i` in an open structure :math:`Z^*_i = q_i\mathbf 1` and the
extra force is exactly :math:`q_i\mathbf E`.

**Open structures**: :math:`\mathbf P = \sum_i q'_i\mathbf r_i` (the student's dipole, with
mean-removed charges :math:`q'`, :func:`lesdistill.les.polarization`, so a charged cluster feels
no net force); the Born effective charges are its exact gradient and :math:`U` is conserved in NVE.

**Periodic cells**: the dipole of a cell is defined only through its changes, so :math:`\mathbf P`
is the itinerant dipole, the time integral of the dipole current :math:`\sum_i Z^*_i\mathbf v_i`
along the trajectory, accumulated from one call to the next by the trapezoidal rule,
:math:`\Delta\mathbf P = \frac12\sum_i (Z^*_i{}^\text{old} + Z^*_i{}^\text{new})\,\Delta\mathbf r_i`
(minimum-image displacements, so wrapping atoms back into the cell does not count), starting from
the phase-form polarization of the first geometry. With the phase-form BECs of
:mod:`lesdistill.les.response` (fixed charges: :math:`Z^*_i = q'_i\mathbf 1`) this is the
macroscopic dipole change that drives ionic conduction and orientation; :math:`U` is conserved to
the order of the integrator. The accumulated dipole is part of the MD checkpoint
(:meth:`FieldCalculator.md_state`), so a resumed run continues it.

``asr=True`` applies the acoustic sum rule, :math:`Z^*_i \to Z^*_i - \frac1N\sum_j Z^*_j`, so that
the field adds no net force (a rigid translation then costs no field energy); the corrected forces
are no longer the gradient of :math:`U` (NVE conserves :math:`U` only as far as the BECs obey the
sum rule already). Stress under a field is not provided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from lesdistill.errors import UserInputError

__all__ = ["FIELD_ENERGY", "FieldCalculator", "check_field"]

#: result key of the field energy -E.P (eV)
FIELD_ENERGY = "field_energy"


def check_field(field_V_per_A: Sequence[float]) -> np.ndarray:
    """The field as a finite float array of shape (3,) (V/Å); UserInputError otherwise."""
    field = np.asarray(field_V_per_A, dtype=float).reshape(-1)
    if field.shape != (3,) or not np.all(np.isfinite(field)):
        raise UserInputError(f"the electric field must be three finite numbers Ex,Ey,Ez in V/Å, "
                             f"got {list(np.asarray(field_V_per_A).reshape(-1))}")
    return field


def _bec_capable(calc: Any) -> str:
    """'' if ``calc`` gives Born effective charges, else why not."""
    if "born_effective_charges" not in getattr(calc, "implemented_properties", ()):
        return f"calculator {type(calc).__name__} gives no Born effective charges"
    model = getattr(calc, "model", None)
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "long_range", True) is False:
        return "this student has no long-range (LES) part, so its charges carry no physics"
    return ""


class FieldCalculator(Calculator):
    """``calc`` plus a homogeneous electric field (module docstring for the physics).

    Args:
        calc: an ASE calculator giving ``born_effective_charges`` (N, 3, 3, e) and ``dipole``
            (open) or ``polarization`` (periodic), e Å (e.g.
            :class:`~lesdistill.StudentCalculator`).
        field_V_per_A: (Ex, Ey, Ez), V/Å.
        asr: subtract the mean BEC before forming the field forces (net field force zero).

    Results: ``energy``/``free_energy`` = E_0 - E.P (eV), ``forces`` (eV/Å) with Z*^T E added,
    ``field_energy`` = -E.P (eV), and ``charges``, ``born_effective_charges``, ``dipole`` or
    ``polarization`` of ``calc``. ``get_dipole_current`` is the one of ``calc``.
    """

    implemented_properties = [
        "energy",
        "free_energy",
        "forces",
        "charges",
        "born_effective_charges",
        "dipole",
        "polarization",
        FIELD_ENERGY,
    ]

    def __init__(self, calc: Any, field_V_per_A: Sequence[float], *, asr: bool = False) -> None:
        super().__init__()
        reason = _bec_capable(calc)
        if reason:
            raise UserInputError(f"an electric field needs Born effective charges: {reason}; use "
                                 "a student with LES (long_range: true) or drop --field")
        self.calc = calc
        self.field = check_field(field_V_per_A)
        self.asr = bool(asr)
        #: periodic: (positions Å, BEC e, itinerant dipole e Å) of the last geometry
        self._path: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def itinerant_dipole(self) -> np.ndarray | None:
        """The accumulated dipole of a periodic cell at the last geometry (e Å), else None."""
        return None if self._path is None else self._path[2].copy()

    def md_state(self) -> dict[str, np.ndarray]:
        """Arrays to keep in an MD checkpoint (the itinerant dipole and its last geometry)."""
        if self._path is None:
            return {}
        positions, bec, dipole = self._path
        return {"field_positions": positions, "field_bec": bec, "field_dipole": dipole}

    def restore_md_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue the itinerant dipole of a checkpoint written from :meth:`md_state`."""
        if "field_dipole" in state:
            self._path = (np.array(state["field_positions"], dtype=float),
                          np.array(state["field_bec"], dtype=float),
                          np.array(state["field_dipole"], dtype=float))

    @property
    def eps_inf(self) -> Any:
        return getattr(self.calc, "eps_inf", None)

    def plan_md_steps(self, n_steps: int) -> None:
        plan = getattr(self.calc, "plan_md_steps", None)
        if callable(plan):
            plan(n_steps)

    def get_dipole_current(self, atoms: Any) -> np.ndarray:
        return self.calc.get_dipole_current(atoms)

    def calculate(self, atoms: Any = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = tuple(all_changes)) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if "stress" in properties:
            raise PropertyNotImplementedError("stress under an external electric field is not "
                                              "provided; run NVT/NVE with a fixed cell")
        inner = self.calc
        if hasattr(inner, "retain_response_graph"):  # the BECs reuse the forward of the forces
            inner.retain_response_graph = True
        moment_key = "polarization" if atoms.pbc.any() else "dipole"
        energy = float(inner.get_potential_energy(atoms))
        forces = np.array(inner.get_forces(atoms), dtype=float)
        bec = np.asarray(inner.get_property("born_effective_charges", atoms), dtype=float)
        moment = np.asarray(inner.get_property(moment_key, atoms), dtype=float).reshape(3)
        z = bec - bec.mean(axis=0) if self.asr else bec
        forces += np.einsum("iab,a->ib", z, self.field)
        if atoms.pbc.any():
            positions = atoms.get_positions()
            if self._path is None or self._path[0].shape != positions.shape:
                dipole = moment.copy()
            else:
                old_positions, old_bec, old_dipole = self._path
                step = positions - old_positions
                frac = np.linalg.solve(atoms.cell.array.T, step.T).T
                frac -= np.round(frac) * atoms.pbc
                step = frac @ atoms.cell.array
                dipole = old_dipole + 0.5 * np.einsum("iab,ib->a", old_bec + bec, step)
            self._path = (positions, bec, dipole)
            field_energy = -float(self.field @ dipole)
        else:
            field_energy = -float(self.field @ moment)
        self.results = {"energy": energy + field_energy, "free_energy": energy + field_energy,
                        "forces": forces, FIELD_ENERGY: field_energy,
                        "born_effective_charges": bec, moment_key: moment}
        charges = inner.results.get("charges")
        if charges is None and "charges" in getattr(inner, "implemented_properties", ()):
            charges = inner.get_charges(atoms)
        if charges is not None:
            self.results["charges"] = np.asarray(charges, dtype=float)
