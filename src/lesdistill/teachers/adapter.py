"""The one interface every teacher family implements: :class:`TeacherAdapter`.

An adapter turns a parsed spec (:class:`TeacherSpec`) into a
:class:`~lesdistill.teachers.base.Teacher` and says, without importing any heavy package, what the
teacher is (:meth:`TeacherAdapter.info`), what is missing to use it here
(:meth:`TeacherAdapter.missing`) and how its family is installed (:attr:`TeacherAdapter.packages`,
:meth:`TeacherAdapter.family_status`). The registry holds one instance per family and dispatches
every spec through the same four calls; the conformance check
:func:`lesdistill.teachers.conformance.check_adapter` is what every adapter passes in the tests.

Subclasses set the class attributes and implement :meth:`info` and :meth:`load` (the only place a
family's package is imported). Checkpoint families set ``needs_file = True``: the file is then
checked before the package, and named first in every error.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lesdistill.errors import MissingDependencyError, UserInputError
from lesdistill.teachers.base import (
    Teacher,
    TeacherInfo,
    has_module,
    offline_environment,
    parse_arg,
    require_file,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


@dataclass(frozen=True)
class TeacherSpec:
    """A parsed teacher spec (without a ``+d3`` add-on).

    ``text`` is the spec as given (``"uma:/m/uma.pt@omol"``), ``key`` the name or prefix that
    selected the adapter (``"uma"``), ``arg`` what follows ``prefix:`` (``""`` for named teachers).
    ``path``, ``option`` and ``options`` split ``arg`` as :func:`parse_arg` does:
    ``PATH[@main][,key=value...]``, e.g. ``uma:/m/uma.pt@omol,compile=true``.
    """

    text: str
    key: str
    arg: str = ""

    @property
    def path(self) -> str:
        return parse_arg(self.arg)[0]

    @property
    def option(self) -> str | None:
        return parse_arg(self.arg)[1]

    @property
    def options(self) -> dict[str, str]:
        return parse_arg(self.arg)[2]

    def check_options(self, known: dict[str, str]) -> None:
        """ValueError naming the unknown ``key=value`` options; ``known``: key -> meaning."""
        bad = sorted(set(self.options) - set(known))
        if bad:
            allowed = "; ".join(f"{k}: {v}" for k, v in known.items()) or "none"
            raise UserInputError(f"teacher {self.text!r}: unknown option(s) {', '.join(bad)}; "
                             f"options of {self.key}: {allowed}")

    def flag(self, name: str, default: bool) -> bool:
        """Boolean option ``name=true|false`` (``name`` alone means true)."""
        value = self.options.get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise UserInputError(
            f"teacher {self.text!r}: option {name} must be true or false, got {value!r}"
        )


@dataclass(frozen=True)
class Package:
    """A Python package a family needs: import ``module``, PyPI ``name``, ``tested`` version.

    ``install`` is the pip line known to work beside ``torch==2.13.0`` on Python 3.11 (what
    ``lesdistill teachers`` prints); ``extra`` the lesdistill pip extra, if there is one.
    """

    module: str
    name: str
    tested: str
    install: str
    extra: str | None = None

    def version(self) -> str | None:
        """Installed version (distribution metadata; nothing is imported), None if absent."""
        if not has_module(self.module):
            return None
        try:
            return importlib.metadata.version(self.name)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    def hint(self) -> str:
        return f"package {self.name} ({self.install})"


@dataclass(frozen=True)
class FamilyStatus:
    """One family line of ``lesdistill teachers``: package versions found, formats, install line."""

    family: str
    specs: str
    usable: bool
    versions: dict[str, str | None]
    formats: str
    install: str
    notes: str = ""


class TeacherAdapter(ABC):
    """Base class of the teacher families (one instance per family in the registry)."""

    #: family name (``TeacherInfo.family`` of the teachers it builds)
    family: ClassVar[str]
    #: spec names that need no argument (``"chgnet"``)
    names: ClassVar[tuple[str, ...]] = ()
    #: spec prefixes taking an argument (``"mace"`` for ``mace:PATH``)
    prefixes: ClassVar[tuple[str, ...]] = ()
    #: packages the family imports in :meth:`load`, all required
    packages: ClassVar[tuple[Package, ...]] = ()
    #: local files the family loads (``"none: weights ship in the wheel"`` for embedded ones)
    formats: ClassVar[str] = "none: the weights ship inside the package"
    #: the spec's ``arg`` is a checkpoint path (checked before the packages)
    needs_file: ClassVar[bool] = False
    #: one line on the family for ``lesdistill teachers`` (e.g. why it runs in its own env)
    notes: ClassVar[str] = ""

    # ---- what every adapter implements --------------------------------------------------
    @abstractmethod
    def info(self, spec: TeacherSpec) -> TeacherInfo:
        """Metadata of ``spec`` without loading anything heavy."""

    @abstractmethod
    def load(self, spec: TeacherSpec, device: str) -> Calculator:
        """Import the family's package and return the ASE calculator for ``spec``."""

    # ---- shared behaviour (override only with reason) -----------------------------------
    def validate(self, spec: TeacherSpec) -> None:  # noqa: B027 (a no-op unless overridden)
        """Cheap checks of the spec's options (ValueError with a fix), before any file or import."""

    def loaded_info(self, spec: TeacherSpec, calc: Calculator) -> TeacherInfo:
        """Metadata once the model is loaded (e.g. the task a checkpoint actually has)."""
        return self.info(spec)

    def example(self) -> str:
        """The spec shown in listings (``mace:PATH``)."""
        if self.names:
            return self.names[0]
        return f"{self.prefixes[0]}:PATH"

    def missing(self, spec: TeacherSpec) -> list[str]:
        """What is missing to use ``spec`` here: the checkpoint first, then packages."""
        reasons: list[str] = []
        if self.needs_file:
            if not spec.path:
                reasons.append(f"a checkpoint path (use the form {spec.key}:PATH)")
            elif not Path(spec.path).expanduser().exists():
                reasons.append(f"checkpoint file {spec.path}")
        reasons += [p.hint() for p in self.packages if not has_module(p.module)]
        return reasons

    def require_packages(self) -> None:
        """MissingDependencyError naming the install line if a package cannot be imported."""
        for pkg in self.packages:
            if not has_module(pkg.module):
                raise MissingDependencyError(pkg.name, pkg.extra,
                                             f"the {self.family} teacher; tested: {pkg.install}")

    def checkpoint(self, spec: TeacherSpec) -> Path:
        """The spec's checkpoint file (FileNotFoundError naming it if absent)."""
        return require_file(spec.path, f"{self.family} teacher")

    def build(self, spec: TeacherSpec, device: str = "cpu") -> Teacher:
        """Validate, check the file, then the packages, then load: the one way teachers are made."""
        self.validate(spec)
        if self.needs_file:
            self.checkpoint(spec)
        self.require_packages()
        offline_environment()
        calc = self.load(spec, device)
        return Teacher(name=spec.text, info=self.loaded_info(spec, calc), calculator=calc,
                       device=device)

    def family_status(self) -> FamilyStatus:
        """Versions found, usable (packages importable), formats and the install line."""
        versions = {p.name: p.version() for p in self.packages}
        install = "; ".join(dict.fromkeys(p.install for p in self.packages)) or "built in"
        specs = ", ".join(self.names) if self.names else self.example()
        return FamilyStatus(family=self.family, specs=specs,
                            usable=all(v is not None for v in versions.values()),
                            versions=versions, formats=self.formats, install=install,
                            notes=self.notes)
