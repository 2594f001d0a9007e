"""PET-MAD and other metatomic exports: ``pet:PATH`` (a TorchScript ``.pt`` exported model).

Extra: ``pip install 'lesdistill[pet]'`` (metatomic-torch; upet exports load the same way).
Never downloads.
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
    """Metadata (PET-MAD: MAD data set, PBEsol)."""
    return TeacherInfo(
        family="pet",
        architecture="PET: point-edge transformer (unconstrained, rotationally augmented)",
        training_data="MAD (Massive Atomistic Diversity) for PET-MAD; else see the export",
        level_of_theory="DFT PBEsol (PET-MAD)",
        elements=None,
        periodic=True,
        open=True,
        extra="pet",
        notes=f"exported model {arg}; use +d3=pbesol for dispersion",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use ``pet:arg`` here (empty: usable)."""
    return checkpoint_missing(arg, "metatomic.torch", "metatomic-torch", "pet")


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """metatomic ASE calculator for the exported model at ``arg``."""
    path = require_file(arg, "pet teacher")
    require_package("metatomic.torch", "metatomic-torch", "pet", "the PET teacher")
    from metatomic.torch.ase_calculator import MetatomicCalculator

    calc = MetatomicCalculator(str(path), device=device)
    return Teacher(name=spec, info=info(arg), calculator=calc, device=device)
