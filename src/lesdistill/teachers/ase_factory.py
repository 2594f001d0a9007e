"""Any ASE calculator a user has: ``ase:package.module:Factory``.

``Factory`` is called with no arguments (or ``device=...`` if it accepts that keyword) and must
return an ASE calculator (a class or a function). Metadata is unknown, so elements are not checked.
This names code to run: configs loaded from a file need an explicit opt-in for it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from lesdistill.errors import UserInputError
from lesdistill.teachers.adapter import TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import TeacherInfo, has_module

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


def _split(arg: str) -> tuple[str, str]:
    module, sep, attr = arg.rpartition(":")
    if not sep or not module or not attr:
        raise UserInputError(f"ase teacher: expected 'ase:package.module:Factory', got 'ase:{arg}'")
    return module, attr


class ASEFactoryAdapter(TeacherAdapter):
    family = "ase"
    prefixes = ("ase",)
    formats = "none: a Python factory returning an ASE calculator"

    def example(self) -> str:
        return "ase:pkg.module:Factory"

    def validate(self, spec: TeacherSpec) -> None:
        _split(spec.arg)

    def info(self, spec: TeacherSpec) -> TeacherInfo:
        return TeacherInfo(
            family="ase",
            architecture=f"user ASE calculator {spec.arg}",
            training_data="unknown (user calculator)",
            level_of_theory="unknown (user calculator)",
            elements=None,
            periodic=True,
            open=True,
        )

    def missing(self, spec: TeacherSpec) -> list[str]:
        """The module must be importable; an empty ``arg`` (the listing row) needs nothing."""
        if not spec.arg:
            return []
        try:
            module, _ = _split(spec.arg)
        except ValueError as exc:
            return [str(exc)]
        return [] if has_module(module) else [f"module {module}"]

    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        """Import ``package.module``, call ``Factory`` and check it returned an ASE calculator."""
        from ase.calculators.calculator import BaseCalculator

        module_name, attr = _split(spec.arg)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UserInputError(
                f"ase teacher: cannot import module {module_name!r}: {exc}"
            ) from None
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            raise UserInputError(f"ase teacher: module {module_name!r} has no callable {attr!r}")
        try:
            accepts_device = "device" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            accepts_device = False
        calc = factory(device=device) if accepts_device else factory()
        if not isinstance(calc, BaseCalculator):
            raise UserInputError(f"ase teacher: {spec.arg} returned {type(calc).__name__}, "
                            "not an ASE calculator")
        return calc


ADAPTER = ASEFactoryAdapter()
