"""Checks every teacher adapter must pass (the contract of :class:`TeacherAdapter`).

    check_adapter(adapter)                     # metadata, errors, listing: needs no package
    check_teacher(teacher, atoms)              # a built teacher labels ``atoms`` correctly

:func:`check_adapter` verifies what the registry relies on for every family without loading a
model: the class attributes, that ``info`` is complete and cheap, that ``missing`` returns the
reasons as strings, that a checkpoint family names an absent file first (both in ``missing`` and
as a ``FileNotFoundError`` from ``build``, before any package import) and that the family's
install line and formats are stated. :func:`check_teacher` labels a structure with a built
teacher and checks the label contract: a finite float energy (eV), finite forces of shape (N, 3)
(eV/Å), a Voigt stress of shape (6,) (eV/Å^3) for periodic cells, and (``conservative=True``)
forces equal to minus the finite-difference gradient of the energy. The tests run both on every
adapter, and show that each check fails on a deliberately broken one.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lesdistill.teachers.adapter import FamilyStatus, Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.base import Teacher, TeacherInfo

if TYPE_CHECKING:
    from ase import Atoms


class ConformanceError(AssertionError):
    """An adapter or teacher breaks the teacher contract; the message says which rule."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def _spec_for(adapter: TeacherAdapter, path: str = "") -> TeacherSpec:
    if adapter.names:
        return TeacherSpec(text=adapter.names[0], key=adapter.names[0])
    prefix = adapter.prefixes[0]
    return TeacherSpec(text=f"{prefix}:{path}", key=prefix, arg=path)


def check_adapter(adapter: TeacherAdapter) -> None:
    """Raise :class:`ConformanceError` if ``adapter`` breaks the adapter contract (no model
    loaded)."""
    name = type(adapter).__name__
    _require(isinstance(adapter, TeacherAdapter), f"{name} is not a TeacherAdapter")
    _require(isinstance(getattr(adapter, "family", None), str) and bool(adapter.family),
             f"{name}: family must be a non-empty string")
    _require(bool(adapter.names) != bool(adapter.prefixes),
             f"{name}: exactly one of names / prefixes must be set")
    _require(all(isinstance(p, Package) for p in adapter.packages),
             f"{name}: packages must be Package records")
    _require(all(p.install.strip() for p in adapter.packages),
             f"{name}: every package needs the install line that works")
    _require(isinstance(adapter.formats, str) and bool(adapter.formats.strip()),
             f"{name}: formats must say which local files it loads (or 'none: ...')")
    _require(not (adapter.needs_file and adapter.names),
             f"{name}: a checkpoint family is used as prefix:PATH, not by name")
    _require(isinstance(adapter.example(), str) and bool(adapter.example()),
             f"{name}: example() must return a spec")

    specs = [TeacherSpec(text=n, key=n) for n in adapter.names] or [_spec_for(adapter)]
    for spec in specs:
        info = adapter.info(spec)
        _require(isinstance(info, TeacherInfo), f"{name}.info must return a TeacherInfo")
        _require(info.family == adapter.family or adapter.family == "socket",
                 f"{name}.info: family {info.family!r} differs from {adapter.family!r}")
        for field_name in ("architecture", "training_data", "level_of_theory"):
            value = getattr(info, field_name)
            _require(isinstance(value, str) and bool(value.strip()),
                     f"{name}.info: {field_name} must be a non-empty string")
        _require(info.elements is None or all(isinstance(e, str) for e in info.elements),
                 f"{name}.info: elements must be None or chemical symbols")
        _require(info.periodic or info.open, f"{name}.info: handles neither periodic nor open")
        reasons = adapter.missing(spec)
        _require(isinstance(reasons, list) and all(isinstance(r, str) and r for r in reasons),
                 f"{name}.missing must return a list of non-empty strings")

    if adapter.needs_file:
        with tempfile.TemporaryDirectory() as tmp:
            absent = str(Path(tmp) / "absent-checkpoint.file")
            spec = _spec_for(adapter, absent)
            reasons = adapter.missing(spec)
            _require(bool(reasons) and reasons[0].startswith("checkpoint file")
                     and absent in reasons[0],
                     f"{name}.missing must name an absent checkpoint file first, got {reasons}")
            try:
                adapter.build(spec)
            except FileNotFoundError as exc:
                _require(absent in str(exc), f"{name}.build: the error must name the file: {exc}")
            except Exception as exc:  # noqa: BLE001 - any other type breaks the contract
                raise ConformanceError(f"{name}.build with an absent file must raise "
                                       f"FileNotFoundError first, got {type(exc).__name__}: {exc}"
                                       ) from exc
            else:
                raise ConformanceError(f"{name}.build accepted an absent checkpoint file")

    status = adapter.family_status()
    _require(isinstance(status, FamilyStatus), f"{name}.family_status must return a FamilyStatus")
    _require(status.family == adapter.family, f"{name}.family_status: wrong family")
    _require(bool(status.install.strip()), f"{name}.family_status: no install line")
    _require(set(status.versions) == {p.name for p in adapter.packages},
             f"{name}.family_status: versions must list every package")
    _require(status.usable == all(v is not None for v in status.versions.values()),
             f"{name}.family_status: usable must mean every package is found")


def check_teacher(teacher: Teacher, atoms: Atoms, *, conservative: bool = True,
                  step_A: float = 1e-3, force_tol: float = 0.05) -> dict[str, object]:
    """Label ``atoms`` with ``teacher`` and check the label contract; returns the labels.

    ``conservative``: also compare one force component with the central finite difference of
    the energy (step ``step_A`` Å); the tolerance is ``force_tol`` eV/Å plus 2% of the component
    (float32 models). Direct-force models (Orb direct) pass ``conservative=False``.
    """
    _require(isinstance(teacher.info, TeacherInfo), "teacher.info must be a TeacherInfo")
    positions, calc = atoms.positions.copy(), atoms.calc
    labels = teacher.label(atoms)
    _require(np.array_equal(atoms.positions, positions) and atoms.calc is calc,
             f"teacher {teacher.name!r}: label() modified the input structure")
    energy = labels.get("energy")
    _require(isinstance(energy, float) and math.isfinite(energy),
             f"teacher {teacher.name!r}: energy must be a finite float (eV), got {energy!r}")
    forces = np.asarray(labels.get("forces"))
    _require(forces.shape == (len(atoms), 3) and bool(np.all(np.isfinite(forces))),
             f"teacher {teacher.name!r}: forces must be finite with shape ({len(atoms)}, 3), "
             f"got {forces.shape}")
    if atoms.pbc.all():
        stress = np.asarray(labels.get("stress"))
        _require(stress.shape == (6,) and bool(np.all(np.isfinite(stress))),
                 f"teacher {teacher.name!r}: periodic cells need a finite Voigt stress (6,)")
    else:
        _require("stress" not in labels, f"teacher {teacher.name!r}: stress for an open structure")
    if conservative:
        i = int(np.argmax(np.linalg.norm(forces, axis=1)))
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, 0] += step_A
        minus.positions[i, 0] -= step_A
        fd = -(float(teacher.label(plus)["energy"]) - float(teacher.label(minus)["energy"])) \
            / (2 * step_A)
        _require(abs(fd - forces[i, 0]) <= force_tol + 0.02 * abs(fd),
                 f"teacher {teacher.name!r}: force {forces[i, 0]:.5f} eV/A differs from the "
                 f"finite difference of the energy {fd:.5f} eV/A")
    return labels
