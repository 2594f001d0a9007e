"""MACE checkpoints (``mace:PATH``), e.g. MACE-MP-0 / MACE-OFF / MACE-OMAT from a local file.

Extra: ``pip install 'lesdistill[mace]'`` in its own environment (mace-torch pins e3nn 0.4.4, which
conflicts with SevenNet). Never downloads: only a local ``.model`` file is loaded.
"""

from __future__ import annotations

from lesdistill.teachers.base import (
    Teacher,
    TeacherInfo,
    checkpoint_missing,
    offline_environment,
    require_file,
    require_package,
)


def info(arg: str = "") -> TeacherInfo:
    """Metadata; the level of theory depends on the checkpoint (MACE-MP-0: MPtrj PBE/PBE+U)."""
    name = arg.lower()
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
        notes=f"checkpoint {arg}",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use ``mace:arg`` here (empty: usable)."""
    return checkpoint_missing(arg, "mace", "mace-torch", "mace")


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """MACE calculator from a local checkpoint (float64 for clean MD)."""
    path = require_file(arg, "mace teacher")
    require_package("mace", "mace-torch", "mace", "the MACE teacher")
    offline_environment()
    from mace.calculators import MACECalculator

    calc = MACECalculator(model_paths=str(path), device=device, default_dtype="float64")
    return Teacher(name=spec, info=info(arg), calculator=calc, device=device)
