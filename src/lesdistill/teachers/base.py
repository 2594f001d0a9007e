"""The teacher interface: an ASE calculator plus what it is (metadata) and what it can handle.

A :class:`Teacher` wraps one ASE calculator (energy in eV, forces in eV/Å, stress in eV/Å^3 Voigt
order when periodic) together with a :class:`TeacherInfo` record (architecture, training data,
level of theory, covered elements, periodic / open boundary support). Adapters (one file per model
family) build teachers; :func:`lesdistill.teachers.get_teacher` picks the adapter from a spec
string such as ``"chgnet"`` or ``"mace:/models/mace-mp-0.model"``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lesdistill import keys
from lesdistill.errors import MissingDependencyError, UserInputError

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator


@dataclass(frozen=True)
class TeacherInfo:
    """What a teacher is.

    ``elements`` is the set of chemical symbols the model covers (``None``: any element the
    model family supports, not checked here). ``periodic``/``open`` say whether periodic cells
    and open (non-periodic, vacuum) structures can be labelled.
    """

    family: str
    architecture: str
    training_data: str
    level_of_theory: str
    elements: frozenset[str] | None = None
    periodic: bool = True
    open: bool = True
    extra: str | None = None  # pip extra that installs the family's package, e.g. "chgnet"
    notes: str = ""


@dataclass
class Teacher:
    """A labelling model: ``calculator`` (ASE) + ``info`` (:class:`TeacherInfo`).

    ``name`` is the spec the teacher was created from (recorded as ``info["teacher"]`` on each
    labelled frame).
    """

    name: str
    info: TeacherInfo
    calculator: Calculator
    device: str = "cpu"

    def check(self, atoms: Atoms) -> None:
        """Raise ``ValueError`` if this teacher cannot label ``atoms`` (elements, periodicity,
        a spin multiplicity other than 1 for a teacher that does not read it)."""
        check_atoms(atoms, self.info, self.name)
        spin = atoms.info.get(SPIN_MULTIPLICITY)
        if (
            spin is not None
            and float(spin) != 1.0
            and not isinstance(self.calculator, ChargeSpinState)
        ):
            raise UserInputError(
                f"teacher {self.name!r} ignores the spin multiplicity, but the structure has "
                f"info['{SPIN_MULTIPLICITY}'] = {spin}; label it with a spin-aware teacher (xtb, "
                "fairchem omol) or drop the multiplicity")

    def label(self, atoms: Atoms) -> dict[str, object]:
        """Energy (eV), forces (eV/Å) and, for a periodic cell, stress (eV/Å^3 Voigt) of ``atoms``.

        The teacher's calculator is attached to a copy; ``atoms`` itself is not modified.
        """
        self.check(atoms)
        work = atoms.copy()
        work.calc = self.calculator
        results: dict[str, object] = {
            "energy": float(work.get_potential_energy()),
            "forces": work.get_forces().copy(),
        }
        if work.pbc.all():
            results["stress"] = work.get_stress(voigt=True).copy()
        return results


@dataclass(frozen=True)
class TeacherStatus:
    """One line of ``lesdistill teachers``: is the teacher usable here, and if not, why."""

    name: str
    usable: bool
    reason: str = ""
    info: TeacherInfo | None = field(default=None, compare=False)


def check_atoms(atoms: Atoms, info: TeacherInfo, name: str) -> None:
    """Validate ``atoms`` against a teacher's coverage; ValueError with a one-line fix otherwise."""
    import numpy as np

    if len(atoms) == 0:
        raise UserInputError(f"teacher {name!r}: the structure has no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise UserInputError(
            f"teacher {name!r}: the structure has NaN/inf positions; fix the input"
        )
    if info.elements is not None:
        bad = sorted(set(atoms.get_chemical_symbols()) - set(info.elements))
        if bad:
            known = ", ".join(sorted(info.elements))
            raise UserInputError(
                f"teacher {name!r} cannot handle element(s) {', '.join(bad)}; "
                f"it covers only {known}; pick another teacher"
            )
    pbc = atoms.pbc
    if pbc.all():
        if not info.periodic:
            raise UserInputError(
                f"teacher {name!r} supports only open (non-periodic) structures; "
                "remove the cell / set pbc=False or pick a periodic teacher"
            )
        if atoms.cell.rank < 3 or abs(atoms.cell.volume) < 1e-6:
            raise UserInputError(f"teacher {name!r}: periodic structure has a degenerate cell")
    elif not pbc.any():
        if not info.open:
            raise UserInputError(
                f"teacher {name!r} needs a periodic cell (pbc=True in all directions) "
                "but the structure is not periodic; add a cell or pick another teacher"
            )
    elif not info.periodic:
        raise UserInputError(
            f"teacher {name!r} supports only open structures; got pbc={pbc.tolist()}"
        )


