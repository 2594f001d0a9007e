"""GFN1-xTB / GFN2-xTB through tblite (parameters ship inside the tblite wheel).

Extra: ``pip install 'lesdistill[xtb]'``. Both methods handle open molecules and 3D-periodic
cells (tblite supports periodic boundary conditions for GFN1/GFN2; stress is analytic). The
calculator also returns Mulliken charges (``charges``) and, for open structures, the ``dipole``.
GFN1-xTB includes D3(BJ) dispersion and GFN2-xTB includes D4: do not add ``+d3``. The
structure's total charge and spin multiplicity (``info["total_charge"]``,
``info["spin_multiplicity"]``, defaults 0 and 1) are passed to tblite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import ChargeSpinState, TeacherInfo, charge_and_spin

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

_METHODS = {"xtb-gfn1": "GFN1-xTB", "xtb-gfn2": "GFN2-xTB"}
#: GFN1/GFN2 parametrisations cover H..Rn (Z = 1..86).
_Z_MAX = 86


class XTBAdapter(TeacherAdapter):
    family = "xtb"
    names = tuple(_METHODS)
    packages = (Package("tblite", "tblite", "0.8.0", "pip install 'lesdistill[xtb]'", "xtb"),)

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        from ase.data import chemical_symbols

        method = _METHODS[spec.key]
        dispersion = "D3(BJ)" if spec.key == "xtb-gfn1" else "D4"
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

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        """tblite GFN-xTB calculator (CPU only; ``device`` is recorded but not used)."""
        from tblite.ase import TBLite

        class _ChargeSpinTBLite(ChargeSpinState, TBLite):  # type: ignore[misc]
            """TBLite with the structure's total charge and multiplicity (``atoms.info``)."""

            def calculate(self, atoms=None, properties=None, system_changes=None):  # type: ignore[no-untyped-def]
                from ase.calculators.calculator import all_changes

                if atoms is not None:
                    charge, multiplicity = charge_and_spin(atoms)
                    wanted = {"charge": int(round(charge)), "multiplicity": int(multiplicity)}
                    if any(self.parameters.get(k) != v for k, v in wanted.items()):
                        self.set(**wanted)
                super().calculate(atoms, properties or ["energy"],
                                  all_changes if system_changes is None else system_changes)

        return _ChargeSpinTBLite(
            method=_METHODS[spec.key], verbosity=0, electronic_temperature=300.0
        )


ADAPTER = XTBAdapter()
