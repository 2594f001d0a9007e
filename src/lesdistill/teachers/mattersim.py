"""MatterSim checkpoints: ``mattersim:PATH`` (e.g. MatterSim-v1.0.0-5M.pth, local file only).

Extra: ``pip install 'lesdistill[mattersim]'``.
"""

from __future__ import annotations

from lesdistill.teachers.base import (
    Teacher,
    TeacherInfo,
    checkpoint_missing,
    require_file,
    require_package,
)


def info(arg: str = "") -> TeacherInfo:
    """Metadata (MatterSim v1: M3GNet architecture, PBE/PBE+U)."""
    return TeacherInfo(
        family="mattersim",
        architecture="MatterSim v1: M3GNet-style graph network with three-body interactions",
        training_data="MatterSim active-learning set (~17 M structures over 0-5000 K, 0-1000 GPa)",
        level_of_theory="DFT PBE / PBE+U",
        elements=None,
        periodic=True,
        open=True,
        extra="mattersim",
        notes=f"checkpoint {arg}",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use ``mattersim:arg`` here (empty: usable)."""
    return checkpoint_missing(arg, "mattersim", "mattersim", "mattersim")


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """MatterSimCalculator loading the local checkpoint."""
    path = require_file(arg, "mattersim teacher")
    require_package("mattersim", "mattersim", "mattersim", "the MatterSim teacher")
    from mattersim.forcefield import MatterSimCalculator

    calc = MatterSimCalculator(load_path=str(path), device=device)
    return Teacher(name=spec, info=info(arg), calculator=calc, device=device)