def has_module(module: str) -> bool:
    """True if ``module`` (dotted name) can be imported; the module itself is not imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # parent package missing
        return False


def require_package(module: str, package: str, extra: str | None, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` if ``module`` cannot be imported (no import done)."""
    if not has_module(module):
        raise MissingDependencyError(package, extra, purpose)


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """Return ``path`` as a Path if it is an existing file; FileNotFoundError (one line)
    otherwise."""
    if not str(path).strip():
        raise FileNotFoundError(f"{what}: no checkpoint path given; use the form 'family:PATH'")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what}: checkpoint file not found: {p}")
    return p


def offline_environment() -> None:
    """Tell hub-style libraries not to touch the network (no downloads at run time)."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(key, "1")


def missing_packages(modules: Iterable[tuple[str, str]]) -> list[str]:
    """Names of the packages whose import module is not found: ``[(module, package), ...]``."""
    return [pkg for mod, pkg in modules if not has_module(mod)]


def split_option(arg: str) -> tuple[str, str | None]:
    """``"/models/uma.pt@omol"`` -> ``("/models/uma.pt", "omol")``; no ``@option`` -> ``(arg,
    None)``."""
    path, main, _ = parse_arg(arg)
    return path, main


_OPTION_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_arg(arg: str) -> tuple[str, str | None, dict[str, str]]:
    """``"/m/uma.pt@omol,compile=true"`` -> ``("/m/uma.pt", "omol", {"compile": "true"})``.

    The tail after the last ``@`` is a comma-separated list of options: the first bare word is
    the main option (task, architecture), the others ``key=value`` (values may be paths). A tail
    that does not look like options (``/m/with@at/uma.pt``) is part of the path.
    """
    head, sep, tail = arg.rpartition("@")
    if not sep or not tail:
        return arg, None, {}
    main: str | None = None
    options: dict[str, str] = {}
    for item in tail.split(","):
        key, eq, value = item.partition("=")
        if not _OPTION_KEY.match(key):
            return arg, None, {}
        if eq:
            options[key] = value
        elif main is None and not options:
            main = key
        else:
            options[key] = "true"
    return head, main, options


#: ``atoms.info`` key of the spin multiplicity 2S+1 (1 = singlet) read by charge/spin-aware teachers
SPIN_MULTIPLICITY = "spin_multiplicity"


def charge_and_spin(atoms: Atoms) -> tuple[float, int]:
    """(total charge in e, spin multiplicity) of ``atoms`` (defaults 0 and 1)."""
    return float(atoms.info.get(keys.TOTAL_CHARGE, 0.0)), int(atoms.info.get(SPIN_MULTIPLICITY, 1))


class ChargeSpinState:
    """Calculator mixin: a change of total charge or spin multiplicity invalidates cached results
    (ASE compares positions, numbers, cell, pbc and initial moments, not ``atoms.info``)."""

    def check_state(self, atoms, tol=1e-15):  # type: ignore[no-untyped-def]
        changes = super().check_state(atoms, tol)  # type: ignore[misc]
        old = getattr(self, "atoms", None)
        if old is not None and charge_and_spin(old) != charge_and_spin(atoms):
            changes = [*changes, "initial_charges"]
        return changes


class ChargeSpinCalculator:
    """Factory of an ASE calculator subclass that maps the project's charge/spin onto a package's.

    ``wrap(calc_class, charge_key, spin_key)`` returns a subclass of ``calc_class`` whose
    ``calculate`` copies ``atoms.info["total_charge"]`` (e, default 0) to ``info[charge_key]`` and
    ``info["spin_multiplicity"]`` (default 1) to ``info[spin_key]`` before calling the parent, so
    OMol-type heads (fairchem UMA/eSEN, orbmol) see the total charge and multiplicity of the
    structure. The caller's atoms are not modified.
    """

    @staticmethod
    def wrap(calc_class: type, charge_key: str = "charge", spin_key: str = "spin",
             takes_charge: bool = True) -> type:
        """``takes_charge=False``: the head ignores charge/spin, so a charged structure is an
        error."""
        class _Mapped(ChargeSpinState, calc_class):  # type: ignore[misc, valid-type]
            def calculate(self, atoms=None, properties=None, system_changes=None):  # type: ignore[no-untyped-def]
                from ase.calculators.calculator import all_changes

                if atoms is not None:
                    charge = float(atoms.info.get(keys.TOTAL_CHARGE, 0))
                    if not takes_charge and (
                        charge != 0 or atoms.info.get(SPIN_MULTIPLICITY, 1) != 1
                    ):
                        raise UserInputError(
                            "this teacher's head does not take a total charge or spin "
                            f"(got charge {charge:g}, multiplicity "
                            f"{atoms.info.get(SPIN_MULTIPLICITY, 1)}); use a charge-aware task "
                            "such as omol, or a neutral singlet structure")
                    atoms = atoms.copy()
                    atoms.info[charge_key] = int(round(float(atoms.info.get(keys.TOTAL_CHARGE, 0))))
                    atoms.info[spin_key] = int(atoms.info.get(SPIN_MULTIPLICITY, 1))
                super().calculate(atoms, properties or ["energy"],
                                  all_changes if system_changes is None else system_changes)

        _Mapped.__name__ = f"ChargeSpin{calc_class.__name__}"
        return _Mapped
