"""Per-frame group spectra end to end: MD storing per-atom currents, `lesdistill ir --group`."""

from __future__ import annotations

import numpy as np
import pytest

from lesdistill.cli import main
from lesdistill.md import load_trajectory, run_md
from lesdistill.systems.hcl import hcl_solution
from tests.md.fixed_charge_toy import TetheredCharges, spring_for_wavenumber


@pytest.fixture(scope="module")
def hcl_traj(tmp_path_factory):
    atoms = hcl_solution(2.0, n_water=16, seed=1)
    symbols = atoms.get_chemical_symbols()
    wavenumber = {"O": 600.0, "H": 1600.0, "Cl": 300.0}
    springs = np.array([spring_for_wavenumber(wavenumber[s], m)
                        for s, m in zip(symbols, atoms.get_masses(), strict=True)])
    charges = np.array([{"O": -0.8, "H": 0.4, "Cl": -0.6}[s] for s in symbols])
    atoms.calc = TetheredCharges(atoms.positions.copy(), springs, charges)
    out = tmp_path_factory.mktemp("hcl") / "md"
    run_md(atoms, out, temperature_K=300.0, timestep_fs=0.5, n_equil=100, n_steps=2400,
           stride=2, seed=2, chunk_frames=400, progress=False, atom_currents=True,
           guard_min_distance_A=None)
    return out, charges


def test_md_stores_per_atom_currents_whose_sum_is_the_dipole_current(hcl_traj):
    path, charges = hcl_traj
    traj = load_trajectory(path)
    assert traj.atom_currents.shape == (traj.n_frames, traj.n_atoms, 3)
    np.testing.assert_allclose(traj.atom_currents, charges[None, :, None] * traj.velocities,
                               atol=1e-12)
    np.testing.assert_allclose(traj.dipole_current, traj.atom_currents.sum(axis=1), atol=1e-12)
    assert load_trajectory(path, positions=False).atom_currents is None


def test_ir_group_hcl_writes_group_spectra_with_the_matching_references(hcl_traj, tmp_path,
                                                                         capsys):
    path, _ = hcl_traj
    with pytest.raises(SystemExit) as info:
        main(["ir", str(path), "--out", str(tmp_path / "ir"), "--group", "hcl", "--system", "hcl",
              "--blocks", "2"])
    out = capsys.readouterr()
    assert info.value.code in (0, None), out.err
    assert "groups (hcl, atoms per frame): core 4.0" in out.out
    assert "cross terms between groups" in out.out and "group core:" in out.out
    assert "Zundel proton transfer" in out.out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ir.csv", "ir.png", "ir_dielectric.csv", "ir_peaks.csv",
                     "ir_peaks_bulk.csv", "ir_peaks_core.csv", "ir_peaks_shell.csv"]
    header = (tmp_path / "ir.csv").read_text().splitlines()[2].split(",")
    assert "n_alpha_core_cm-1" in header and "n_alpha_cross_terms_cm-1" in header
    data = np.loadtxt(tmp_path / "ir.csv", delimiter=",", comments="#", skiprows=3)
    column = {name: data[:, k] for k, name in enumerate(header)}
    parts = sum(column[f"n_alpha_{g}_cm-1"] for g in ("core", "shell", "bulk"))
    scale = max(np.abs(column[f"n_alpha_{g}_cm-1"]).max() for g in ("core", "shell", "bulk"))
    np.testing.assert_allclose(parts + column["n_alpha_cross_terms_cm-1"],
                               column["n_alpha_cm-1"], atol=1e-7 * scale)  # CSV: 8 digits


def test_ir_group_needs_per_atom_currents_and_a_known_selector(hcl_traj, tmp_path, capsys):
    from tests.md.fixed_charge_toy import tethered_system

    plain = tmp_path / "plain"
    run_md(tethered_system(8, seed=1), plain, temperature_K=300.0, timestep_fs=1.0, n_equil=0,
           n_steps=20, stride=2, seed=1, progress=False)
    for argv, message in [(["--group", "hcl"], "no per-atom currents"),
                          (["--group", "micelle"], "unknown group selector 'micelle' (--group)"),
                          (["--cuts", "2,3"], "--cuts applies to the tio2-water groups only"),
                          (["--n-excess", "-1", "--group", "hcl"], "--n-excess must be >= 0"),
                          (["--group", "tio2-water", "--cuts", "x"], "comma-separated numbers")]:
        with pytest.raises(SystemExit) as info:
            main(["ir", str(plain), "--out", str(tmp_path / "o" / "ir"), *argv])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err, err
        assert not (tmp_path / "o").exists()
