"""MatterSim checkpoints: ``mattersim:PATH`` (e.g. MatterSim-v1.0.0-5M.pth, local file only).

Install (mattersim 1.2.3; 1.2.5 needs Python >= 3.12)::

    pip install torch==2.13.0 mattersim==1.2.3 && pip uninstall -y torchvision

On the same pip line as ``torch==2.13.0`` pip keeps the CPU torch instead of upgrading it and
pulling CUDA wheels; torchvision (pulled by a dependency, not used) must then go because its
compiled ops do not load against that torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

INSTALL = "pip install torch==2.13.0 mattersim==1.2.3 && pip uninstall -y torchvision"


class MatterSimAdapter(TeacherAdapter):
    family = "mattersim"
    prefixes = ("mattersim",)
    needs_file = True
    formats = "*.pth: mattersim Potential.save() dict (MatterSim-v1.0.0-1M/5M releases)"
    packages = (Package("mattersim", "mattersim", "1.2.3", INSTALL, "mattersim"),)

    def validate(self, spec: TeacherSpec) -> None:
        spec.check_options({})

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """MatterSim v1: M3GNet architecture, PBE/PBE+U."""
        return TeacherInfo(
            family="mattersim",
            architecture="MatterSim v1: M3GNet-style graph network with three-body interactions",
            training_data="MatterSim active-learning set (~17 M "
            "structures over 0-5000 K, 0-1000 GPa)",
            level_of_theory="DFT PBE / PBE+U",
            elements=None,
            periodic=True,
            open=True,
            extra="mattersim",
            notes=f"checkpoint {spec.path}",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        from mattersim.forcefield import MatterSimCalculator

        # absolute: mattersim treats the bare names of its releases as "download this one"
        return MatterSimCalculator(load_path=str(self.checkpoint(spec).resolve()), device=device)


ADAPTER = MatterSimAdapter()
