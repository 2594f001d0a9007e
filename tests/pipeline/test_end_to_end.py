"""End-to-end `lesdistill run` on a tiny water box with GFN1-xTB as the teacher, a refine
stage and GFN2-xTB as the fine-tuning ("higher") level: every stage runs, the report is valid,
a re-run skips every stage, a changed MD setting re-runs only md/ir/report, and --from re-runs
from a stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lesdistill.config import load_config
from lesdistill.report.check import check_report_html

pytest.importorskip("tblite")

TINY = {
    "seed": 1,
    "threads": 1,
    "system": {"builder": "water", "params": {"n_molecules": 8}},
    "teacher": {"spec": "xtb-gfn1"},
    "sampling": {"temperatures_K": [350.0], "n_frames": 16, "stride": 2, "timestep_fs": 0.5,
                 "equilibration_steps": 10,
                 "valid_fraction": 0.15, "test_fraction": 0.15},
    "student": {"preset": "tiny", "options": {"channels": 16, "eps_inf": 1.78}},
    "training": {"epochs": 4, "batch_size": 4, "lr": 0.005, "stage_two_start": 0.5},
    "refine": {"n_frames": 4, "equilibration_ps": 0.01, "interval_fs": 2.0, "epochs": 2},
    "finetune": {"teacher": "xtb-gfn2", "n_frames": 8, "test_fraction": 0.34,
                 "training": {"epochs": 4, "lr": 0.002}},
    "md": {"temperature_K": 350.0, "timestep_fs": 0.5, "n_equil": 20, "n_steps": 420,
           "stride": 1},
    "ir": {"bec_every": 140, "window_ps": 0.1, "reference": "water"},
    "report": {"speed_repeats": 2, "rdf_rmax_A": 4.0, "rdf_bins": 40},
}


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"output": str(tmp_path / "out"), **data}))
    return path


@pytest.fixture()
def restore_threads():
    """run_pipeline(threads=1) sets process-wide thread counts: put them back afterwards."""
    import os

    import torch

    saved = (
        torch.get_num_threads(),
        {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        },
    )
    yield
    torch.set_num_threads(saved[0])
    for key, value in saved[1].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _bec_reference(path: Path) -> Path:
    """One open water cluster with made-up reference BECs (evaluation only, never trained on)."""
    from ase.io import write

    from lesdistill.systems import water

    atoms = water.water_box(n_molecules=4, seed=7)
    atoms.pbc, atoms.cell = False, np.zeros((3, 3))
    base = np.where(atoms.numbers == 8, -0.9, 0.45)
    noise = np.random.default_rng(0).normal(scale=0.1, size=(len(atoms), 3, 3))
    atoms.arrays["BEC"] = (base[:, None, None] * np.eye(3) + noise).reshape(-1, 9)
    write(path, [atoms], format="extxyz")
    return path


def test_tiny_run_end_to_end(tmp_path: Path, restore_threads: None) -> None:
    from lesdistill.pipeline import run_pipeline

    logs: list[str] = []
    ref = _bec_reference(tmp_path / "bec_ref.extxyz")
    tiny = {**TINY, "evaluate": {"bec_reference": ref.name,  # relative to the YAML's folder
                                 "bec_compare": ["same=bec_ref.extxyz:BEC:1.0"]},
            "vdos": {"n_steps": 40, "timestep_fs": 0.5, "stride": 2}}
    cfg = load_config(_write(tmp_path, tiny))
    results = run_pipeline(cfg, progress=False, log=logs.append)
    assert [r.status for r in results] == ["ran"] * 10, logs
    out = Path(cfg.output)

    # report: valid HTML, every image an inline PNG, all sections present
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    images = check_report_html(html)
    figures = {p.stem for p in (out / "report" / "figures").glob("*.png")}
    assert {"parity_energy", "parity_forces", "charges", "bec", "rdf", "ir",
            "finetune", "bec_benchmark_parity", "vdos"} <= figures
    assert len(images) == len(figures)
    data = json.loads((out / "report" / "report.json").read_text())
    assert data["dataset"]["n_frames"] == 16 and data["dataset"]["n_atoms"] == 24
    assert data["teacher"]["name"] == "xtb-gfn1"
    bench = data["bec_benchmark"]  # evaluate.bec_reference: the student and the compared file
    assert set(bench["students"]) == {"student", "same"}
    assert bench["students"]["same"]["r2"] == pytest.approx(1.0)
    assert bench["reference"]["n_atoms"] == 12 and "BEC benchmark" in html
    vd = data["vdos"]  # teacher and student NVE from the same start, 21 velocity frames each
    assert vd["teacher"]["n_frames"] == vd["student"]["n_frames"] == 21
    assert {r["band"] for r in vd["bands"]} >= {"bend", "OH stretch"}
    # RDFs: teacher vs student over the same number of frames and the same time span
    rdf = data["rdf"]
    assert set(rdf["pairs"]) == {"O-O", "O-H"}
    assert rdf["teacher_frames"] == rdf["student_frames"] > 1
    assert rdf["student_span_fs"] == pytest.approx(rdf["teacher_span_fs"])
    assert rdf["production_span_fs"] == pytest.approx(rdf["teacher_span_fs"])
    # the O-H RDF has the covalent bond peak near 1 Å for all three runs
    assert set(rdf["pairs"]["O-H"]) == {"teacher", "student (same protocol)",
                                        "student (production MD)"}
    for source in rdf["pairs"]["O-H"]:
        r, g = np.array(rdf["r_A"]), np.array(rdf["pairs"]["O-H"][source])
        assert 0.85 < r[np.argmax(g)] < 1.15
    # speed table measured in this run; fine-tuning before/after on held-out GFN2 frames
    assert {row["model"].split()[0] for row in data["speed"]} >= {"xtb-gfn1", "student"}
    ft = data["finetune"]
    assert ft["source"] == "xtb-gfn2" and ft["n_test"] == 3 and ft["n_train"] == 2
    assert set(ft["before"]) == set(ft["after"]) and ft["before"]["forces_mae_meV_per_A"] > 0
    # GFN2 and GFN1 total energies differ by eV/atom: fine-tuning must move the student there
    assert ft["after"]["energy_mae_meV_per_atom"] < 0.2 * ft["before"]["energy_mae_meV_per_atom"]
    # IR: spectrum, peak table vs water, sum rule (BECs were stored during MD)
    ir = data["ir"]
    assert len(ir["wavenumber_cm"]) == len(ir["n_alpha_per_cm"]) > 10
    assert max(ir["n_alpha_per_cm"]) > 0
    assert {p["band"] for p in ir["peaks"]} >= {"bend", "OH stretch"}
    assert data["bec"]["n_frames"] == len(range(0, 421, 140)) and set(data["bec"]["elements"]) == {
        "H",
        "O",
    }
    assert "sum_rule" in ir and ir["sum_rule"]["expected_cm2"] > 0

    # a second run with the same config skips every stage
    logs.clear()
    again = run_pipeline(cfg, progress=False, log=logs.append)
    assert [r.status for r in again] == ["skipped"] * 10

    # a changed MD length re-runs md, ir and report only
    longer = load_config(_write(tmp_path, {**tiny, "md": {**TINY["md"], "n_steps": 440}}))
    res = run_pipeline(longer, progress=False, log=logs.append)
    assert [r.name for r in res if r.status == "ran"] == ["md", "ir", "report"]

    # --from evaluate forces evaluate and everything after it
    res = run_pipeline(longer, from_stage="evaluate", progress=False, log=logs.append)
    assert [r.name for r in res if r.status == "ran"] == ["evaluate", "md", "ir", "vdos", "report"]
