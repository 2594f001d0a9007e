"""Every teacher adapter passes the conformance checks; each check fails on a broken adapter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk, molecule

from lesdistill.teachers import get_teacher
from lesdistill.teachers.adapter import Package, TeacherAdapter, TeacherSpec
from lesdistill.teachers.analytic import AnalyticAdapter
from lesdistill.teachers.base import Teacher, parse_arg
from lesdistill.teachers.conformance import ConformanceError, check_adapter, check_teacher
from lesdistill.teachers.mace import MACEAdapter
from lesdistill.teachers.registry import ADAPTERS, family_statuses, resolve


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.family)
def test_every_adapter_conforms(adapter: TeacherAdapter) -> None:
    check_adapter(adapter)


def test_every_spec_prefix_and_name_has_one_adapter() -> None:
    keys = [k for a in ADAPTERS for k in (*a.names, *a.prefixes)]
    assert len(keys) == len(set(keys))
    assert resolve("uma:/m/u.pt@omol")[0].family == "uma"
    assert resolve("env:/usr/bin/python3@mace:/m.model")[0].family == "socket"
    with pytest.raises(ValueError, match="unknown teacher 'nope:x'"):
        resolve("nope:x")


def test_family_statuses_state_versions_formats_install() -> None:
    rows = {r.family: r for r in family_statuses()}
    for family in ("chgnet", "uma", "esen", "mace", "orb", "pet", "mattersim"):
        assert family in rows and rows[family].install and rows[family].formats
    assert rows["chgnet"].usable and rows["chgnet"].versions["chgnet"]
    assert "torchvision" in rows["mattersim"].install
    assert "env:" in rows["mace"].install


def test_parse_arg_options() -> None:
    assert parse_arg("/m/uma.pt@omol,compile=true,refs=/r/refs.yaml") == (
        "/m/uma.pt", "omol", {"compile": "true", "refs": "/r/refs.yaml"})
    assert parse_arg("/m/orb.ckpt@orb-v3-direct-20-mpa") == ("/m/orb.ckpt", "orb-v3-direct-20-mpa",
                                                            {})
    assert parse_arg("/m/with@at/uma.pt") == ("/m/with@at/uma.pt", None, {})
    assert parse_arg("/m/uma@v2.pt") == ("/m/uma@v2.pt", None, {})
    spec = TeacherSpec(text="mace:/m@dtype=float16,bogus", key="mace", arg="/m@dtype=float16,bogus")
    with pytest.raises(ValueError, match="unknown option.*bogus"):
        MACEAdapter().validate(spec)


# ---- each check can fail ------------------------------------------------------------------

class _NoLevel(AnalyticAdapter):
    def info(self, spec):  # type: ignore[no-untyped-def]
        return replace(super().info(spec), level_of_theory="")


class _NoFileCheck(MACEAdapter):
    """Claims a checkpoint but loads without looking at the file first."""

    def build(self, spec, device="cpu"):  # type: ignore[no-untyped-def]
        raise RuntimeError("tried to import mace before checking the file")


class _BadMissing(MACEAdapter):
    def missing(self, spec):  # type: ignore[no-untyped-def]
        return ["package mace-torch"]  # forgets the file


class _NoInstallLine(MACEAdapter):
    packages = (Package("mace", "mace-torch", "0.3.16", " "),)


class _BothKinds(AnalyticAdapter):
    prefixes = ("analytic",)


@pytest.mark.parametrize("broken, rule", [
    (_NoLevel(), "level_of_theory"),
    (_NoFileCheck(), "FileNotFoundError first"),
    (_BadMissing(), "absent checkpoint file first"),
    (_NoInstallLine(), "install line"),
    (_BothKinds(), "exactly one of names / prefixes"),
])
def test_check_adapter_fails_on_broken_adapters(broken: TeacherAdapter, rule: str) -> None:
    with pytest.raises(ConformanceError, match=rule):
        check_adapter(broken)


def test_check_teacher_on_real_teachers(nacl) -> None:
    atoms = nacl.copy()
    atoms.rattle(0.05, seed=3)
    check_teacher(get_teacher("analytic-ionic"), atoms)
    water = molecule("H2O")
    water.rattle(0.02, seed=1)
    check_teacher(get_teacher("xtb-gfn1"), water, force_tol=2e-3)


def test_check_teacher_fails_on_wrong_forces_and_missing_stress(nacl) -> None:
    from ase.calculators.calculator import Calculator, all_changes

    good = get_teacher("analytic-ionic")

    class _FlippedForces(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=None, system_changes=all_changes):  # type: ignore[no-untyped-def]
            super().calculate(atoms, properties, system_changes)
            good.calculator.calculate(atoms, ["energy", "forces", "stress"], all_changes)
            self.results = dict(good.calculator.results)
            self.results["forces"] = -self.results["forces"]

    atoms = nacl.copy()
    atoms.rattle(0.05, seed=3)
    flipped = Teacher(name="flipped", info=good.info, calculator=_FlippedForces())
    with pytest.raises(ConformanceError, match="finite difference"):
        check_teacher(flipped, atoms)

    class _NoStress(Teacher):
        def label(self, atoms):  # type: ignore[no-untyped-def]
            out = super().label(atoms)
            out.pop("stress")
            return out

    no_stress = _NoStress(name="no-stress", info=good.info, calculator=good.calculator)
    with pytest.raises(ConformanceError, match="Voigt stress"):
        check_teacher(no_stress, atoms, conservative=False)
    assert np.isfinite(check_teacher(good, bulk("NaCl", "rocksalt", a=5.64))["energy"])
