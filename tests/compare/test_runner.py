"""Teacher resolution (skip reasons) and the plan (sampler fallback, reference choice)."""

from __future__ import annotations

from ase.build import molecule

from lesdistill.compare.config import parse
from lesdistill.compare.runner import plan, resolve_teachers


def _box():
    atoms = molecule("H2O")
    atoms.set_cell([8.0, 8.0, 8.0])
    atoms.pbc = True
    return atoms


def _cfg(teachers, **extra):
    data = {"system": {"builder": "water"}, "teachers": teachers, **extra}
    return parse(data)


def test_unusable_and_uncovered_teachers_are_skipped_with_reasons():
    cfg = _cfg(["xtb-gfn1", "analytic-ionic", "mace:/nonexistent.model", "nosuchteacher"])
    usable, skipped = resolve_teachers(cfg, _box())
    assert [e.name for e in usable] == ["xtb-gfn1"]
    reasons = {r.name: r.reason for r in skipped}
    assert "H" in reasons["analytic-ionic"] and "O" in reasons["analytic-ionic"]
    assert "/nonexistent.model" in reasons["mace-nonexistent"]
    assert "unknown teacher" in reasons["nosuchteacher"]
    assert all(r.status == "skipped" for r in skipped)


def test_plan_falls_back_to_a_usable_sampler_and_picks_an_xtb_reference():
    cfg = _cfg(["mace:/nonexistent.model", "chgnet", "xtb-gfn2"],
               sampling={"teacher": "mace:/nonexistent.model"})
    usable, _ = resolve_teachers(cfg, _box())
    logs: list[str] = []
    p = plan(cfg, usable, logs.append)
    assert p["frames"] == {"sampler": "chgnet", "sampling_file": None}
    assert p["reference"] == {"reference": "auto", "reference_teacher": "xtb-gfn2"}
    assert any("not usable" in line for line in logs)


def test_plan_with_an_unusable_reference_teacher_has_none():
    cfg = _cfg(["chgnet", "mace:/nonexistent.model"],
               bec={"reference": "teacher:mace:/nonexistent.model"})
    usable, _ = resolve_teachers(cfg, _box())
    logs: list[str] = []
    p = plan(cfg, usable, logs.append)
    assert p["reference"]["reference_teacher"] is None and logs
