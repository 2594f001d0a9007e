r"""Analytic teachers with known charges: point-charge Coulomb (exact Ewald) + Born-Mayer repulsion.

These teachers validate distillation: their atomic charges are fixed and known, so a student
trained on their energies and forces must recover them. The energy (eV) is

.. math::

    E = \frac{k_e}{2} \sum_{i,j,\mathbf n}' \frac{q_i q_j}{|\mathbf r_{ij} + \mathbf n|}
        + \sum_{i<j,\mathbf n} \left[A e^{-r_{ij,\mathbf n}/\rho} - A e^{-r_c/\rho}\right]_{r<r_c}

with :math:`k_e` = ``lesdistill.units.COULOMB_EV_A`` (eV Å / e^2). Periodic cells use the Ewald sum
of torch-pme (real + reciprocal space, converged to ~1e-10 relative by construction of the
splitting parameters); open structures use the direct pair sum. Forces (eV/Å) and stress (eV/Å^3,
ASE Voigt order and sign) come from autograd of the same energy; ``results["charges"]`` are the
true charges (e).

Named models (``get_teacher("analytic-<name>")``): ``ionic`` (Na +1 e / Cl -1 e, rock-salt
nearest-neighbour equilibrium near 2.8 Å) and ``ionic-half`` (same with +-0.5 e, softer
repulsion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import Teacher, TeacherInfo
from lesdistill.units import COULOMB_EV_A

if TYPE_CHECKING:
    import torch
    from ase import Atoms


@dataclass(frozen=True)
class IonicModel:
    """Point charges per element (e) + one Born-Mayer repulsion A exp(-r/rho) for all pairs.

    ``repulsion_A_eV`` (eV), ``repulsion_rho_A`` (Å), ``cutoff_A`` (Å): real-space cutoff of both
    the Ewald short-range part and the (energy-shifted) repulsion.
    """

    charges: dict[str, float] = field(default_factory=lambda: {"Na": 1.0, "Cl": -1.0})
    repulsion_A_eV: float = 1914.0
    repulsion_rho_A: float = 0.30
    cutoff_A: float = 7.0
    tolerance: float = 1e-10  # relative truncation of the real- and reciprocal-space Gaussians

    def __post_init__(self) -> None:
        if not self.charges:
            raise UserInputError("IonicModel: charges must name at least one element")
        for name, value in (("repulsion_A_eV", self.repulsion_A_eV),
                            ("repulsion_rho_A", self.repulsion_rho_A),
                            ("cutoff_A", self.cutoff_A)):
            if not value > 0:
                raise UserInputError(f"IonicModel: {name} must be > 0, got {value}")
        if not 0 < self.tolerance < 1e-2:
            raise UserInputError(
                f"IonicModel: tolerance must be in (0, 1e-2), got {self.tolerance}"
            )

    @property
    def smearing_A(self) -> float:
        """Ewald splitting width sigma (Å): erfc(r_c / (sqrt 2 sigma)) ~ tolerance."""
        x = math.sqrt(-math.log(self.tolerance))  # erfc(x) ~ exp(-x^2)
        return self.cutoff_A / (math.sqrt(2.0) * x)

    @property
    def lr_wavelength_A(self) -> float:
        """Shortest wavelength (Å) kept in reciprocal space: exp(-sigma^2 k_c^2 / 2) ~ tolerance."""
        k_cut = math.sqrt(-2.0 * math.log(self.tolerance)) / self.smearing_A
        return 2.0 * math.pi / k_cut


ANALYTIC_MODELS: dict[str, IonicModel] = {
    "ionic": IonicModel(),
    "ionic-half": IonicModel(charges={"Na": 0.5, "Cl": -0.5}, repulsion_A_eV=600.0),
}


class AnalyticIonicCalculator(Calculator):
    """ASE calculator for :class:`IonicModel`: energy, forces, stress (periodic), charges.

    Periodic cells must be periodic in all three directions and charge neutral; open structures
    (pbc all False) use direct Coulomb sums. ``device`` is a torch device string.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges"]

    def __init__(self, model: IonicModel | None = None, device: str = "cpu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model if model is not None else IonicModel()
        self.device = device

    def atom_charges(self, atoms: Atoms) -> np.ndarray:
        """True charges (e) of ``atoms``; ValueError naming elements the model does not have."""
        symbols = atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(self.model.charges))
        if unknown:
            raise UserInputError(
                f"analytic teacher has no charge for element(s) {', '.join(unknown)}; "
                f"it knows {', '.join(sorted(self.model.charges))}"
            )
        return np.array([self.model.charges[s] for s in symbols], dtype=float)

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None  # set by Calculator.calculate
        energy, forces, stress = ionic_energy_forces_stress(
            self.atoms, self.model, self.atom_charges(self.atoms), self.device
        )
        self.results = {"energy": energy, "free_energy": energy, "forces": forces,
                        "charges": self.atom_charges(self.atoms)}
        if stress is not None:
            self.results["stress"] = stress


