"""A real comparison: two cheap teachers (analytic point charges, GFN1-xTB) on an 8-atom NaCl box,
plus an unavailable checkpoint teacher that must be skipped without failing the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lesdistill.compare.config import parse
from lesdistill.compare.runner import run_compare
from lesdistill.report.check import check_report_html

pytest.importorskip("tblite")


def _run(tmp_path, make_config):
    data = make_config(tmp_path, ["analytic-ionic", "xtb-gfn1", "mace:/nonexistent.model"],
                       bec={"n_frames": 2, "reference": "teacher:analytic-ionic"})
    cfg = parse(data, base_dir=tmp_path)
    lines: list[str] = []
    report = run_compare(cfg, progress=False, log=lines.append)
    return cfg, report, lines


def test_two_teachers_and_a_skipped_one(tmp_path, make_config):
    cfg, report, lines = _run(tmp_path, make_config)
    out = tmp_path / "out"
    images = check_report_html(report.read_text())
    assert len(images) >= 2
    summary = json.loads((out / "report" / "summary.json").read_text())
    rows = {t["name"]: t for t in summary["teachers"]}
    assert rows["mace-nonexistent"]["status"] == "skipped"
    assert "/nonexistent.model" in rows["mace-nonexistent"]["reason"]
    for name in ("analytic-ionic", "xtb-gfn1"):
        t = rows[name]
        assert t["status"] == "ok", t["reason"]
        assert np.isfinite(t["forces_mae_meV_per_A"]) and t["forces_mae_meV_per_A"] > 0
        assert t["teacher_ms_per_step"] > 0 and t["student_ms_per_step"] > 0
        assert set(t["mean_charge_e"]) == {"Na", "Cl"}
        assert set(t["bec_trace_e"]) == {"Na", "Cl"}
        assert t["bec_vs_reference"]["mae_e"] >= 0
        assert t["latent_sign"] in (1.0, -1.0) and "reference" in t["sign_rule"]
        assert t["ir_curve"] and len(t["ir_curve"]["wavenumber_cm"]) > 10
    assert summary["levels_of_theory"] == {"GFN1-xTB": ["xtb-gfn1"], "analytic": ["analytic-ionic"]}
    agree = summary["bec_agreement"]
    assert agree["names"] == ["analytic-ionic", "xtb-gfn1"]
    assert np.allclose(np.diag(agree["r2"]), 1.0)
    assert summary["bec_reference"]["source"].startswith("teacher analytic-ionic")
    # every student saw the same geometries, each labelled by its own teacher
    from ase.io import read

    a = read(out / "analytic-ionic" / "sample" / "train.extxyz", index=":")
    b = read(out / "xtb-gfn1" / "sample" / "train.extxyz", index=":")
    assert len(a) == len(b) and all(np.allclose(x.positions, y.positions) for x, y in zip(a, b))
    assert not np.isclose(a[0].get_potential_energy(), b[0].get_potential_energy())
    # a second run reuses every stage
    lines.clear()
    run_compare(cfg, progress=False, log=lines.append)
    ran = [ln for ln in lines if "done in" in ln]
    assert not ran, ran
