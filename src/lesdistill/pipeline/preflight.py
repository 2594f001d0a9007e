"""Everything a run config says, checked before any stage runs (nothing is written).

:func:`check_run_config` builds every section's settings object now (the TrainConfig of the
train and finetune stages, the StudentConfig, the teacher specs, the system builder and its
parameters or the structure file, the device, the output folder), so that a bad value is
reported as one line before minutes of building and teacher sampling instead of at the stage
that reads it, and no half-built output folder is left behind.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from lesdistill.analysis.finetune_fractions import plan_sizes
from lesdistill.device import check_device
from lesdistill.errors import UserInputError, not_found
from lesdistill.paths import check_output_dir
from lesdistill.systems import BUILDERS, _resolve


def _student(preset: str, options: dict[str, Any], where: str) -> None:
    from lesdistill.model.config import StudentConfig

    try:
        StudentConfig.from_preset(preset, **{**options, "elements": ("H",)})
    except ValueError as exc:
        raise UserInputError(f"{where}: {exc}; fix it in the config") from None


def _teacher(spec: str, where: str) -> None:
    from lesdistill.teachers.registry import teacher_status

    try:
        status = teacher_status(spec)
    except ValueError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    if not status.usable:
        raise UserInputError(f"{where} {spec!r} is not usable here, missing: {status.reason}; run "
                             "`lesdistill teachers` to see what is")


def check_system(system: Any, periodic: bool | None = None) -> None:
    """The builder name and its parameters, or the structure file (read and validated)."""
    if system.file is not None:
        from lesdistill.systems.io import load_structure

        if not Path(system.file).is_file():
            raise not_found("system.file", system.file, "fix the path in the config (relative "
                            "paths are relative to the config file)")
        load_structure(system.file)
        return

    if system.builder not in BUILDERS:
        raise UserInputError(f"system.builder {system.builder!r} is unknown; use one of "
                             f"{', '.join(BUILDERS)} or give system.file")
    allowed = [p for p in inspect.signature(_resolve(BUILDERS[system.builder])).parameters
               if p != "seed"]
    unknown = sorted(set(system.params) - set(allowed))
    if unknown:
        raise UserInputError(f"system.params {', '.join(unknown)} unknown for builder "
                             f"{system.builder!r}; allowed: {', '.join(allowed)}")


def check_run_config(cfg: Any) -> None:
    """Raise :class:`UserInputError` for the first bad value of ``cfg`` (a RunConfig)."""
    check_device(cfg.device, "device (config or --device)")
    check_output_dir(cfg.output, "output folder")
    check_system(cfg.system)
    _teacher(cfg.teacher.spec, "teacher.spec")
    check_sections(cfg)
    ft = cfg.finetune
    if ft is not None and ft.teacher is not None:
        _teacher(ft.teacher, "finetune.teacher")


def check_sections(cfg: Any) -> None:
    """The student and training settings of ``cfg`` (also used by ``compare``)."""
    from lesdistill.pipeline.stages_data import train_config

    _student(cfg.student.preset, dict(cfg.student.options), "student")
    try:
        train_config(cfg)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"training: {exc}") from None
    ft = cfg.finetune
    if ft is not None:
        try:
            train_config(cfg, ft.training)
        except (TypeError, ValueError) as exc:
            raise UserInputError(f"finetune.training: {exc}") from None
        if ft.data is not None and not Path(ft.data).is_file():
            raise not_found("finetune.data", ft.data, "fix the path in the config (relative "
                            "paths are relative to the config file)")
        if ft.fractions:
            _fraction_sizes(cfg)


def _fraction_sizes(cfg: Any) -> None:
    """Every fraction of ``finetune.fractions`` gets its own number of training frames."""
    from lesdistill.pipeline.stages_data import finetune_split_sizes

    ft = cfg.finetune
    if ft.data is not None:
        from lesdistill.data.frames import read_frames

        n = len(read_frames(ft.data, what="finetune.data file"))
    else:
        n = min(ft.n_frames, cfg.sampling.n_frames)
    n_train = finetune_split_sizes(n, ft.test_fraction)[2] if n >= 3 else 0
    try:
        plan_sizes(n_train, ft.fractions)
    except UserInputError as exc:
        raise UserInputError(f"finetune.fractions: {exc}") from None
