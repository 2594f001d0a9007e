"""PET (upet / metatomic) models: ``pet:PATH`` with PATH an exported ``.pt`` or a upet ``.ckpt``.

An exported TorchScript metatomic model (``.pt``) is loaded by
``metatomic_ase.MetatomicCalculator``. upet's own releases are metatrain checkpoints (``.ckpt``):
when upet is importable they are exported on load (to a temporary file, removed once the model is in
memory), with ``upet.save_upet``; the same by hand::

    python -c "import upet; upet.save_upet(checkpoint_path='pet-mad.ckpt', output='pet-mad.pt')"

Install: ``pip install torch==2.13.0 upet==0.3.1 metatomic-torch==0.1.19`` (pulls metatrain and
metatomic-ase). Add ``+d3=pbesol`` for dispersion with PET-MAD. Never downloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo, has_module

if TYPE_CHECKING:
    from pathlib import Path

    from ase.calculators.calculator import Calculator

INSTALL = "pip install torch==2.13.0 upet==0.3.1 metatomic-torch==0.1.19"
EXPORT_COMMAND = ("python -c \"import upet; upet.save_upet(checkpoint_path='MODEL.ckpt', "
                  "output='MODEL.pt')\"")


class PETAdapter(TeacherAdapter):
    family = "pet"
    prefixes = ("pet",)
    needs_file = True
    formats = "*.pt: exported metatomic TorchScript model; *.ckpt: upet/metatrain checkpoint " \
              "(exported on load when upet is importable)"
    packages = (Package("metatomic.torch", "metatomic-torch", "0.1.19", INSTALL, "pet"),
                Package("metatomic_ase", "metatomic-ase", "0.1.4", INSTALL, "pet"))

    def validate(self, spec: TeacherSpec) -> None:
        spec.check_options({})

    def missing(self, spec: TeacherSpec) -> list[str]:
        reasons = super().missing(spec)
        if spec.path.endswith(".ckpt") and not has_module("upet"):
            reasons.append(f"package upet to export the .ckpt ({INSTALL}), or export it once "
                           f"with: {EXPORT_COMMAND}")
        return reasons

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """PET-MAD: MAD data set, PBEsol."""
        return TeacherInfo(
            family="pet",
            architecture="PET: point-edge transformer (unconstrained, rotationally augmented)",
            training_data="MAD (Massive Atomistic Diversity) for PET-MAD; else see the export",
            level_of_theory="DFT PBEsol (PET-MAD)",
            elements=None,
            periodic=True,
            open=True,
            extra="pet",
            notes=f"model {spec.path}; use +d3=pbesol for dispersion",
        )

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        from metatomic_ase import MetatomicCalculator

        path = self.checkpoint(spec)
        if path.suffix != ".ckpt":
            return MetatomicCalculator(str(path), device=device)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="lesdistill-pet-") as tmp:
            exported = _export(path, tmp)
            return MetatomicCalculator(str(exported), device=device)


def _export(checkpoint: Path, folder: str) -> Path:
    """Export a upet/metatrain ``.ckpt`` to a TorchScript file in ``folder`` (needs upet)."""
    from pathlib import Path

    if not has_module("upet"):
        raise UserInputError(
            f"pet: {checkpoint} is a metatrain checkpoint and upet is not installed to "
            f"export it; install it ({INSTALL}) or export once with: {EXPORT_COMMAND}"
        )
    import upet

    out = Path(folder) / (checkpoint.stem + ".pt")
    upet.save_upet(checkpoint_path=str(checkpoint), output=str(out))
    return out


ADAPTER = PETAdapter()
