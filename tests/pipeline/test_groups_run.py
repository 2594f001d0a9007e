"""`lesdistill run` with per-frame groups on a tiny HCl(aq) box (GFN1-xTB teacher): the md stage
stores per-atom currents, the ir stage writes the H3O+ core / shell / bulk spectra whose sum (with
the cross terms) is the total, each against its matching band table, and the paper-style view;
the report shows both. A bad group selector is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lesdistill.config import config_from_dict, load_config
from lesdistill.report.check import check_report_html

TINY_HCL = {
    "seed": 3,
    "threads": 1,
    "system": {"builder": "hcl", "params": {"concentration_mol_L": 4.0, "n_water": 10}},
    "teacher": {"spec": "xtb-gfn1"},
    "sampling": {"temperatures_K": [330.0], "n_frames": 10, "stride": 2, "timestep_fs": 0.5,
                 "equilibration_steps": 10, "valid_fraction": 0.17, "test_fraction": 0.17},
    "student": {"preset": "tiny", "options": {"channels": 16, "eps_inf": 1.78}},
    "training": {"epochs": 3, "batch_size": 4, "lr": 0.005, "stage_two_start": 0.5},
    "md": {"temperature_K": 330.0, "timestep_fs": 1.0, "n_equil": 5, "n_steps": 205,
           "stride": 1},
    "ir": {"bec_every": 205, "window_ps": 0.1, "reference": "hcl", "group": "hcl",
           "group_mode": "self", "style": "paper"},
    "report": {"speed_repeats": 1, "rdf_rmax_A": 3.0, "rdf_bins": 30},
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

    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved = torch.get_num_threads(), {k: os.environ.get(k) for k in names}
    yield
    torch.set_num_threads(saved[0])
    for key, value in saved[1].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.slow  # ~30 s at load 4; the ir and report stages are also checked quickly below
def test_hcl_run_with_groups_and_paper_view(tmp_path: Path, restore_threads: None) -> None:
    pytest.importorskip("tblite")
    from lesdistill.md import load_trajectory
    from lesdistill.pipeline import run_pipeline

    logs: list[str] = []
    cfg = load_config(_write(tmp_path, TINY_HCL))
    results = run_pipeline(cfg, progress=False, log=logs.append)
    ran = [r.name for r in results if r.status == "ran"]
    assert ran == ["build", "sample", "train", "evaluate", "md", "ir", "report"], logs
    out = Path(cfg.output)

    # md: per-atom currents of every frame, whose sum is the stored dipole current
    traj = load_trajectory(out / "md" / "traj", positions=True)
    assert traj.atom_currents is not None and traj.atom_currents.shape == (206, 32, 3)
    np.testing.assert_allclose(traj.atom_currents.sum(axis=1), traj.dipole_current,
                               rtol=1e-10, atol=1e-12)

    # ir: group spectra in the CSV; self terms + cross terms = total; group band tables
    ir = json.loads((out / "ir" / "ir.json").read_text())
    groups = ir["groups"]
    assert groups["selector"] == "hcl" and groups["mode"] == "self"
    assert set(groups["spectra"]) == {"core", "shell", "bulk"}
    sizes = groups["atoms_per_group"]
    assert sum(v["mean"] for v in sizes.values()) == pytest.approx(32)  # a partition
    assert sizes["core"]["min"] >= 3  # the O owning most H, with its H, in every frame
    assert groups["sum_check"]["current_residual"] < 1e-9
    total = np.array(ir["n_alpha_per_cm"])
    parts = sum(np.array(v) for v in groups["spectra"].values()) + np.array(groups["cross_terms"])
    np.testing.assert_allclose(parts, total, atol=1e-9 * np.abs(total).max())
    assert {k: v["reference"] for k, v in groups["bands"].items()} == {
        "core": "hcl", "shell": "hcl", "bulk": "water"}
    core_refs = [b["reference_cm-1"] for b in groups["bands"]["core"]["bands"]]
    assert core_refs == [1196.0, 1760.0, 2997.0]
    assert "Thamer" in groups["bands"]["core"]["reference_citation"]
    header = (out / "ir" / "spectrum.csv").read_text().splitlines()
    columns = next(line for line in header if line.startswith("wavenumber")).split(",")
    assert {"n_alpha_core_cm-1", "n_alpha_shell_cm-1", "n_alpha_bulk_cm-1",
            "n_alpha_cross_terms_cm-1"} <= set(columns)
    assert {p.name for p in (out / "ir").glob("peaks_*.csv")} == {
        "peaks_core.csv", "peaks_shell.csv", "peaks_bulk.csv"}

    # paper-style view: labelled file and section; absolute n*alpha stays in spectrum.csv
    paper = ir["paper"]
    assert paper["label"].startswith("paper style")
    x, y = np.array(paper["wavenumber_cm"]), np.array(paper["intensity_au"])
    assert y[(x >= 2800) & (x <= 3800)].max() == pytest.approx(1.0)
    first = (out / "ir" / "spectrum_paper.csv").read_text().splitlines()[0]
    assert "paper style" in first
    html = (out / "report" / "report.html").read_text(encoding="utf-8")
    check_report_html(html)
    assert "Infrared spectrum by group" in html and "paper-style view" in html
    figures = {p.stem for p in (out / "report" / "figures").glob("*.png")}
    assert {"ir", "ir_groups", "ir_paper"} <= figures
    data = json.loads((out / "report" / "report.json").read_text())
    assert data["ir"]["groups"]["sum_check"]["current_residual"] < 1e-9


@pytest.mark.parametrize("ir, needle", [
    ({"group": "micelle"}, "unknown group selector 'micelle' (ir.group)"),
    ({"n_excess": 1}, "ir.n_excess applies to the hcl groups only"),
    ({"group": "tio2-water", "cuts_A": [2.7, -1.0]}, "ir.cuts_A must be > 0"),
    ({"style": "paper", "correction": "standard"}, "ir.style paper uses classical intensities"),
])
def test_bad_group_settings_are_one_line_exit_2_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], ir: dict, needle: str) -> None:
    from lesdistill.cli import main

    path = _write(tmp_path, {**TINY_HCL, "ir": {**TINY_HCL["ir"], "group": None,
                                                "style": "absolute", **ir}})
    with pytest.raises(SystemExit) as info:
        main(["run", str(path)])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_ir_stage_groups_sum_to_the_total_and_report_shows_them(tmp_path: Path) -> None:
    """The ir stage on a fixed-charge HCl(aq) trajectory with per-atom currents (fast): group
    spectra, cross terms, the sum check, the matching band tables and the paper view, and the
    report sections built from ``ir.json``; the md stage records per-atom currents only then."""
    from lesdistill.md import run_md
    from lesdistill.pipeline import make_stages
    from lesdistill.pipeline.runner import StageContext
    from lesdistill.pipeline.stage_ir import run_ir
    from lesdistill.pipeline.stages_physics import records_atom_currents
    from lesdistill.report.build import build_sections
    from lesdistill.systems.hcl import hcl_solution
    from tests.md.fixed_charge_toy import TetheredCharges, spring_for_wavenumber

    atoms = hcl_solution(2.0, n_water=16, seed=1)
    symbols = atoms.get_chemical_symbols()
    wavenumber = {"O": 600.0, "H": 1600.0, "Cl": 300.0}
    springs = np.array([spring_for_wavenumber(wavenumber[s], m)
                        for s, m in zip(symbols, atoms.get_masses(), strict=True)])
    charges = np.array([{"O": -0.8, "H": 0.4, "Cl": -0.6}[s] for s in symbols])
    atoms.calc = TetheredCharges(atoms.positions.copy(), springs, charges)
    run_md(atoms, tmp_path / "md" / "traj", temperature_K=300.0, timestep_fs=0.5, n_equil=20,
           n_steps=600, stride=1, seed=2, progress=False, atom_currents=True,
           guard_min_distance_A=None)
    cfg = config_from_dict({"ir": {"group": "hcl", "group_mode": "self", "style": "paper",
                                   "reference": "hcl", "window_ps": 0.1, "bec_every": 50}})
    assert records_atom_currents(cfg)
    assert not records_atom_currents(config_from_dict({}))
    md_stage = next(s for s in make_stages() if s.name == "md")
    assert md_stage.hash_payload(cfg)["atom_currents"] is True
    assert "atom_currents" not in md_stage.hash_payload(config_from_dict({}))

    (tmp_path / "ir").mkdir()
    run_ir(StageContext(cfg, tmp_path, tmp_path / "ir", 0, 1, log=lambda _: None))
    ir = json.loads((tmp_path / "ir" / "ir.json").read_text())
    groups = ir["groups"]
    assert set(groups["spectra"]) == {"core", "shell", "bulk"}
    assert groups["sum_check"]["current_residual"] < 1e-12  # fixed charges: j_i = q_i v_i
    total = np.array(ir["n_alpha_per_cm"])
    parts = sum(np.array(v) for v in groups["spectra"].values()) + np.array(groups["cross_terms"])
    np.testing.assert_allclose(parts, total, atol=1e-10 * np.abs(total).max())
    assert groups["bands"]["bulk"]["reference"] == "water"
    assert [b["reference_cm-1"] for b in groups["bands"]["core"]["bands"]] == [1196.0, 1760.0,
                                                                               2997.0]
    assert ir["paper"]["label"].startswith("paper style")
    assert set(ir["paper"]["groups"]["spectra"]) == {"core", "shell", "bulk"}
    sections = {s.title: s for s in build_sections({"ir": ir})}
    assert {"Infrared spectrum", "Infrared spectrum by group",
            "Infrared spectrum, paper-style view"} <= set(sections)
    assert [f.name for f in sections["Infrared spectrum by group"].figures] == ["ir_groups"]
