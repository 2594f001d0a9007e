"""Teacher registry: spec parsing, status table, clear errors, offline teachers."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from lesdistill.errors import MissingDependencyError
from lesdistill.teachers import get_teacher, list_teachers
from lesdistill.teachers.base import split_option
from lesdistill.teachers.d3 import split_d3
from lesdistill.teachers.registry import teacher_status


def _water_in_box(length: float = 7.0) -> Atoms:
    atoms = molecule("H2O")
    atoms.cell = [length] * 3
    atoms.pbc = True
    atoms.center()
    return atoms


def test_list_teachers_names_every_family() -> None:
    rows = {r.name: r for r in list_teachers()}
    for name in ("chgnet", "sevennet", "xtb-gfn1", "xtb-gfn2", "chgnet+d3", "analytic-ionic",
                 "mace:PATH", "uma:PATH", "esen:PATH", "orb:PATH", "pet:PATH", "mattersim:PATH"):
        assert name in rows
    assert rows["analytic-ionic"].usable
    assert not rows["mace:PATH"].usable and "checkpoint" in rows["mace:PATH"].reason
    for row in rows.values():
        assert row.info is not None and row.info.level_of_theory
        assert row.usable or row.reason


def test_spec_parsing() -> None:
    assert split_d3("chgnet+d3") == ("chgnet", "pbe")
    assert split_d3("pet:/m/pet-mad.pt+d3=PBEsol") == ("pet:/m/pet-mad.pt", "pbesol")
    assert split_d3("chgnet") == ("chgnet", None)
    assert split_option("/m/uma-s-1.pt@omol") == ("/m/uma-s-1.pt", "omol")
    assert split_option("/m/with@at/uma.pt") == ("/m/with@at/uma.pt", None)


def test_unknown_teacher() -> None:
    with pytest.raises(ValueError, match="unknown teacher 'gpt'"):
        get_teacher("gpt")
    with pytest.raises(ValueError, match="unknown analytic"):
        get_teacher("analytic-nope")


@pytest.mark.parametrize("spec", ["mace:{p}", "uma:{p}@omol", "esen:{p}", "orb:{p}", "pet:{p}",
                                  "mattersim:{p}"])
def test_missing_checkpoint_is_named_first(spec: str, tmp_path) -> None:
    path = tmp_path / "absent.model"
    with pytest.raises(FileNotFoundError, match="absent.model"):
        get_teacher(spec.format(p=path))
    status = teacher_status(spec.format(p=path))
    assert not status.usable and status.reason.startswith("checkpoint file")


def test_present_checkpoint_then_missing_package(tmp_path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"not really a model")
    with pytest.raises(MissingDependencyError, match="fairchem"):
        get_teacher(f"uma:{path}@omat")
    with pytest.raises(ValueError, match="unknown task"):
        get_teacher(f"uma:{path}@bogus")


def test_element_and_periodicity_checks() -> None:
    teacher = get_teacher("analytic-ionic")
    with pytest.raises(ValueError, match="cannot handle element.*K"):
        teacher.check(Atoms("NaK", positions=[[0, 0, 0], [3, 0, 0]]))
    xtb = get_teacher("xtb-gfn1")
    with pytest.raises(ValueError, match="Og"):
        xtb.check(Atoms("Og", positions=[[0, 0, 0]]))
    mol = molecule("H2O")
    with pytest.raises(ValueError, match="NaN"):
        bad = mol.copy()
        bad.positions[0, 0] = np.nan
        xtb.check(bad)


def test_d3_refused_for_xtb_and_bad_functional() -> None:
    with pytest.raises(ValueError, match="already includes dispersion"):
        get_teacher("xtb-gfn1+d3")
    with pytest.raises(ValueError, match="functional 'nonsense'"):
        get_teacher("ase:ase.calculators.emt:EMT+d3=nonsense")
    with pytest.raises(ValueError, match="not meaningful"):
        get_teacher("analytic-ionic+d3")


def test_ase_factory_teacher() -> None:
    teacher = get_teacher("ase:ase.calculators.lj:LennardJones")
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3.0, 0, 0]])
    assert np.isfinite(teacher.label(atoms)["energy"])
    with pytest.raises(ValueError, match="expected 'ase:package.module:Factory'"):
        get_teacher("ase:nofactory")
    with pytest.raises(ValueError, match="cannot import"):
        get_teacher("ase:no_such_module_xyz:F")


def test_xtb_gfn1_periodic_forces_and_stress() -> None:
    teacher = get_teacher("xtb-gfn1")
    atoms = _water_in_box()
    atoms.rattle(0.05, seed=1)
    labels = teacher.label(atoms)
    forces = labels["forces"]
    assert labels["stress"].shape == (6,)
    h = 1e-3
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[1, 0] += h
    minus.positions[1, 0] -= h
    fd = -(teacher.label(plus)["energy"] - teacher.label(minus)["energy"]) / (2 * h)
    assert forces[1, 0] == pytest.approx(fd, abs=2e-3)
    assert np.abs(forces.sum(axis=0)).max() < 1e-3


def test_d3_adds_dispersion_to_a_teacher() -> None:
    base = get_teacher("ase:ase.calculators.emt:EMT")
    combined = get_teacher("ase:ase.calculators.emt:EMT+d3")
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.6, 0, 0]])
    e_base, e_sum = base.label(atoms)["energy"], combined.label(atoms)["energy"]
    assert e_sum < e_base  # dispersion is attractive
    assert "D3(BJ" in combined.info.level_of_theory


def test_missing_package_names_the_extra(monkeypatch) -> None:
    """Without the family's package: MissingDependencyError naming the pip extra."""
    from lesdistill.teachers import adapter

    real = adapter.has_module
    monkeypatch.setattr(adapter, "has_module", lambda m: False if m.startswith(
        ("chgnet", "sevenn", "tblite")) else real(m))
    for spec, extra in (("chgnet", "chgnet"), ("sevennet", "sevennet"), ("xtb-gfn2", "xtb")):
        with pytest.raises(MissingDependencyError, match=rf"lesdistill\[{extra}\]"):
            get_teacher(spec)
        status = teacher_status(spec)
        assert not status.usable and f"lesdistill[{extra}]" in status.reason
