"""Teachers: foundation models (and analytic models) that label frames for distillation.

    get_teacher(spec, *, device="cpu") -> Teacher
    list_teachers() -> list[TeacherStatus]

Specs: ``chgnet``, ``sevennet``, ``xtb-gfn1``, ``xtb-gfn2``, ``<teacher>+d3``, ``mace:PATH``,
``uma:PATH[@task]``, ``esen:PATH[@task]``, ``orb:PATH``, ``pet:PATH``, ``mattersim:PATH``,
``ase:pkg.module:Factory``, ``analytic-<name>``. Heavy packages are imported only when a teacher
is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lesdistill.teachers.base import Teacher, TeacherInfo, TeacherStatus

if TYPE_CHECKING:  # the lazy exports below, for type checkers and IDEs
    from lesdistill.teachers.registry import get_teacher, list_teachers

__all__ = ["Teacher", "TeacherInfo", "TeacherStatus", "get_teacher", "list_teachers"]


def __getattr__(name: str) -> Any:
    if name in ("get_teacher", "list_teachers"):
        from lesdistill.teachers import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'lesdistill.teachers' has no attribute {name!r}")
