"""SevenNet-0 (weights ship inside the sevenn wheel; needs e3nn >= 0.5).

Extra: ``pip install 'lesdistill[sevennet]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


class SevenNetAdapter(TeacherAdapter):
    family = "sevennet"
    names = ("sevennet",)
    packages = (
        Package("sevenn", "sevenn", "0.13.0", "pip install 'lesdistill[sevennet]'", "sevennet"),
        Package("e3nn", "e3nn", "0.6.0", "pip install 'lesdistill[sevennet]'", "sevennet"),
    )

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """Elements: the 89 MPtrj elements of SevenNet-0 (Z = 1..83 and 89..94)."""
        from ase.data import chemical_symbols

        zs = [*range(1, 84), *range(89, 95)]
        return TeacherInfo(
            family="sevennet",
            architecture="SevenNet-0 (11Jul2024): NequIP-style E(3)-equivariant message passing, "
                         "5 layers",
            training_data="MPtrj (Materials Project relaxation trajectories)",
            level_of_theory="DFT PBE / PBE+U (Materials Project GGA/GGA+U mix)",
            elements=frozenset(chemical_symbols[z] for z in zs),
            periodic=True,
            open=True,
            extra="sevennet",
            notes="checkpoint 7net-0 from the sevenn wheel; no download; open structures are out "
                  "of its training domain (bulk crystals)",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        import warnings

        from sevenn.calculator import SevenNetCalculator

        with warnings.catch_warnings():  # "no tensor-product accelerator": expected on CPU
            warnings.simplefilter("ignore", UserWarning)
            return SevenNetCalculator(model="7net-0", device=device)


ADAPTER = SevenNetAdapter()
