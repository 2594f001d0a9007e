"""Fixed-charge test systems with exact dipole currents and Born effective charges.

TetheredCharges: every atom i sits in a 3D potential around its site r0_i,
E = sum_i k_i |d_i|^2 / 2 + g |d_i|^4 / 4 (d_i = r_i - r0_i), carrying a fixed charge q_i.
Then dM/dt = sum_i q_i v_i and Z*_i = q_i I exactly; with g = 0 atom i oscillates at
omega_i = sqrt(k_i / m_i), i.e. nu~_i = omega_i / (2 pi c) in cm^-1.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase import units as ase_units
from ase.calculators.calculator import Calculator, all_changes

from lesdistill.units import AMU_A2_PER_FS2_TO_EV, SPEED_OF_LIGHT_CM_PER_FS


def spring_for_wavenumber(wavenumber_cm: float, mass_amu: float) -> float:
    """k (eV/Å^2) giving a harmonic frequency of wavenumber_cm for mass_amu."""
    omega = wavenumber_cm * 2.0 * math.pi * SPEED_OF_LIGHT_CM_PER_FS  # rad/fs
    return omega**2 * mass_amu * AMU_A2_PER_FS2_TO_EV


class TetheredCharges(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "charges",
                              "born_effective_charges"]

    def __init__(self, sites: np.ndarray, springs: np.ndarray, charges: np.ndarray,
                 quartic: float = 0.0) -> None:
        super().__init__()
        self.sites = np.asarray(sites, dtype=float)
        self.springs = np.asarray(springs, dtype=float)
        self.q = np.asarray(charges, dtype=float)
        self.quartic = quartic

    def check_state(self, atoms, tol=1e-15):
        # cheap exact check (ASE's generic compare_atoms dominates the cost of tiny test MD)
        same = (self.atoms is not None and len(atoms) == len(self.atoms)
                and np.array_equal(atoms.positions, self.atoms.positions))
        return [] if same else ["positions"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        # positions only (the base class would copy the whole Atoms object every step)
        self.atoms = Atoms(positions=atoms.positions.copy())
        d = self.atoms.positions - self.sites
        r2 = (d * d).sum(axis=1)
        energy = 0.5 * (self.springs * r2).sum() + 0.25 * self.quartic * (r2 * r2).sum()
        forces = -(self.springs[:, None] + self.quartic * r2[:, None]) * d
        self.results = {"energy": energy, "free_energy": energy, "forces": forces,
                        "charges": self.q.copy(),
                        "born_effective_charges": self.q[:, None, None] * np.eye(3)}

    def get_dipole_current(self, atoms: Atoms) -> np.ndarray:
        """sum_i q_i v_i in e Å/fs."""
        return (self.q[:, None] * atoms.get_velocities() * ase_units.fs).sum(axis=0)


def tethered_system(n_atoms: int = 64, *, wavenumbers=(800.0, 1500.0), charge: float = 0.5,
                    quartic: float = 0.0, box: float = 12.0, seed: int = 0) -> Atoms:
    """Periodic box of tethered O/H-like atoms with alternating +-charge (neutral), cycling
    through ``wavenumbers`` (cm^-1) for the harmonic frequency of each atom."""
    rng = np.random.default_rng(seed)
    symbols = ["O" if i % 2 == 0 else "H" for i in range(n_atoms)]
    atoms = Atoms(symbols, positions=rng.uniform(0, box, (n_atoms, 3)), cell=[box] * 3, pbc=True)
    masses = atoms.get_masses()
    springs = np.array([spring_for_wavenumber(wavenumbers[(i // 2) % len(wavenumbers)], m)
                        for i, m in enumerate(masses)])
    charges = np.array([charge if i % 2 == 0 else -charge for i in range(n_atoms)])
    atoms.calc = TetheredCharges(atoms.positions.copy(), springs, charges, quartic)
    return atoms
