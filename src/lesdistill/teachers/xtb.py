"""GFN1-xTB / GFN2-xTB through tblite (parameters ship inside the tblite wheel).

Extra: ``pip install 'lesdistill[xtb]'``. Both methods handle open molecules and 3D-periodic
cells (tblite supports periodic boundary conditions for GFN1/GFN2; stress is analytic). The
calculator also returns Mulliken charges (``charges``) and, for open structures, the ``dipole``.
GFN1-xTB includes D3(BJ) dispersion and GFN2-xTB includes D4: do not add ``+d3``.
"""

from __future__ import annotations

from lesdistill.teachers.base import Teacher, TeacherInfo, missing_packages, require_package
from lesdistill.errors import UserInputError

_METHODS = {"xtb-gfn1": "GFN1-xTB", "xtb-gfn2": "GFN2-xTB"}
#: GFN1/GFN2 parametrisations cover H..Rn (Z = 1..86).
_Z_MAX = 86


def info(arg: str = "", spec: str = "xtb-gfn2") -> TeacherInfo:
    """Metadata of ``xtb-gfn1`` or ``xtb-gfn2``."""
    from ase.data import chemical_symbols

    method = _METHODS[spec]
    dispersion = "D3(BJ)" if spec == "xtb-gfn1" else "D4"
    return TeacherInfo(
        family="xtb",
        architecture=f"{method} (tblite): self-consistent extended tight binding",
        training_data="semi-empirical parametrisation (Grimme group, fitted to DFT/CCSD(T) "
                      "molecular data)",
        level_of_theory=f"semi-empirical tight binding {method} with {dispersion} dispersion",
        elements=frozenset(chemical_symbols[1:_Z_MAX + 1]),
        periodic=True,
        open=True,
        extra="xtb",
        notes="also gives Mulliken charges; dispersion already included",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use this teacher here (empty: usable)."""
    return [f"package {p} (pip install 'lesdistill[xtb]')"
            for p in missing_packages([("tblite", "tblite")])]


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """tblite GFN-xTB calculator (CPU only; ``device`` is recorded but not used)."""
    if spec not in _METHODS:
        raise UserInputError(f"unknown xtb teacher {spec!r}; use xtb-gfn1 or xtb-gfn2")
    require_package("tblite", "tblite", "xtb", "the GFN-xTB teachers")
    from tblite.ase import TBLite

    calc = TBLite(method=_METHODS[spec], verbosity=0, electronic_temperature=300.0)
    return Teacher(name=spec, info=info(arg, spec), calculator=calc, device="cpu")
