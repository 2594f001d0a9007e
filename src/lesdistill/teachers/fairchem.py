"""fairchem UMA / eSEN checkpoints: ``uma:PATH[@task]``, ``esen:PATH[@task]``.

Tasks (UMA heads): ``omol`` (molecules, OMol25, wB97M-V/def2-TZVPD), ``omat`` (inorganic materials,
OMat24, PBE/PBE+U), ``oc20`` (catalysis, RPBE), ``odac`` (MOFs, PBE-D3), ``omc`` (molecular
crystals, PBE-D3). Extra: ``pip install 'lesdistill[fairchem]'``. Only a local checkpoint file is
loaded; Hugging Face is put in offline mode.
"""

from __future__ import annotations

from lesdistill.teachers.base import (
    Teacher,
    TeacherInfo,
    checkpoint_missing,
    offline_environment,
    require_file,
    require_package,
    split_option,
)

from lesdistill.errors import UserInputError

TASKS: dict[str, tuple[str, str, bool]] = {
    # task: (training data, level of theory, periodic data)
    "omol": ("OMol25", "DFT wB97M-V/def2-TZVPD", False),
    "omat": ("OMat24", "DFT PBE / PBE+U (VASP)", True),
    "oc20": ("OC20", "DFT RPBE", True),
    "odac": ("ODAC23", "DFT PBE-D3", True),
    "omc": ("OMC25", "DFT PBE-D3", True),
}
DEFAULT_TASK = {"uma": "omat", "esen": "omat"}


def info(arg: str = "", family: str = "uma") -> TeacherInfo:
    """Metadata of ``family:arg`` (``family`` is ``uma`` or ``esen``)."""
    _, task = split_option(arg)
    task = task or DEFAULT_TASK[family]
    data, level, _ = TASKS.get(task, ("unknown task", "unknown", True))
    arch = ("UMA: mixture-of-linear-experts eSEN, one model with per-task heads"
            if family == "uma" else "eSEN: smooth equivariant message passing (SO(2) convolutions)")
    return TeacherInfo(
        family=family,
        architecture=arch,
        training_data=f"{data} (task {task}); UMA also saw OMat24/OMol25/OC20/ODAC23/OMC25",
        level_of_theory=level,
        elements=None,
        periodic=True,
        open=True,
        extra="fairchem",
        notes=f"checkpoint {arg}",
    )


def missing(arg: str = "") -> list[str]:
    """What is missing to use ``uma:arg`` / ``esen:arg`` here (empty: usable)."""
    return checkpoint_missing(arg, "fairchem.core", "fairchem-core", "fairchem")


def make(spec: str, arg: str, device: str = "cpu", family: str = "uma") -> Teacher:
    """FAIRChemCalculator for a local UMA/eSEN checkpoint with the chosen task head."""
    path_str, task = split_option(arg)
    task = task or DEFAULT_TASK[family]
    if task not in TASKS:
        raise UserInputError(f"{family}: unknown task {task!r}; use one of {', '.join(TASKS)}")
    path = require_file(path_str, f"{family} teacher")
    require_package("fairchem.core", "fairchem-core", "fairchem", f"the {family} teacher")
    offline_environment()
    from fairchem.core import FAIRChemCalculator
    from fairchem.core.units.mlip_unit import load_predict_unit

    predictor = load_predict_unit(str(path), device=device)
    calc = FAIRChemCalculator(predictor, task_name=task)
    return Teacher(name=spec, info=info(arg, family), calculator=calc, device=device)
