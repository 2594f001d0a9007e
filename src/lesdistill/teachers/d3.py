"""``+d3`` add-on: Grimme D3 dispersion (simple-dftd3, ``dftd3`` package) summed onto a teacher.

``"chgnet+d3"`` = CHGNet + D3(BJ) with PBE parameters; ``"<teacher>+d3=<functional>"`` picks the
functional's damping parameters (e.g. ``+d3=pbesol`` for PET-MAD). Extra:
``pip install 'lesdistill[d3]'``. GFN-xTB teachers already contain dispersion and refuse it.
"""

from __future__ import annotations

from dataclasses import replace

from lesdistill.errors import UserInputError
from lesdistill.teachers.base import Teacher, TeacherInfo, missing_packages, require_package

DEFAULT_FUNCTIONAL = "pbe"
DAMPING = "d3bj"


def split_d3(spec: str) -> tuple[str, str | None]:
    """``"chgnet+d3=pbe"`` -> ``("chgnet", "pbe")``; no add-on -> ``(spec, None)``."""
    base, sep, tail = spec.rpartition("+d3")
    if not sep or (tail and not tail.startswith("=")):
        return spec, None
    functional = tail[1:].strip().lower() if tail else DEFAULT_FUNCTIONAL
    if not functional:
        raise UserInputError(f"teacher spec {spec!r}: empty functional after '+d3='; e.g. +d3=pbe")
    if not base:
        raise UserInputError(
            f"teacher spec {spec!r}: '+d3' needs a teacher in front, e.g. chgnet+d3"
        )
    return base, functional


def missing() -> list[str]:
    """What is missing to use the D3 add-on here (empty: usable)."""
    return [f"package {p} (pip install 'lesdistill[d3]')"
            for p in missing_packages([("dftd3", "dftd3")])]


def add_d3(base: Teacher, functional: str, spec: str) -> Teacher:
    """Teacher whose calculator is ``base.calculator`` + D3(BJ) dispersion for ``functional``."""
    if base.info.family == "xtb":
        raise UserInputError(f"{base.name} already includes dispersion (D3/D4); drop '+d3'")
    if base.info.family == "analytic":
        raise UserInputError("analytic teachers are exact model systems; '+d3' is not meaningful")
    require_package("dftd3", "dftd3", "d3", "the +d3 dispersion add-on")
    from ase.calculators.mixing import SumCalculator
    from dftd3.ase import DFTD3
    from dftd3.interface import RationalDampingParam

    try:
        RationalDampingParam(method=functional)  # validates now rather than at the first step
    except RuntimeError:
        raise UserInputError(
            f"D3: no {DAMPING} parameters for functional {functional!r}; e.g. +d3=pbe, +d3=pbesol"
        ) from None
    d3 = DFTD3(method=functional, damping=DAMPING)
    info: TeacherInfo = replace(
        base.info,
        level_of_theory=f"{base.info.level_of_theory} + D3(BJ, {functional} parameters)",
        notes=(base.info.notes + "; " if base.info.notes else "") + "dispersion by simple-dftd3",
    )
    return Teacher(name=spec, info=info, calculator=SumCalculator([base.calculator, d3]),
                   device=base.device)
