"""Reusable physics checks that any LES student (any backbone) must pass.

Each ``check_*`` function raises ``AssertionError`` with the measured error when the check fails
and returns the measured error otherwise, so it can be used in tests and in notebooks. Models
should be float64 for the finite-difference checks (float32 needs ~1e-3 tolerances).

- :func:`check_forces_finite_difference` / :func:`check_stress_finite_difference`: autograd
  forces/stress against ASE central differences (``ase.calculators.fd``).
- :func:`check_invariance`: energy, forces, stress and charges under translation (with wrapping),
  rotation (positions and cell) and permutation of atoms.
- :func:`check_short_range_cutoff`: the short-range part of a dimer is exactly flat beyond the
  cutoff and its force goes smoothly to zero at the cutoff.
- :func:`check_far_apart`: two fragments farther apart than the cutoff (open boundary): short-range
  energies and forces add, charges change at most by a uniform shift per fragment (zero for
  ``neutrality="none"``), and the long-range energy is exactly the fragments' own LES energies plus
  the Coulomb interaction of their Gaussian charges.

:class:`StudentModelChecks` runs all of them as a pytest mixin: subclass it and provide the
fixtures ``student_model`` (float64 :class:`~lesdistill.model.StudentModel`), ``periodic_atoms`` and
``open_atoms`` (small structures of the model's elements; right-handed cells).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lesdistill import keys
from lesdistill.units import COULOMB_EV_A

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator

    from lesdistill.model.student import StudentModel


def _calculator(model: StudentModel | Calculator) -> Calculator:
    from ase.calculators.calculator import Calculator

    if isinstance(model, Calculator):
        return model
    from lesdistill.calculator import StudentCalculator

    return StudentCalculator(model, device=str(model.device))


def _fail(what: str, error: float, tol: float) -> None:
    if not error <= tol:
        raise AssertionError(f"{what}: error {error:.3e} > tolerance {tol:.3e}")


def _with_calc(atoms: Atoms, calc: Calculator) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms


def check_forces_finite_difference(
    model: StudentModel | Calculator, atoms: Atoms, *, delta: float = 1e-4, atol: float = 1e-6
) -> float:
    """Max |F_autograd - F_fd| (eV/Å) with central differences of step ``delta`` (Å)."""
    from ase.calculators.fd import calculate_numerical_forces

    atoms = _with_calc(atoms, _calculator(model))
    forces = atoms.get_forces()
    numerical = calculate_numerical_forces(atoms, eps=delta)
    error = float(np.abs(forces - numerical).max())
    _fail("forces vs finite differences", error, atol)
    return error


def check_stress_finite_difference(
    model: StudentModel | Calculator, atoms: Atoms, *, delta: float = 1e-5, atol: float = 1e-7
) -> float:
    """Max |stress_autograd - stress_fd| (eV/Å^3, Voigt) with strain step ``delta``."""
    from ase.calculators.fd import calculate_numerical_stress

    atoms = _with_calc(atoms, _calculator(model))
    stress = atoms.get_stress()
    numerical = calculate_numerical_stress(atoms, eps=delta)
    error = float(np.abs(stress - numerical).max())
    _fail("stress vs finite differences", error, atol)
    return error


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _results(calc: Calculator, atoms: Atoms) -> dict[str, np.ndarray]:
    atoms = _with_calc(atoms, calc)
    out = {
        keys.ENERGY: np.array(atoms.get_potential_energy()),
        keys.FORCES: atoms.get_forces(),
        keys.CHARGES: atoms.get_charges(),
    }
    if atoms.pbc.all():
        out[keys.STRESS] = atoms.get_stress(voigt=False)
    return out


def check_invariance(
    model: StudentModel | Calculator, atoms: Atoms, *, seed: int = 0, atol: float = 1e-8
) -> float:
    """Translation (+ wrap), rotation and permutation: energies/charges invariant, forces and
    stress transform as vectors/tensors. Returns the largest deviation (eV, eV/Å, e, eV/Å^3)."""
    rng = np.random.default_rng(seed)
    calc = _calculator(model)
    ref = _results(calc, atoms)
    worst = 0.0

    def compare(what: str, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
        nonlocal worst
        for key, value in expected.items():
            error = float(np.abs(got[key] - value).max())
            worst = max(worst, error)
            _fail(f"{what} invariance of {key}", error, atol)

    moved = atoms.copy()
    moved.positions += rng.normal(scale=3.0, size=3)
    if moved.pbc.any():
        moved.wrap()
    compare("translation", _results(calc, moved), ref)

    rot = _random_rotation(rng)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rot.T
    rotated.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    expected = dict(ref)
    expected[keys.FORCES] = ref[keys.FORCES] @ rot.T
    if keys.STRESS in ref:
        expected[keys.STRESS] = rot @ ref[keys.STRESS] @ rot.T
    compare("rotation", _results(calc, rotated), expected)

    perm = rng.permutation(len(atoms))
    expected = {k: (v if k in (keys.ENERGY, keys.STRESS) else v[perm]) for k, v in ref.items()}
    compare("permutation", _results(calc, atoms[perm]), expected)
    return worst


def _short_range(model: StudentModel, atoms_list: list[Atoms]) -> dict[str, np.ndarray]:
    from lesdistill.data.batch import AtomicBatch

    batch = AtomicBatch.from_atoms(atoms_list, model.cutoff, dtype=model.dtype, device=model.device)
    out = model(batch, compute_forces=True, create_graph=False, include_long_range=False)
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in out.items()}


def check_short_range_cutoff(
    model: StudentModel,
    symbols: tuple[str, str] | None = None,
    *,
    delta: float = 1e-3,
    atol: float = 1e-6,
) -> float:
    """Dimer of ``symbols`` (default: the model's first and last element), open boundary.

    Beyond the cutoff r_c the short-range energy equals that of two isolated atoms and the force
    is exactly zero; at r_c - ``delta`` the force is below ``atol`` (smooth vanishing). Returns the
    short-range force magnitude at r_c - delta (eV/Å).
    """
    import torch
    from ase import Atoms

    first, second = symbols or (model.elements[0], model.elements[-1])
    rc = model.cutoff
    distances = [rc - delta, rc + 1e-6, rc + 0.3, rc + 2.0]
    dimers = [Atoms([first, second], positions=[[0.0, 0.0, 0.0], [d, 0.0, 0.0]]) for d in distances]
    isolated = [Atoms([first]), Atoms([second])]
    out = _short_range(model, dimers + isolated)
    e_sr = out[keys.ENERGY_SHORT_RANGE]
    forces = out[keys.FORCES][: 2 * len(dimers)].reshape(len(dimers), 2, 3)
    e_isolated = e_sr[-2] + e_sr[-1]
    rounding = 1e-12 + 10.0 * float(torch.finfo(model.dtype).eps) * (abs(e_sr[-2]) + abs(e_sr[-1]))
    for k in range(1, len(dimers)):
        _fail(
            f"short-range energy beyond the cutoff (r = {distances[k]:.4f} Å)",
            abs(e_sr[k] - e_isolated),
            rounding,
        )
        _fail(
            f"short-range force beyond the cutoff (r = {distances[k]:.4f} Å)",
            float(np.abs(forces[k]).max()),
            0.0,
        )
    near = float(np.abs(forces[0]).max())
    _fail(f"short-range force at r_c - {delta} Å (must vanish smoothly)", near, atol)
    return near


def check_far_apart(
    model: StudentModel,
    atoms_a: Atoms,
    atoms_b: Atoms,
    *,
    gap: float | None = None,
    atol: float = 1e-8,
) -> float:
    """Open-boundary fragments A and B at least ``gap`` Å apart (default cutoff + 1 Å).

    Checks: short-range energy and forces of A+B equal those of A and B alone; charges of A+B
    equal the fragments' charges up to one uniform shift per fragment (exactly equal for
    ``neutrality="none"``); E_lr(A+B) = E_LES(A) + E_LES(B) + k_e sum_{i in A, j in B}
    q_i q_j erf(r_ij / (sqrt(2) sigma)) / r_ij with the combined charges. Returns the largest error.
    """
    import torch

    from lesdistill.les import energy as les_energy

    gap = model.cutoff + 1.0 if gap is None else float(gap)
    a, b = atoms_a.copy(), atoms_b.copy()
    for fragment in (a, b):
        fragment.pbc = False
        fragment.cell = np.zeros((3, 3))
    # put B beyond A along x with at least `gap` between any two atoms
    shift = a.positions[:, 0].max() - b.positions[:, 0].min() + gap
    b.positions += np.array([shift, 0.0, 0.0])
    both = a + b
    q_a, q_b = (float(x.info.get(keys.TOTAL_CHARGE, 0.0)) for x in (a, b))
    both.info[keys.TOTAL_CHARGE] = q_a + q_b
    out = _short_range(model, [a, b, both])
    n_a, n_b = len(a), len(b)
    e_sr = out[keys.ENERGY_SHORT_RANGE]
    worst = abs(e_sr[2] - e_sr[0] - e_sr[1])
    _fail("short-range energy of far-apart fragments is not additive", worst, atol)
    forces = out[keys.FORCES]
    error = float(np.abs(forces[n_a + n_b :] - forces[: n_a + n_b]).max())
    worst = max(worst, error)
    _fail("short-range forces of far-apart fragments are not additive", error, atol)
    charges = out[keys.LATENT_CHARGES]
    q_alone, q_both = charges[: n_a + n_b], charges[n_a + n_b :]
    for name, part in (("A", slice(0, n_a)), ("B", slice(n_a, n_a + n_b))):
        diff = q_both[part] - q_alone[part]
        spread = (
            float(diff.max() - diff.min())
            if model.config.neutrality == "mean"
            else float(np.abs(diff).max())
        )
        worst = max(worst, spread)
        _fail(f"charges of fragment {name} change beyond a uniform shift", spread, atol)
    # long range: recompute with the model's LES on the combined structure
    from lesdistill.data.batch import AtomicBatch

    batch = AtomicBatch.from_atoms([both], model.cutoff, dtype=model.dtype, device=model.device)
    full = model(batch, compute_forces=False)
    e_lr = float(full[keys.ENERGY_LONG_RANGE][0].detach())
    sigma = model.config.les_sigma
    r = torch.tensor(both.positions, dtype=torch.float64)
    q = torch.tensor(q_both, dtype=torch.float64)
    own = sum(
        float(les_energy(q[s], r[s], None, sigma=sigma)) for s in (slice(0, n_a), slice(n_a, None))
    )
    d = np.linalg.norm(both.positions[:n_a, None, :] - both.positions[None, n_a:, :], axis=-1)
    erf = np.vectorize(math.erf)(d / (math.sqrt(2.0) * sigma))
    cross = COULOMB_EV_A * float(np.sum(np.outer(q_both[:n_a], q_both[n_a:]) * erf / d))
    error = abs(e_lr - own - cross) if model.config.long_range else abs(e_lr)
    worst = max(worst, error)
    _fail(
        "long-range energy of far-apart fragments != own LES energies + Coulomb cross term",
        error,
        atol,
    )
    return worst


class StudentModelChecks:
    """pytest mixin running every check; subclass and provide the fixtures ``student_model``
    (float64), ``periodic_atoms`` and ``open_atoms``. Override the tolerances as class
    attributes."""

    force_atol = 1e-6
    stress_atol = 1e-7
    invariance_atol = 1e-8

    def test_forces_finite_difference_periodic(self, student_model, periodic_atoms):
        check_forces_finite_difference(student_model, periodic_atoms, atol=self.force_atol)

    def test_forces_finite_difference_open(self, student_model, open_atoms):
        check_forces_finite_difference(student_model, open_atoms, atol=self.force_atol)

    def test_stress_finite_difference(self, student_model, periodic_atoms):
        check_stress_finite_difference(student_model, periodic_atoms, atol=self.stress_atol)

    def test_invariance_periodic(self, student_model, periodic_atoms):
        check_invariance(student_model, periodic_atoms, atol=self.invariance_atol)

    def test_invariance_open(self, student_model, open_atoms):
        check_invariance(student_model, open_atoms, atol=self.invariance_atol)

    def test_short_range_cutoff(self, student_model):
        check_short_range_cutoff(student_model)

    def test_far_apart(self, student_model, open_atoms):
        check_far_apart(student_model, open_atoms, open_atoms, atol=self.invariance_atol)