def ionic_energy_forces_stress(
    atoms: Atoms, model: IonicModel, charges: np.ndarray, device: str = "cpu"
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Energy (eV), forces (N, 3) eV/Å and stress (6,) eV/Å^3 (None if open) of ``atoms``."""
    import torch

    pbc = np.asarray(atoms.pbc, dtype=bool)
    periodic = bool(pbc.all())
    if pbc.any() and not periodic:
        raise UserInputError(
            f"analytic teacher needs pbc all True or all False, got pbc={pbc.tolist()}"
        )
    if periodic and abs(charges.sum()) > 1e-8:
        raise UserInputError(
            "analytic teacher: periodic cell must be charge "
            f"neutral, total charge {charges.sum():g} e"
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise UserInputError("analytic teacher: NaN/inf positions")
    dtype = torch.float64
    pos0 = torch.tensor(atoms.positions, dtype=dtype, device=device, requires_grad=True)
    cell0 = torch.tensor(np.asarray(atoms.cell.array), dtype=dtype, device=device)
    strain = torch.zeros((3, 3), dtype=dtype, device=device, requires_grad=periodic)
    deform = torch.eye(3, dtype=dtype, device=device) + 0.5 * (strain + strain.T)
    pos = pos0 @ deform
    cell = cell0 @ deform
    q = torch.tensor(charges, dtype=dtype, device=device)

    i, j, shifts = _pairs(atoms, model.cutoff_A, periodic)
    i_t = torch.as_tensor(i, device=device)
    j_t = torch.as_tensor(j, device=device)
    s_t = torch.as_tensor(shifts, dtype=dtype, device=device)
    vec = pos[j_t] - pos[i_t] + s_t @ cell
    dist = torch.linalg.norm(vec, dim=1)

    rho, amp = model.repulsion_rho_A, model.repulsion_A_eV
    e_rep = (amp * (torch.exp(-dist / rho) - math.exp(-model.cutoff_A / rho))).sum()
    if periodic:
        e_coul = _ewald_energy(q, pos, cell, i_t, j_t, dist, model)
    else:
        e_coul = _direct_coulomb(q, pos)
    energy = e_coul + e_rep
    inputs = [pos0, strain] if periodic else [pos0]
    grads = torch.autograd.grad(energy, inputs)
    forces = -grads[0].detach().cpu().numpy()
    stress = None
    if periodic:
        volume = abs(float(np.linalg.det(atoms.cell.array)))
        sig = grads[1].detach().cpu().numpy() / volume
        stress = full_3x3_to_voigt_6_stress(sig)
    return float(energy.detach().cpu()), forces, stress


def _pairs(
    atoms: Atoms, cutoff: float, periodic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half neighbour list (i, j, integer cell shifts) within ``cutoff`` (Å), via vesin."""
    from vesin import NeighborList

    box = np.asarray(atoms.cell.array, dtype=float) if periodic else np.zeros((3, 3))
    nl = NeighborList(cutoff=cutoff, full_list=False)
    i, j, s = nl.compute(np.asarray(atoms.positions, dtype=float), box, periodic, quantities="ijS")
    return i.astype(np.int64), j.astype(np.int64), s.astype(float)


def _ewald_energy(q: torch.Tensor, pos: torch.Tensor, cell: torch.Tensor, i: torch.Tensor,
                  j: torch.Tensor, dist: torch.Tensor, model: IonicModel) -> torch.Tensor:
    """Ewald Coulomb energy (eV) via torch-pme; real-space pairs must cover ``model.cutoff_A``."""
    import torch
    from torchpme import CoulombPotential, EwaldCalculator

    potential = CoulombPotential(smearing=model.smearing_A).to(device=q.device, dtype=q.dtype)
    calc = EwaldCalculator(potential, lr_wavelength=model.lr_wavelength_A).to(
        device=q.device, dtype=q.dtype
    )
    phi = calc(q[:, None], cell, pos, torch.stack([i, j], dim=1), dist,
               kvectors=_kvectors(cell, 2.0 * math.pi / model.lr_wavelength_A))
    return COULOMB_EV_A * (q[:, None] * phi).sum()


def _kvectors(cell: torch.Tensor, k_cut: float) -> torch.Tensor:
    """All reciprocal vectors 0 < |k| <= k_cut (1/Å) of ``cell`` (rows = lattice vectors).

    Built explicitly (a sphere, differentiable w.r.t. the cell) so the truncation is exactly
    the one the splitting parameters were chosen for.
    """
    import torch

    recip = 2.0 * math.pi * torch.linalg.inv(cell).T  # rows b_i, a_i . b_j = 2 pi delta_ij
    n_max = [int(math.ceil(k_cut * float(torch.linalg.norm(a)) / (2.0 * math.pi)))
             for a in cell.detach()]
    axes = [torch.arange(-n, n + 1, device=cell.device, dtype=cell.dtype) for n in n_max]
    h = torch.cartesian_prod(*axes)
    k = h @ recip
    k2 = (k.detach() ** 2).sum(dim=1)
    return k[(k2 > 0) & (k2 <= k_cut**2)]


def _direct_coulomb(q: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Open-boundary Coulomb energy (eV): k_e sum_{i<j} q_i q_j / r_ij."""
    import torch

    n = pos.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=pos.device)
    r = torch.linalg.norm(pos[iu[0]] - pos[iu[1]], dim=1)
    return COULOMB_EV_A * (q[iu[0]] * q[iu[1]] / r).sum()


def make_analytic_teacher(spec: str, device: str = "cpu") -> Teacher:
    """Teacher for ``"analytic-<name>"`` with ``<name>`` in :data:`ANALYTIC_MODELS`."""
    name = spec.split("-", 1)[1] if "-" in spec else ""
    if name not in ANALYTIC_MODELS:
        known = ", ".join(f"analytic-{k}" for k in ANALYTIC_MODELS)
        raise UserInputError(f"unknown analytic teacher {spec!r}; known: {known}")
    model = ANALYTIC_MODELS[name]
    return Teacher(name=spec, info=analytic_info(model), calculator=AnalyticIonicCalculator(
        model, device=device), device=device)


class AnalyticAdapter(TeacherAdapter):
    """``analytic-<name>`` for every model of :data:`ANALYTIC_MODELS` (no package, no file)."""

    family = "analytic"
    names = tuple(f"analytic-{k}" for k in ANALYTIC_MODELS)
    formats = "none: exact model systems"

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        return analytic_info(ANALYTIC_MODELS[spec.key.split("-", 1)[1]])

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        return AnalyticIonicCalculator(ANALYTIC_MODELS[spec.key.split("-", 1)[1]], device=device)


ADAPTER = AnalyticAdapter()


def analytic_info(model: IonicModel) -> TeacherInfo:
    """Metadata of an analytic ionic teacher."""
    charges = ", ".join(f"{k} {v:+g} e" for k, v in model.charges.items())
    return TeacherInfo(
        family="analytic",
        architecture="point charges (exact Ewald, torch-pme) + Born-Mayer repulsion",
        training_data="none (analytic)",
        level_of_theory=f"classical ionic model: {charges}; A={model.repulsion_A_eV} eV, "
                        f"rho={model.repulsion_rho_A} A",
        elements=frozenset(model.charges),
        periodic=True,
        open=True,
    )
