"""MACE checkpoints (``mace:PATH``), e.g. MACE-MP-0 / MACE-OFF / MACE-OMAT from a local file.

mace-torch 0.3.16 pins e3nn 0.4.4, which conflicts with fairchem-core 2.x and SevenNet
(e3nn >= 0.5), and importing mace sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole
process. Run it in its own environment through the socket teacher::

    python3.11 -m venv /opt/mace-env
    /opt/mace-env/bin/pip install torch==2.13.0 mace-torch==0.3.16
    lesdistill sample --teacher env:/opt/mace-env/bin/python@mace:/models/mace-mp-0.model ...

The file is the ``torch.save`` of the whole module (the format of the released ``*.model``
files); it is unpickled by mace, so load only files you trust. Never downloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

_OPTIONS = {"dtype": "float64 (default) or float32"}


class MACEAdapter(TeacherAdapter):
    family = "mace"
    prefixes = ("mace",)
    needs_file = True
    formats = "*.model: torch.save of the whole MACE module (MACE-MP-0/OFF/OMAT releases)"
    packages = (Package("mace", "mace-torch", "0.3.16",
                        "own venv: pip install torch==2.13.0 mace-torch==0.3.16; "
                        "spec env:VENV/bin/python@mace:PATH", "mace"),)
    notes = "pins e3nn 0.4.4: run it in its own venv through the socket teacher (env:...@mace:...)"

    def validate(self, spec: TeacherSpec) -> None:
        spec.check_options(_OPTIONS)
        if spec.options.get("dtype", "float64") not in ("float64", "float32"):
            raise UserInputError(f"teacher {spec.text!r}: dtype must be float64 or float32")

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """The level of theory follows the checkpoint's name (MACE-MP-0: MPtrj PBE/PBE+U)."""
        name = spec.path.rsplit("/", 1)[-1].lower()
        if "off" in name:
            data, level = "SPICE (MACE-OFF)", "DFT wB97M-D3(BJ)/def2-TZVPPD"
        elif "omat" in name:
            data, level = "OMat24 (MACE-OMAT)", "DFT PBE / PBE+U"
        else:
            data, level = "MPtrj (MACE-MP-0, assumed from the file name)", "DFT PBE / PBE+U"
        return TeacherInfo(
            family="mace",
            architecture="MACE: higher-order equivariant message passing (ACE features)",
            training_data=data,
            level_of_theory=level,
            elements=None,
            periodic=True,
            open=True,
            extra="mace",
            notes=f"checkpoint {spec.path}",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        """MACECalculator from the local file (float64 by default, for clean MD)."""
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(self.checkpoint(spec)), device=device,
                              default_dtype=spec.options.get("dtype", "float64"))


ADAPTER = MACEAdapter()
