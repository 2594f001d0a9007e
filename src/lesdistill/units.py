"""Physical constants and unit conversions, in one place.

Internal units everywhere in lesdistill: energy eV, length Å, time fs, charge e (elementary
charge), mass amu, temperature K, wavenumber cm^-1. Constants are derived from CODATA 2018
values (the exact SI redefinition), so every derived number can be traced back to this file.
"""

from __future__ import annotations

import math

# --- CODATA 2018 (SI) -----------------------------------------------------------------------
ELEMENTARY_CHARGE_C = 1.602176634e-19  # C (exact)
BOLTZMANN_J_PER_K = 1.380649e-23  # J/K (exact)
PLANCK_J_S = 6.62607015e-34  # J s (exact)
SPEED_OF_LIGHT_M_PER_S = 299792458.0  # m/s (exact)
VACUUM_PERMITTIVITY_F_PER_M = 8.8541878128e-12  # F/m
AMU_KG = 1.66053906660e-27  # kg
AVOGADRO = 6.02214076e23  # 1/mol (exact)
BOHR_RADIUS_A = 0.529177210903  # Å (CODATA 2018)

# --- derived, in lesdistill units --------------------------------------------------------------
#: Coulomb constant 1/(4 pi eps0) in eV Å / e^2 (= 14.3996454...).
COULOMB_EV_A = ELEMENTARY_CHARGE_C / (4.0 * math.pi * VACUUM_PERMITTIVITY_F_PER_M) * 1e10
#: eps0 in e^2 / (eV Å).
EPSILON0_E2_PER_EV_A = 1.0 / (4.0 * math.pi * COULOMB_EV_A)
#: 1/(2 eps0) in eV Å / e^2 (= 90.4756...), the prefactor of the reciprocal-space sum.
HALF_INV_EPSILON0_EV_A = 1.0 / (2.0 * EPSILON0_E2_PER_EV_A)
#: Boltzmann constant in eV/K.
KB_EV_PER_K = BOLTZMANN_J_PER_K / ELEMENTARY_CHARGE_C
#: Reduced Planck constant in eV fs.
HBAR_EV_FS = PLANCK_J_S / (2.0 * math.pi) / ELEMENTARY_CHARGE_C * 1e15
#: Speed of light in cm/fs (for angular frequency rad/fs <-> wavenumber cm^-1).
SPEED_OF_LIGHT_CM_PER_FS = SPEED_OF_LIGHT_M_PER_S * 100.0 * 1e-15
#: Speed of light in Å/fs.
SPEED_OF_LIGHT_A_PER_FS = SPEED_OF_LIGHT_M_PER_S * 1e10 * 1e-15
#: 1 eV/Å^3 in GPa.
EV_PER_A3_TO_GPA = ELEMENTARY_CHARGE_C * 1e30 / 1e9
#: Kinetic energy: amu Å^2 / fs^2 in eV.
AMU_A2_PER_FS2_TO_EV = AMU_KG * 1e-20 / 1e-30 / ELEMENTARY_CHARGE_C


def omega_rad_per_fs_to_wavenumber_cm(omega: float) -> float:
    """Angular frequency (rad/fs) to wavenumber (cm^-1): nu~ = omega / (2 pi c)."""
    return omega / (2.0 * math.pi * SPEED_OF_LIGHT_CM_PER_FS)


def wavenumber_cm_to_omega_rad_per_fs(wavenumber: float) -> float:
    """Wavenumber (cm^-1) to angular frequency (rad/fs)."""
    return wavenumber * 2.0 * math.pi * SPEED_OF_LIGHT_CM_PER_FS
