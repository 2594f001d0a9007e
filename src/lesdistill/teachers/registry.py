"""Teacher registry: spec string -> adapter, and the ``lesdistill teachers`` tables.

Spec grammar::

    NAME                  chgnet | sevennet | xtb-gfn1 | xtb-gfn2 | analytic-<model>
    FAMILY:PATH[@option][,key=value...]
                          mace:PATH | uma:PATH[@task] | esen:PATH[@task] | orb:PATH[@arch]
                          | pet:PATH | mattersim:PATH
    ase:pkg.module:Factory
    env:PYTHON@SPEC       SPEC served by another Python environment (socket teacher)
    <any of the above>+d3[=functional]

Every family is one :class:`~lesdistill.teachers.adapter.TeacherAdapter` in :data:`ADAPTERS`;
every spec goes through :func:`resolve` and the adapter's ``info``/``missing``/``build``. Adapter
modules import their heavy packages only in ``load``, so listing teachers never imports a model.
"""

from __future__ import annotations

from dataclasses import replace

from lesdistill.errors import UserInputError
from lesdistill.teachers import (
    analytic,
    ase_factory,
    chgnet,
    fairchem,
    mace,
    mattersim,
    orb,
    pet,
    sevennet,
    socket_teacher,
    xtb,
)
from lesdistill.teachers.adapter import FamilyStatus, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import Teacher, TeacherStatus
from lesdistill.teachers.d3 import add_d3, split_d3
from lesdistill.teachers.d3 import missing as d3_missing

#: one adapter per family, in the order of ``lesdistill teachers``
ADAPTERS: tuple[TeacherAdapter, ...] = (
    chgnet.ADAPTER, sevennet.ADAPTER, xtb.ADAPTER, analytic.ADAPTER, fairchem.UMA, fairchem.ESEN,
    mace.ADAPTER, orb.ADAPTER, pet.ADAPTER, mattersim.ADAPTER, ase_factory.ADAPTER,
    socket_teacher.ADAPTER,
)
_BY_NAME = {name: a for a in ADAPTERS for name in a.names}
_BY_PREFIX = {prefix: a for a in ADAPTERS for prefix in a.prefixes}


def _known() -> str:
    return ", ".join(a.example() if not a.names else ", ".join(a.names) for a in ADAPTERS)


def resolve(spec: str) -> tuple[TeacherAdapter, TeacherSpec]:
    """The adapter and parsed spec of ``spec`` (no ``+d3``); ValueError for an unknown teacher."""
    spec = spec.strip()
    if spec in _BY_NAME:
        return _BY_NAME[spec], TeacherSpec(text=spec, key=spec)
    prefix, sep, arg = spec.partition(":")
    if sep and prefix in _BY_PREFIX:
        return _BY_PREFIX[prefix], TeacherSpec(text=spec, key=prefix, arg=arg)
    if spec.startswith("analytic-"):
        known = ", ".join(analytic.ADAPTER.names)
        raise UserInputError(f"unknown analytic teacher {spec!r}; known: {known}")
    raise UserInputError(f"unknown teacher {spec!r}; known: {_known()}")


def _d3_conflict(adapter: TeacherAdapter) -> str | None:
    """Why ``+d3`` cannot be added to this family (None: it can); checked before any loading."""
    if adapter.family == "xtb":
        return "GFN-xTB already includes dispersion (D3/D4); drop '+d3'"
    if adapter.family == "analytic":
        return "analytic teachers are exact model systems; '+d3' is not meaningful, drop it"
    return None


def get_teacher(spec: str, *, device: str = "cpu") -> Teacher:
    """Build the teacher named by ``spec`` on ``device`` (see the module docstring for specs).

    Raises ValueError (unknown spec or option), FileNotFoundError (missing checkpoint, checked
    first) or :class:`lesdistill.errors.MissingDependencyError` (missing package, naming the
    install line).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError("teacher spec must be a non-empty string, e.g. 'chgnet'")
    base_spec, functional = split_d3(spec.strip())
    adapter, parsed = resolve(base_spec)
    conflict = _d3_conflict(adapter) if functional is not None else None
    if conflict is not None:
        raise UserInputError(f"teacher {spec.strip()!r}: {conflict}")
    teacher = adapter.build(parsed, device)
    if functional is not None:
        teacher = add_d3(teacher, functional, spec.strip())
    return teacher


def teacher_status(spec: str) -> TeacherStatus:
    """Is ``spec`` usable here (packages, checkpoint file)? Nothing heavy is imported."""
    base_spec, functional = split_d3(spec.strip())
    adapter, parsed = resolve(base_spec)
    try:
        adapter.validate(parsed)
        reasons: list[str] = []
    except (ValueError, FileNotFoundError) as exc:
        reasons = [str(exc)]
    reasons += [r for r in adapter.missing(parsed) if r not in reasons]
    info = adapter.info(parsed)
    if functional is not None:
        conflict = _d3_conflict(adapter)
        reasons += d3_missing() + ([conflict] if conflict else [])
        info = replace(info, level_of_theory=f"{info.level_of_theory} + D3(BJ, {functional})")
    return TeacherStatus(name=spec, usable=not reasons, reason="; ".join(reasons), info=info)


def list_teachers() -> list[TeacherStatus]:
    """Every known teacher with whether it is usable here and, if not, exactly what is missing.

    Checkpoint families are listed as ``family:PATH``; they need a file the user passes, so they
    are never "usable" without one (check a concrete spec with :func:`teacher_status`).
    """
    rows: list[TeacherStatus] = []
    for adapter in ADAPTERS:
        if adapter.names:
            rows += [teacher_status(name) for name in adapter.names]
            if adapter is chgnet.ADAPTER:
                rows.append(teacher_status("chgnet+d3"))
            continue
        for prefix in adapter.prefixes:
            parsed = TeacherSpec(text=f"{prefix}:", key=prefix)
            reasons = adapter.missing(parsed)
            name = adapter.example() if prefix == adapter.prefixes[0] else f"{prefix}:PATH"
            rows.append(TeacherStatus(name=name, usable=not adapter.needs_file and not reasons,
                                      reason="; ".join(reasons), info=adapter.info(parsed)))
    return rows


def family_statuses() -> list[FamilyStatus]:
    """Per family: package versions found, usable, checkpoint formats, the install line."""
    seen: set[str] = set()
    out = []
    for adapter in ADAPTERS:
        row = adapter.family_status()
        if row.family not in seen:
            seen.add(row.family)
            out.append(row)
    return out
