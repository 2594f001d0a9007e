"""Aqueous HCl: H3O+ and Cl- ions in water at a given molar concentration (cubic, periodic)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from lesdistill.errors import UserInputError
from lesdistill.systems.packing import (
    AMU_PER_G_CM3_A3,
    hydronium_ion,
    molar_mass_amu,
    place_molecules,
    water_molecule,
)
from lesdistill.units import AVOGADRO

#: mol/L -> molecules per Å^3
MOL_L_TO_PER_A3 = AVOGADRO * 1e-27


def hcl_density_g_cm3(concentration_mol_L: float) -> float:
    """Approximate density of HCl(aq) at 20-25 C (g/cm^3): 0.997 + 0.017 c, fit to CRC tables
    (1.030 at 2 M, 1.064 at 4 M, within ~0.3 % up to 6 M)."""
    return 0.997 + 0.017 * concentration_mol_L


def hcl_solution(concentration_mol_L: float = 2.0, n_water: int = 128, seed: int = 0,
                 density_g_cm3: float | None = None, min_distance_A: float = 1.5) -> Atoms:
    """HCl dissolved in ``n_water`` water molecules at ~``concentration_mol_L`` (mol/L).

    The number of HCl units n is the integer nearest to the requested concentration for the box
    fixed by the solution density (``density_g_cm3``, default :func:`hcl_density_g_cm3`); each
    HCl is present as H3O+ + Cl-, so the structure is n H3O+, n Cl-, (n_water - n) H2O: neutral,
    composition H(2 n_water + n) O(n_water) Cl(n). Order: H3O+ (O,H,H,H) x n, Cl x n, H2O x rest.
    ``info`` records the actual concentration and the ion counts.
    """
    if not 0 < concentration_mol_L <= 12:
        raise UserInputError(f"concentration_mol_L must be in (0, 12], got {concentration_mol_L}")
    if n_water < 2:
        raise UserInputError(f"n_water must be >= 2, got {n_water}")
    rho = hcl_density_g_cm3(concentration_mol_L) if density_g_cm3 is None else density_g_cm3
    if not 0.5 <= rho <= 2.0:
        raise UserInputError(f"density_g_cm3 must be within 0.5..2.0 g/cm^3, got {rho}")
    m_water = molar_mass_amu(water_molecule())
    m_hcl = molar_mass_amu(hydronium_ion()) + molar_mass_amu(Atoms("Cl")) - m_water
    # n / V = c N_A and V = (n_water m_w + n m_hcl) / rho  =>  solve for n
    per_volume = concentration_mol_L * MOL_L_TO_PER_A3
    n_exact = (n_water * m_water / (rho * AMU_PER_G_CM3_A3)) / (
        1.0 / per_volume - m_hcl / (rho * AMU_PER_G_CM3_A3))
    n_hcl = max(1, int(round(n_exact)))
    if n_hcl >= n_water:
        raise UserInputError(
            f"concentration {concentration_mol_L} M is too high for {n_water} waters"
        )
    volume = (n_water * m_water + n_hcl * m_hcl) / (rho * AMU_PER_G_CM3_A3)
    length = volume ** (1.0 / 3.0)
    molecules = [hydronium_ion()] * n_hcl + [Atoms("Cl")] * n_hcl + [water_molecule()] * (
        n_water - n_hcl)
    box = Atoms(cell=np.eye(3) * length, pbc=True)
    rng = np.random.default_rng(seed)
    atoms = place_molecules(box, molecules, rng, np.zeros(3), np.full(3, length),
                            min_heavy_A=2.6, min_any_A=min_distance_A)
    atoms.info["system"] = "hcl"
    atoms.info["concentration_mol_L"] = n_hcl / (volume * MOL_L_TO_PER_A3)
    atoms.info["n_hydronium"] = n_hcl
    atoms.info["n_chloride"] = n_hcl
    atoms.info["density_g_cm3"] = float(rho)
    return atoms
