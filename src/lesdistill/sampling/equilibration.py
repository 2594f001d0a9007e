"""Equilibration before teacher frames are recorded: a free classical pre-equilibration of
water and a check that the teacher MD has settled (temperature and potential energy).

A freshly packed box is far from equilibrium: the teacher MD first converts the packing's excess
potential energy into heat, and frames recorded during that transient show hot, unstructured
configurations the student never meets in its own MD. Two remedies live here:

* :func:`tip3p_start`: rigid TIP3P water MD (ASE's :class:`~ase.calculators.tip3p.TIP3P` with
  vectorised RATTLE bond constraints, :class:`RigidWater`, 2 fs steps) turns the random packing
  into a hydrogen-bonded liquid without a single teacher call. Independent snapshots
  (different seeds) give decorrelated starts for several sampling segments.
* :func:`settled`: the teacher MD is considered equilibrated when, over the last ``window``
  steps, the mean kinetic temperature is within ``temperature_tolerance`` (relative) of the
  target and the potential energy no longer drifts: the mean of the window's second half differs
  from the first half's by at most ``energy_tolerance`` k_B T per atom (a relaxing start loses
  tens of meV/atom in that time; equilibrium fluctuations are ~0.1 k_B T per atom for 100 atoms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from lesdistill.errors import UserInputError
from lesdistill.units import KB_EV_PER_K


@dataclass(frozen=True)
class SettleVerdict:
    """Outcome of :func:`settled`: ``ok`` and the measured numbers (K, eV/atom)."""

    ok: bool
    mean_temperature_K: float
    energy_drift_eV_atom: float
    reason: str


def settled(
    temperatures_K: Sequence[float],
    potential_energies_eV: Sequence[float],
    target_K: float,
    n_atoms: int,
    *,
    temperature_tolerance: float = 0.1,
    energy_tolerance: float = 0.3,
) -> SettleVerdict:
    """Whether an MD history (one value per step, the last ``window`` steps) is equilibrated.

    Args:
        temperatures_K: instantaneous kinetic temperatures, K.
        potential_energies_eV: potential energies of the same steps, eV (whole system).
        target_K: thermostat target, K.
        n_atoms: number of atoms (the energy drift is compared per atom).
        temperature_tolerance: allowed |<T> - target| / target (raised to two standard deviations
            of the window mean for small systems).
        energy_tolerance: allowed |<E>_second half - <E>_first half| / N in units of k_B target
            (raised to 2 sqrt(1.5 / N) for small systems).
    """
    t = np.asarray(temperatures_K, dtype=float)
    e = np.asarray(potential_energies_eV, dtype=float)
    if len(t) < 4 or len(t) != len(e):
        raise ValueError(
            f"need >= 4 steps of temperatures and energies of equal length, got {len(t)}, {len(e)}"
        )
    mean_t = float(t.mean())
    half = len(e) // 2
    drift = float(e[half:].mean() - e[:half].mean()) / n_atoms
    # small systems fluctuate more: never demand less than ~2 standard deviations of the window
    # mean (instantaneous relative std sqrt(2 / 3N), about one independent value per 10 steps)
    t_tol = max(
        temperature_tolerance, 2.0 * (2.0 / (3.0 * n_atoms)) ** 0.5 / max(len(t) // 10, 1) ** 0.5
    )
    e_tol = max(energy_tolerance, 2.0 * (1.5 / n_atoms) ** 0.5)
    reasons = []
    if abs(mean_t - target_K) > t_tol * target_K:
        reasons.append(f"mean temperature {mean_t:.0f} K vs target {target_K:.0f} K")
    if abs(drift) > e_tol * KB_EV_PER_K * target_K:
        reasons.append(
            f"potential energy drifting by {drift * 1e3:+.1f} meV/atom over {len(e)} steps"
        )
    return SettleVerdict(not reasons, mean_t, drift, "; ".join(reasons) or "settled")


def is_water(atoms: Atoms) -> bool:
    """True if ``atoms`` is a periodic box of whole water molecules ordered O, H, H."""
    symbols = atoms.get_chemical_symbols()
    return (len(symbols) % 3 == 0 and len(symbols) > 0 and bool(atoms.pbc.all())
            and all(symbols[k:k + 3] == ["O", "H", "H"] for k in range(0, len(symbols), 3)))


def require_water(atoms: Atoms, what: str, fix: str) -> None:
    """Raise :class:`UserInputError` "``what`` needs a periodic box of water molecules ordered
    O, H, H; ``fix``" unless :func:`is_water` holds."""
    if not is_water(atoms):
        raise UserInputError(f"{what} needs a periodic box of water molecules ordered O, H, H; "
                             f"{fix}")


