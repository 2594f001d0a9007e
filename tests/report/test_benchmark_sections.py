"""Report sections of the BEC benchmark and the VDOS, and compare's merge of every student's
BEC benchmark row (same reference file for all)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lesdistill.analysis.bec_benchmark import benchmark
from lesdistill.compare.collect import merged_bec_benchmark
from lesdistill.compare.summary import TeacherResult
from lesdistill.report.benchmark_sections import section_bec_benchmark, section_vdos
from lesdistill.report.html import render_html


def _bench(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    sym = ["O", "H", "H"] * 5
    ref = np.array([{"O": -0.9, "H": 0.45}[s] for s in sym])[:, None, None] * np.eye(3)
    ref = ref + 0.1 * rng.normal(size=ref.shape)
    res = benchmark({"student": -ref + 0.02 * rng.normal(size=ref.shape), "paper": ref * 1.1},
                    ref, sym)
    res["reference"] = {"path": "ref.extxyz", "array": "BEC", "n_frames": 1, "n_atoms": 15}
    res["compare"] = [{"name": "paper", "path": "p.extxyz", "array": "Z", "scale": 1.0}]
    return res


def test_bec_and_vdos_sections_render() -> None:
    png = b"\x89PNG\r\n\x1a\n"
    sec = section_bec_benchmark({"bec_benchmark": _bench(0)}, {"bec_parity_png": png})
    rows = sec.tables[0].rows
    assert [r[0] for r in rows][:2] == ["student", "paper"] and rows[0][1] == -1
    assert rows[0][-1] == "pass" and len(sec.figures) == 1
    bands = [{"band": "bend", "teacher_cm": 1600.0, "student_cm": 1620.0, "shift_cm": 20.0}]
    vs = section_vdos({"vdos": {"bands": bands, "n_steps": 400, "timestep_fs": 0.5}})
    assert vs.tables[0].rows[0][3] == 20.0
    page = render_html("t", [sec, vs])
    assert "BEC benchmark" in page and "VDOS" in page
    assert section_bec_benchmark({}) is None and section_vdos({}) is None


def test_compare_merges_every_students_benchmark(tmp_path: Path) -> None:
    results = []
    for k, name in enumerate(("chgnet", "xtb-gfn1")):
        folder = tmp_path / name / "evaluate"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"bec_benchmark": _bench(k)}))
        results.append(TeacherResult(name=name, spec=name, run_dir=str(tmp_path / name)))
    results.append(TeacherResult(name="down", spec="down", status="failed"))
    merged = merged_bec_benchmark(results)
    assert list(merged["students"]) == ["chgnet student", "xtb-gfn1 student", "paper"]
    assert merged["constant"]["mae_e"] > 0
    assert merged_bec_benchmark(results[2:]) is None
