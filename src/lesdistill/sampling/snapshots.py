"""Independent liquid-water configurations in the teacher's own molecular geometry, one teacher
call per frame.

Frames recorded every few steps of one teacher MD run are strongly correlated: 24 frames 2 fs
apart show nearly the same hydrogen-bond network 24 times. This module draws frames that are
independent of each other without running the teacher's MD, at one teacher call per frame:

* the intermolecular structure comes from rigid TIP3P liquid MD (:func:`tip3p_start`, no teacher
  calls), one snapshot every ``interval_ps``;
* every molecule is then given the *teacher's* equilibrium geometry (relaxed monomer), oriented
  as the TIP3P molecule (Kabsch fit), plus a thermal intramolecular distortion drawn from the
  classical Boltzmann distribution of the teacher monomer's harmonic normal modes at the target
  temperature: a mode of angular frequency omega has mass-weighted amplitude
  Q ~ N(0, k_B T / omega^2), so each vibration carries k_B T / 2 of potential energy on average
  (equipartition).

:class:`MonomerModes` (the teacher's relaxed water molecule, its Hessian by central finite
differences and normal modes) costs about 40 teacher calls on a 3-atom system.

Whether snapshots beat teacher MD frames is an empirical question per teacher: for CHGNet water
the MD protocol of the demo gave the better BECs against DFT (``benchmarks/README.md``), so
snapshots are an option (``sampling.snapshot_fraction``), off by default. The intermolecular
structure of a snapshot is TIP3P's, not the teacher's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.sampling.equilibration import tip3p_start
from lesdistill.units import KB_EV_PER_K

__all__ = ["MonomerModes", "frame_origin", "is_snapshot", "monomer_modes", "thermal_water",
           "water_snapshots"]


def frame_origin(frame: Atoms) -> str:
    """How a labelled frame was made (``info["origin"]``): "md", "snapshot", "cluster" or
    "student-md"; frames without the key are teacher MD."""
    return str(frame.info.get(keys.ORIGIN, "md"))


def is_snapshot(frame: Atoms) -> bool:
    """True for a snapshot frame (:func:`frame_origin`)."""
    return frame_origin(frame) == "snapshot"


@dataclass(frozen=True)
class MonomerModes:
    """A teacher's water molecule: geometry and harmonic vibrations.

    Attributes:
        positions_A: (3, 3) relaxed positions of O, H, H (Å), centred on the centre of mass.
        masses_amu: (3,) masses (amu).
        omega2: (3,) squared angular frequencies of the three vibrations, eV / (Å^2 amu),
            ascending (bend, symmetric stretch, antisymmetric stretch for a sane teacher).
        modes: (3, 9) mass-weighted normal-mode vectors (rows, orthonormal).
        wavenumbers_cm: (3,) harmonic wavenumbers, cm^-1.
        r_oh_A: mean O-H bond length of the relaxed molecule, Å.
        angle_deg: H-O-H angle of the relaxed molecule, degrees.
    """

    positions_A: np.ndarray
    masses_amu: np.ndarray
    omega2: np.ndarray
    modes: np.ndarray
    wavenumbers_cm: np.ndarray
    r_oh_A: float
    angle_deg: float


def _wavenumber_cm(omega2: np.ndarray) -> np.ndarray:
    """Harmonic wavenumbers (cm^-1) from squared angular frequencies in eV / (Å^2 amu)."""
    from ase import units

    omega_per_s = np.sqrt(np.clip(omega2, 0.0, None) * units._e / (1e-20 * units._amu))
    return omega_per_s / (2.0 * np.pi * units._c * 100.0)


def monomer_modes(
    calculator: object,
    *,
    periodic: bool = True,
    box_A: float = 12.0,
    fmax_eV_A: float = 1e-3,
    max_steps: int = 300,
    delta_A: float = 5e-3,
) -> MonomerModes:
    """Relax one water molecule with ``calculator`` (an ASE calculator) and get its normal modes.

    The molecule sits in a cubic box of ``box_A`` (periodic if ``periodic``: teachers that only
    label periodic cells see it as a dilute gas) and is relaxed with FIRE to ``fmax_eV_A``; the
    Hessian comes from central differences of the forces with steps of ``delta_A`` (18 calls),
    is symmetrised and mass-weighted, and its three largest eigenvalues are the vibrations (the
    other six are translations and rotations). Raises :class:`UserInputError` if the molecule
    dissociates or a vibration is not a minimum (the teacher does not describe water).
    """
    from ase.optimize import FIRE

    theta = np.deg2rad(104.5)
    mol = Atoms("OH2", positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.0],
                                  [0.96 * np.cos(theta), 0.96 * np.sin(theta), 0.0]],
                cell=np.eye(3) * box_A, pbc=periodic)
    mol.positions += box_A / 2.0 - mol.get_center_of_mass()
    mol.calc = calculator
    FIRE(mol, logfile=None).run(fmax=fmax_eV_A, steps=max_steps)
    pos = mol.positions.copy()
    d1, d2 = np.linalg.norm(pos[1] - pos[0]), np.linalg.norm(pos[2] - pos[0])
    if not (0.8 < d1 < 1.2 and 0.8 < d2 < 1.2):
        raise UserInputError(
            f"the teacher does not hold a water molecule together (O-H {d1:.2f} and "
            f"{d2:.2f} Å after relaxation); use sampling without snapshots for it"
        )
    hess = np.zeros((9, 9))
    for k in range(9):
        a, c = divmod(k, 3)
        grads = []
        for sign in (1.0, -1.0):
            moved = pos.copy()
            moved[a, c] += sign * delta_A
            mol.positions = moved
            grads.append(-np.asarray(mol.get_forces(), dtype=float).reshape(-1))
        hess[k] = (grads[0] - grads[1]) / (2.0 * delta_A)
    mol.positions = pos
    hess = 0.5 * (hess + hess.T)
    masses = mol.get_masses()
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    evals, evecs = np.linalg.eigh(hess * np.outer(inv_sqrt_m, inv_sqrt_m))
    omega2, modes = evals[-3:], evecs[:, -3:].T
    wn = _wavenumber_cm(omega2)
    if not np.all(wn > 300.0):
        raise UserInputError(
            f"the teacher's water molecule has vibrations at {np.round(wn, 0).tolist()} "
            "cm^-1 (not a stable molecule); use sampling without snapshots for it"
        )
    u, v = pos[1] - pos[0], pos[2] - pos[0]
    angle = float(np.degrees(np.arccos(np.dot(u, v) / (d1 * d2))))
    return MonomerModes(
        positions_A=pos - mol.get_center_of_mass(),
        masses_amu=masses,
        omega2=omega2,
        modes=modes,
        wavenumbers_cm=wn,
        r_oh_A=float(0.5 * (d1 + d2)),
        angle_deg=angle,
    )


def _kabsch(reference: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) minimising sum_i w_i |R reference_i - target_i|^2 (both centred)."""
    h = (reference * weights[:, None]).T @ target
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def thermal_water(atoms: Atoms, monomer: MonomerModes, temperature_K: float,
                  rng: np.random.Generator) -> Atoms:
    """``atoms`` (whole water molecules ordered O, H, H; e.g. a TIP3P snapshot) with every molecule
    replaced by the teacher's monomer at the same centre of mass and orientation, distorted along
    its normal modes by a classical thermal draw at ``temperature_K`` (K).

    Returns a new ``Atoms`` (positions wrapped into the cell, no calculator).
    """
    from ase.geometry import find_mic

    if not temperature_K > 0:
        raise ValueError(f"temperature_K must be positive, got {temperature_K}")
    n_mol = len(atoms) // 3
    pos = atoms.positions.reshape(n_mol, 3, 3)
    w = monomer.masses_amu
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(w), 3)
    amplitude = np.sqrt(KB_EV_PER_K * temperature_K / monomer.omega2)  # Å sqrt(amu)
    out = np.empty_like(pos)
    for m in range(n_mol):
        (oh1, oh2), _ = find_mic(pos[m, 1:] - pos[m, 0], atoms.cell, pbc=atoms.pbc)
        whole = np.stack([pos[m, 0], pos[m, 0] + oh1, pos[m, 0] + oh2])
        com = (whole * w[:, None]).sum(0) / w.sum()
        rot = _kabsch(monomer.positions_A, whole - com, w)
        q = rng.standard_normal(3) * amplitude
        shift = ((q @ monomer.modes) * inv_sqrt_m).reshape(3, 3)
        out[m] = (monomer.positions_A + shift) @ rot.T + com
    new = Atoms(atoms.numbers, positions=out.reshape(-1, 3), cell=atoms.cell, pbc=atoms.pbc)
    new.wrap()
    return new


def water_snapshots(start: Atoms, monomer: MonomerModes, n: int, *, temperature_K: float,
                    interval_ps: float, first_ps: float, seed: int) -> list[Atoms]:
    """``n`` liquid-water configurations at ``temperature_K``: TIP3P MD from ``start`` for
    ``first_ps``, then a snapshot every ``interval_ps`` (ps), each in the teacher's thermal
    monomer geometry (:func:`thermal_water`). Deterministic for a given ``seed``."""
    rng = np.random.default_rng([seed, 11])
    frames = []
    current = tip3p_start(start, ps=first_ps, temperature_K=temperature_K, seed=seed)
    for k in range(n):
        if k:
            current = tip3p_start(
                current, ps=interval_ps, temperature_K=temperature_K, seed=seed + 7919 * k
            )
        frames.append(thermal_water(current, monomer, temperature_K, rng))
    return frames