class RigidWater:
    """RATTLE bond constraints (O-H, O-H, H-H) for whole water molecules ordered O, H, H,
    vectorised over all molecules (ASE's generic ``FixBondLengths`` computes a minimum-image
    vector per bond per iteration: ~2.6 s per step for 32 molecules). The three Lagrange
    multipliers of each molecule are solved together: by Newton iterations on the bond lengths
    (converged in a few iterations) and by one exact 3x3 solve for the velocities. Bond vectors
    are taken as plain differences, so molecules must be whole (as ASE MD keeps them: it never
    wraps).
    """

    #: bond h of a molecule joins its atoms i with S[h, i] = +1 and -1 (O-H1, O-H2, H1-H2)
    S = np.array([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])

    def __init__(
        self,
        n_molecules: int,
        bond_lengths_A: Sequence[float],
        tolerance_A2: float = 1e-12,
        max_iterations: int = 100,
    ) -> None:
        self.n = int(n_molecules)
        self.d2 = np.asarray(bond_lengths_A, dtype=float) ** 2  # (3,) per bond of a molecule
        self.tolerance = tolerance_A2
        self.max_iterations = max_iterations

    def get_removed_dof(self, atoms: Atoms) -> int:
        return 3 * self.n

    def _coupling(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        inv_m = (1.0 / atoms.get_masses()[: 3 * self.n]).reshape(self.n, 3)
        # K[m, g, h] = sum_i S[g, i] S[h, i] / m_i: how multiplier h moves bond vector g
        return inv_m, np.einsum("gi,hi,mi->mgh", self.S, self.S, inv_m)

    def _bonds(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("gi,mic->mgc", self.S, x.reshape(self.n, 3, 3))

    def adjust_positions(self, atoms: Atoms, new: np.ndarray) -> None:
        inv_m, k = self._coupling(atoms)
        old = self._bonds(atoms.positions[: 3 * self.n])  # SHAKE directions, (n, 3 bonds, 3)
        x = new[: 3 * self.n].reshape(self.n, 3, 3)
        for _ in range(self.max_iterations):
            r = self._bonds(x)
            f = np.einsum("mgc,mgc->mg", r, r) - self.d2
            if np.all(np.abs(f) < self.tolerance):
                new[: 3 * self.n] = x.reshape(-1, 3)
                return
            jac = 2.0 * k * np.einsum("mgc,mhc->mgh", r, old)
            lam = np.linalg.solve(jac, -f[..., None])[..., 0]
            x = x + np.einsum("hi,mi,mh,mhc->mic", self.S, inv_m, lam, old)
        raise RuntimeError("RigidWater: bond constraints did not converge")

    def adjust_momenta(self, atoms: Atoms, momenta: np.ndarray) -> None:
        inv_m, k = self._coupling(atoms)
        r = self._bonds(atoms.positions[: 3 * self.n])
        p = momenta[: 3 * self.n].reshape(self.n, 3, 3)
        w = self._bonds(p * inv_m[..., None])  # relative velocities along the bonds
        a = k * np.einsum("mgc,mhc->mgh", r, r)
        mu = np.linalg.solve(a, -np.einsum("mgc,mgc->mg", r, w)[..., None])[..., 0]
        momenta[: 3 * self.n] = (p + np.einsum("hi,mh,mhc->mic", self.S, mu, r)).reshape(-1, 3)

    def adjust_forces(self, atoms: Atoms, forces: np.ndarray) -> None:
        pass  # RATTLE: positions and momenta are corrected after each step

    def todict(self) -> dict[str, object]:  # pragma: no cover - ASE calls it only when writing
        return {"name": "RigidWater", "kwargs": {}}


def tip3p_start(
    atoms: Atoms, *, ps: float = 1.0, temperature_K: float = 300.0, seed: int = 0
) -> Atoms:
    """Liquid-like start: ``ps`` of rigid TIP3P Langevin MD (2 fs steps) from ``atoms``.

    ``atoms`` must be a periodic water box ordered O, H, H (as :func:`lesdistill.systems.water_box`
    builds it). The molecules are first given the TIP3P geometry (O-H 0.9572 Å, H-O-H 104.52°)
    about their O atom and H-O axis. Returns a new ``Atoms`` (no constraints, no calculator);
    the teacher never runs. Deterministic for a given ``seed``.
    """
    from ase import units
    from ase.calculators.tip3p import TIP3P, angleHOH, rOH
    from ase.geometry import find_mic
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    require_water(atoms, "the TIP3P pre-equilibration",
                  "set sampling.pre_equilibration: none for other systems")
    if not ps > 0 or not temperature_K > 0:
        raise ValueError(f"ps and temperature_K must be positive, got {ps}, {temperature_K}")
    work = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    pos = work.positions.reshape(-1, 3, 3)
    theta = np.deg2rad(angleHOH)
    for mol in pos:
        (oh1, oh2), _ = find_mic(mol[1:] - mol[0], work.cell, pbc=True)
        u = oh1 / np.linalg.norm(oh1)
        w = oh2 - np.dot(oh2, u) * u
        w /= np.linalg.norm(w)
        mol[1] = mol[0] + rOH * u
        mol[2] = mol[0] + rOH * (np.cos(theta) * u + np.sin(theta) * w)
    work.positions = pos.reshape(-1, 3)
    n_mol = len(work) // 3
    r_hh = 2.0 * rOH * np.sin(theta / 2.0)
    work.set_constraint(RigidWater(n_mol, (rOH, rOH, r_hh)))
    work.calc = TIP3P(rc=min(work.cell.lengths()) / 2 - 0.01)
    rng = np.random.default_rng([seed, 3])
    MaxwellBoltzmannDistribution(work, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(work, 2.0 * units.fs, temperature_K=temperature_K, friction=0.02 / units.fs,
                   fixcm=False, rng=rng)
    dyn.run(max(int(round(ps * 500)), 1))
    out = Atoms(work.numbers, positions=work.positions, cell=work.cell, pbc=True)
    out.wrap()
    return out


def equilibrate(dyn: object, atoms: Atoms, target_K: float, *, min_steps: int, window: int,
                max_steps: int, temperature_tolerance: float = 0.1, energy_tolerance: float = 0.3,
                step_hook: object = None) -> tuple[int, SettleVerdict | None]:
    """Run ``dyn`` (an ASE MD object driving ``atoms``) until the MD has settled.

    At least ``min_steps`` steps; from then on, every step the last ``window`` steps are tested
    with :func:`settled` until they pass or ``max_steps`` is reached. ``window = 0`` turns the
    check off (exactly ``min_steps`` steps). ``step_hook(step)`` is called after every step (the
    explosion guard). Returns (steps run, verdict of the last check or None without checks);
    the caller decides what an unsettled verdict means (the sampler refuses to record).
    """
    temps: list[float] = []
    energies: list[float] = []
    steps = 0
    verdict: SettleVerdict | None = None
    limit = max(min_steps, max_steps) if window else min_steps
    while steps < limit:
        dyn.run(1)  # type: ignore[attr-defined]
        steps += 1
        if step_hook is not None:
            step_hook(steps)  # type: ignore[operator]
        if window:
            temps.append(float(atoms.get_temperature()))
            energies.append(float(atoms.get_potential_energy()))
            if steps >= max(min_steps, window):
                verdict = settled(temps[-window:], energies[-window:], target_K, len(atoms),
                                  temperature_tolerance=temperature_tolerance,
                                  energy_tolerance=energy_tolerance)
                if verdict.ok:
                    break
    return steps, verdict
