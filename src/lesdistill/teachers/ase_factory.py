"""Any ASE calculator a user has: ``ase:package.module:Factory``.

``Factory`` is called with no arguments (or ``device=...`` if it accepts that keyword) and must
return an ASE calculator (a class or a function). Metadata is unknown, so elements are not checked.
"""

from __future__ import annotations

import importlib
import inspect
import re

from lesdistill.teachers.base import Teacher, TeacherInfo, has_module
from lesdistill.errors import UserInputError


_SPEC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _split(arg: str) -> tuple[str, str]:
    module, sep, attr = arg.rpartition(":")
    if not sep or not _SPEC.fullmatch(module) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", attr):
        raise UserInputError(f"ase teacher: expected 'ase:package.module:Factory', got 'ase:{arg}'")
    return module, attr


def info(arg: str = "") -> TeacherInfo:
    """Metadata: only the factory's name is known."""
    return TeacherInfo(
        family="ase",
        architecture=f"user ASE calculator {arg}",
        training_data="unknown (user calculator)",
        level_of_theory="unknown (user calculator)",
        elements=None,
        periodic=True,
        open=True,
    )


def missing(arg: str = "") -> list[str]:
    """What is missing (module not importable / no such attribute); empty if usable."""
    try:
        module, attr = _split(arg)
    except ValueError as exc:
        return [str(exc)]
    if not has_module(module):
        return [f"module {module}"]
    return []


def make(spec: str, arg: str, device: str = "cpu") -> Teacher:
    """Import ``package.module``, call ``Factory`` and check it returned an ASE calculator."""
    from ase.calculators.calculator import BaseCalculator

    module_name, attr = _split(arg)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserInputError(f"ase teacher: cannot import module {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UserInputError(f"ase teacher: module {module_name!r} has no callable {attr!r}")
    try:
        accepts_device = "device" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_device = False
    calc = factory(device=device) if accepts_device else factory()
    if not isinstance(calc, BaseCalculator):
        raise UserInputError(f"ase teacher: {arg} returned {type(calc).__name__}, not an ASE calculator")
    return Teacher(name=spec, info=info(arg), calculator=calc, device=device)
