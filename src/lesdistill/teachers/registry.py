"""Teacher registry: spec string -> adapter, and the ``lesdistill teachers`` status table.

Spec grammar::

    NAME                  chgnet | sevennet | xtb-gfn1 | xtb-gfn2 | analytic-<model>
    FAMILY:PATH[@option]  mace:PATH | uma:PATH[@task] | esen:PATH[@task] | orb:PATH[@arch]
                          | pet:PATH | mattersim:PATH
    ase:pkg.module:Factory
    <any of the above>+d3[=functional]

Adapters are imported only when needed, so listing teachers never imports torch models.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lesdistill.errors import UserInputError
from lesdistill.teachers.base import Teacher, TeacherInfo, TeacherStatus

#: Teachers that need no file: name -> adapter module (under lesdistill.teachers).
NAMED: dict[str, str] = {
    "chgnet": "chgnet",
    "sevennet": "sevennet",
    "xtb-gfn1": "xtb",
    "xtb-gfn2": "xtb",
}
#: Teachers given by a prefix and an argument (usually a checkpoint path).
PREFIXED: dict[str, str] = {
    "mace": "mace",
    "uma": "fairchem",
    "esen": "fairchem",
    "orb": "orb",
    "pet": "pet",
    "mattersim": "mattersim",
    "ase": "ase_factory",
}
_FAMILY_ARG = {"uma", "esen"}  # fairchem adapter functions take family=


def _adapter(name: str) -> ModuleType:
    return importlib.import_module(f"lesdistill.teachers.{name}")


def _known() -> str:
    from lesdistill.teachers.analytic import ANALYTIC_MODELS

    names = [*NAMED, *(f"analytic-{k}" for k in ANALYTIC_MODELS), *(f"{p}:PATH" for p in PREFIXED)]
    return ", ".join(n.replace("ase:PATH", "ase:pkg.module:Factory") for n in names)


def _parse(spec: str) -> tuple[str, str, str]:
    """``spec`` -> (kind, key, arg) with kind in named/analytic/prefixed."""
    spec = spec.strip()
    if spec in NAMED:
        return "named", spec, ""
    if spec.startswith("analytic-"):
        return "analytic", spec, ""
    prefix, sep, arg = spec.partition(":")
    if sep and prefix in PREFIXED:
        return "prefixed", prefix, arg
    raise UserInputError(f"unknown teacher {spec!r}; known: {_known()}")


def _info_and_missing(kind: str, key: str, arg: str) -> tuple[TeacherInfo | None, list[str]]:
    if kind == "analytic":
        from lesdistill.teachers.analytic import ANALYTIC_MODELS, analytic_info

        name = key.split("-", 1)[1]
        if name not in ANALYTIC_MODELS:
            raise UserInputError(f"unknown teacher {key!r}; known: {_known()}")
        return analytic_info(ANALYTIC_MODELS[name]), []
    module = _adapter(NAMED[key] if kind == "named" else PREFIXED[key])
    if key in ("xtb-gfn1", "xtb-gfn2"):
        return module.info(arg, key), module.missing(arg)
    if key in _FAMILY_ARG:
        return module.info(arg, key), module.missing(arg)
    return module.info(arg), module.missing(arg)


def _d3_conflict(kind: str, key: str) -> str | None:
    """Why ``+d3`` cannot be added to this teacher (None: it can). One rule for
    :func:`teacher_status` (``teachers --check``) and :func:`get_teacher` (``label``, ``sample``)."""
    if key in ("xtb-gfn1", "xtb-gfn2"):
        return f"{key} already includes dispersion (D3/D4); drop '+d3'"
    if kind == "analytic":
        return "analytic teachers are exact model systems; '+d3' is not meaningful, drop it"
    return None


def get_teacher(spec: str, *, device: str = "cpu") -> Teacher:
    """Build the teacher named by ``spec`` on ``device`` (see the module docstring for specs).

    Raises ValueError (unknown spec), FileNotFoundError (missing checkpoint, checked first) or
    :class:`lesdistill.errors.MissingDependencyError` (missing package, naming the pip extra).
    """
    from lesdistill.teachers.d3 import add_d3, split_d3

    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError("teacher spec must be a non-empty string, e.g. 'chgnet'")
    base_spec, functional = split_d3(spec.strip())
    kind, key, arg = _parse(base_spec)
    conflict = _d3_conflict(kind, key) if functional is not None else None
    if conflict is not None:
        raise UserInputError(f"teacher {spec.strip()!r}: {conflict}")
    if kind == "analytic":
        from lesdistill.teachers.analytic import make_analytic_teacher

        teacher = make_analytic_teacher(base_spec, device=device)
    elif kind == "named":
        teacher = _adapter(NAMED[key]).make(base_spec, arg, device)
    elif key in _FAMILY_ARG:
        teacher = _adapter(PREFIXED[key]).make(base_spec, arg, device, family=key)
    else:
        teacher = _adapter(PREFIXED[key]).make(base_spec, arg, device)
    if functional is not None:
        teacher = add_d3(teacher, functional, spec.strip())
    return teacher


def teacher_status(spec: str) -> TeacherStatus:
    """Is ``spec`` usable here (packages, checkpoint file)? Nothing heavy is imported."""
    from lesdistill.teachers.d3 import missing as d3_missing
    from lesdistill.teachers.d3 import split_d3

    base_spec, functional = split_d3(spec.strip())
    kind, key, arg = _parse(base_spec)
    info, reasons = _info_and_missing(kind, key, arg)
    if functional is not None:
        conflict = _d3_conflict(kind, key)
        reasons = reasons + d3_missing() + ([conflict] if conflict else [])
        if info is not None:
            from dataclasses import replace

            info = replace(info, level_of_theory=f"{info.level_of_theory} + D3(BJ, {functional})")
    return TeacherStatus(name=spec, usable=not reasons, reason="; ".join(reasons), info=info)


def list_teachers() -> list[TeacherStatus]:
    """Every known teacher with whether it is usable here and, if not, exactly what is missing.

    Checkpoint families are listed as ``family:PATH``; they need a file the user passes, so they
    are never "usable" without one (check a concrete spec with :func:`teacher_status`).
    """
    from lesdistill.teachers.analytic import ANALYTIC_MODELS

    rows = [teacher_status(name) for name in NAMED]
    rows.append(teacher_status("chgnet+d3"))
    rows += [teacher_status(f"analytic-{k}") for k in ANALYTIC_MODELS]
    for prefix in PREFIXED:
        if prefix == "ase":
            rows.append(TeacherStatus(
                name="ase:pkg.module:Factory", usable=True,
                reason="any importable ASE calculator factory", info=_adapter("ase_factory").info("")))
            continue
        info, reasons = _info_and_missing("prefixed", prefix, "")
        rows.append(TeacherStatus(name=f"{prefix}:PATH", usable=False,
                                  reason="; ".join(reasons), info=info))
    return rows
