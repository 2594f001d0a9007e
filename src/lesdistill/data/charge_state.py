"""Total charge and spin multiplicity of a structure: where they are read, and their checks.

``atoms.info["total_charge"]`` (e, default 0; :data:`lesdistill.keys.TOTAL_CHARGE`) and
``atoms.info["spin_multiplicity"]`` (2S+1, default 1; :data:`lesdistill.keys.SPIN_MULTIPLICITY`).
A structure's charge must leave a non-negative number of electrons, n_e = sum_i Z_i - Q; a given
multiplicity must be a whole number >= 1 with n_e integer, 2S <= n_e and n_e - 2S even (its
unpaired electrons fit the electron count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lesdistill import keys
from lesdistill.errors import UserInputError

__all__ = ["charge_and_spin", "check_charge_spin", "finite_number"]


def finite_number(value: Any, what: str, where: str) -> float:
    """``value`` as a finite float; UserInputError naming ``where`` and ``what`` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(out):
        raise UserInputError(f"{where}: {what} is NaN or infinite")
    return out


def check_charge_spin(numbers: Sequence[int], charge: float, spin: float | None,
                      where: str = "structure") -> None:
    """UserInputError (naming ``where``) if the charge or multiplicity does not fit the atoms."""
    n_electrons = float(sum(int(z) for z in numbers)) - charge
    if n_electrons < 0:
        raise UserInputError(f"{where}: total charge {charge:g} e leaves {n_electrons:g} electrons "
                             f"for atoms with {n_electrons + charge:g} protons; lower the charge")
    if spin is None:
        return
    if spin < 1 or abs(spin - round(spin)) > 1e-9:
        raise UserInputError(f"{where}: spin multiplicity 2S+1 must be a whole number >= 1, got "
                             f"{spin:g}")
    if abs(n_electrons - round(n_electrons)) > 1e-6:
        raise UserInputError(f"{where}: a spin multiplicity needs a whole number of electrons, but "
                             f"total charge {charge:g} e leaves {n_electrons:g}; give an integer "
                             "charge")
    unpaired, n_e = int(round(spin)) - 1, int(round(n_electrons))
    if unpaired > n_e or (n_e - unpaired) % 2:
        raise UserInputError(f"{where}: spin multiplicity {int(round(spin))} does not fit {n_e} "
                             f"electrons (charge {charge:g} e): with {n_e} electrons use an "
                             f"{'odd' if n_e % 2 == 0 else 'even'} multiplicity <= {n_e + 1}")


def charge_and_spin(info: Mapping[str, Any], numbers: Sequence[int] | None = None,
                    where: str = "structure") -> tuple[float, float | None]:
    """(total charge e, spin multiplicity or None if not given) from ``atoms.info``, checked
    against ``numbers`` when given."""
    charge = finite_number(info.get(keys.TOTAL_CHARGE, 0.0), f"info['{keys.TOTAL_CHARGE}']", where)
    raw = info.get(keys.SPIN_MULTIPLICITY)
    spin = None if raw is None else finite_number(raw, f"info['{keys.SPIN_MULTIPLICITY}']", where)
    if numbers is not None:
        check_charge_spin(numbers, charge, spin, where)
    return charge, spin
