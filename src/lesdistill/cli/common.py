"""Options and up-front checks shared by the commands (no physics, nothing heavy imported)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from lesdistill.errors import not_found

TRUST_BACKBONE_HELP = ("Let the student / training-state files import and run the custom "
                       "backbone (package.module:Factory) they name. Only for files you trust.")
TRUST_CODE_HELP = ("Let the config file name code that is imported and run (ase: teachers, "
                   "custom backbones). Only for configs you trust.")


@contextlib.contextmanager
def trusted(trust_backbone: bool) -> Iterator[None]:
    """Within the block, files may name custom backbones if ``trust_backbone``."""
    if not trust_backbone:
        yield
        return
    from lesdistill.model.backbone import trusting_backbones

    with trusting_backbones():
        yield


def device(name: str, where: str = "--device") -> str:
    """The checked device name (one-line error with the fix if it is not there)."""
    from lesdistill.device import check_device

    return check_device(name, where)


def require_structure_and_student(structure: Path, model: Path) -> None:
    """One-line errors (exit 2) when the start structure or the student checkpoint is missing."""
    if not structure.is_file():
        raise not_found("structure file", structure, "pass an extxyz/cif/POSCAR file (e.g. from "
                        "`lesdistill system`)")
    if not model.is_file():
        raise not_found("student checkpoint", model, "train one with `lesdistill train` or "
                        "pass --model")
