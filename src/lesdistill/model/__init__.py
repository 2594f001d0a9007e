"""The LES student model: backbone interface, built-in PaiNN backbone, config, checkpoints.

Public API::

    from lesdistill.model import (StudentConfig, StudentModel, Backbone, PaiNN, PRESETS,
                                  fit_reference_energies, save_student, load_student,
                                  extend_elements)

See :mod:`lesdistill.model.student` for the forward contract and
:mod:`lesdistill.data.batch` for the input batch.
"""

from lesdistill.model.backbone import Backbone
from lesdistill.model.build import build_backbone
from lesdistill.model.checkpoint import extend_elements, load_student, read_checkpoint, save_student
from lesdistill.model.config import PRESETS, StudentConfig
from lesdistill.model.painn import PaiNN
from lesdistill.model.student import StudentModel, fit_reference_energies

__all__ = [
    "PRESETS",
    "Backbone",
    "PaiNN",
    "StudentConfig",
    "StudentModel",
    "build_backbone",
    "extend_elements",
    "fit_reference_energies",
    "load_student",
    "read_checkpoint",
    "save_student",
]
