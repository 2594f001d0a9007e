"""CLI `lesdistill md | bec | ir`: outputs on success; bad input -> exit 2, one line, no files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from ase import units as ase_units
from ase.io import write

from lesdistill.cli import main
from lesdistill.md import load_trajectory, run_md

from .fixed_charge_toy import tethered_system


@pytest.fixture(scope="module")
def traj_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("md") / "run"
    run_md(tethered_system(16, seed=5), out, temperature_K=300.0, timestep_fs=1.0, n_equil=200,
           n_steps=4000, stride=2, bec_every=100, seed=5, chunk_frames=500, progress=False)
    return out


def run_cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_ir_and_bec_commands_write_their_outputs(traj_dir, tmp_path, capsys):
    code, out, err = run_cli(["ir", traj_dir, "--out", tmp_path / "ir", "--blocks", "4"], capsys)
    assert code == 0, err
    assert "relative mismatch" in out and "OH stretch" in out and "eps_0 = " in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ir.csv", "ir.png", "ir_dielectric.csv",
                                                          "ir_peaks.csv"]
    code, out, err = run_cli(["bec", traj_dir, "--out", tmp_path / "bec.extxyz", "--correct-asr"],
                             capsys)
    assert code == 0, err
    assert "acoustic sum rule" in out and (tmp_path / "bec.extxyz").is_file()


def test_ir_paper_style_is_labelled_and_rejects_a_correction(traj_dir, tmp_path, capsys):
    code, out, err = run_cli(["ir", traj_dir, "--out", tmp_path / "p" / "ir", "--style", "paper"],
                             capsys)
    assert code == 0, err
    assert "paper style" in out and "a.u." in out
    assert "paper style" in (tmp_path / "p" / "ir.csv").read_text().splitlines()[0]
    code, _, err = run_cli(["ir", traj_dir, "--out", tmp_path / "q" / "ir", "--style", "paper",
                            "--correction", "standard"], capsys)
    assert code == 2 and "--style paper" in err and not (tmp_path / "q").exists()


def test_ir_reads_extxyz_with_velocities_and_charges(traj_dir, tmp_path, capsys):
    traj = load_trajectory(traj_dir)
    frames = []
    for i in range(1000):
        atoms = traj.to_atoms(i)
        atoms.set_initial_charges(np.where(atoms.numbers == 8, 0.5, -0.5))
        atoms.info["time_fs"] = float(traj.time_fs[i])
        frames.append(atoms)
    write(tmp_path / "t.extxyz", frames)
    back = load_trajectory(tmp_path / "t.extxyz")
    np.testing.assert_allclose(back.dipole_current, traj.dipole_current[:1000], atol=1e-6)
    code, _, err = run_cli(["ir", tmp_path / "t.extxyz", "--out", tmp_path / "x" / "ir",
                            "--temperature", "300"], capsys)
    assert code == 0, err


def _broken_copy(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    part = dst / "part-00001.npz"
    with np.load(part) as data:
        arrays = {key: data[key] for key in data.files}
    for key, fn in changes.items():
        arrays[key] = fn(arrays[key])
    np.savez(part, **arrays)
    return dst


def _no_velocities(tmp_path: Path, traj_dir: Path) -> Path:
    frames = [load_trajectory(traj_dir).to_atoms(i) for i in range(50)]
    for i, atoms in enumerate(frames):
        del atoms.arrays["momenta"]
        atoms.info["time_fs"] = 2.0 * i
    write(tmp_path / "novel.extxyz", frames)
    return tmp_path / "novel.extxyz"


@pytest.mark.parametrize("case, message", [
    ("nonuniform", "non-uniform stride"),
    ("nocell", "no cell"),
    ("short", "too short for the requested resolution"),
    ("novelocities", "no velocities"),
    ("missing", "not found"),
])
def test_ir_bad_inputs_exit_2_without_output(traj_dir, tmp_path, capsys, case, message):
    source = {
        "nonuniform": lambda: _broken_copy(traj_dir, tmp_path / "nu", step=lambda s: s + 1),
        "nocell": lambda: _broken_copy(traj_dir, tmp_path / "nc", cell=np.zeros_like),
        "short": lambda: traj_dir,
        "novelocities": lambda: _no_velocities(tmp_path, traj_dir),
        "missing": lambda: tmp_path / "nothing",
    }[case]()
    outdir = tmp_path / "out"
    extra = ["--window-ps", "3.0"] if case == "short" else []
    code, out, err = run_cli(["ir", source, "--out", outdir / "ir", *extra], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not outdir.exists()


def test_md_and_bec_bad_inputs_exit_2(traj_dir, tmp_path, capsys):
    write(tmp_path / "s.xyz", tethered_system(4))
    code, _, err = run_cli(["md", tmp_path / "s.xyz", "--model", tmp_path / "none.pt",
                            "--out", tmp_path / "md"], capsys)
    assert code == 2 and "student checkpoint not found" in err
    assert not (tmp_path / "md").exists()
    code, _, err = run_cli(["bec", tmp_path / "s.xyz"], capsys)
    assert code == 2 and "--model" in err
    code, _, err = run_cli(["md", tmp_path / "s.xyz", "--model", tmp_path / "s.xyz",
                            "--group", "bad"], capsys)
    assert code == 2 and "bad --group" in err


def test_velocity_units_are_angstrom_per_fs(traj_dir):
    traj = load_trajectory(traj_dir)
    atoms = traj.to_atoms(3)
    np.testing.assert_allclose(atoms.get_velocities() * ase_units.fs, traj.velocities[3])
    kinetic = 0.5 * (traj.masses[:, None] * traj.velocities[3] ** 2).sum()
    from lesdistill.units import AMU_A2_PER_FS2_TO_EV

    assert kinetic * AMU_A2_PER_FS2_TO_EV == pytest.approx(traj.kinetic[3], rel=1e-6)


def test_md_with_a_student_of_other_elements_fails_before_writing(tmp_path, capsys):
    from lesdistill.model import StudentConfig, StudentModel, save_student
    from lesdistill.systems import water_box

    save_student(StudentModel(StudentConfig.from_preset("tiny", elements=["Na", "Cl"])),
                 tmp_path / "nacl.pt")
    write(tmp_path / "water.xyz", water_box(n_molecules=4, seed=0))
    out = tmp_path / "md"
    code, _, err = run_cli(["md", tmp_path / "water.xyz", "--model", tmp_path / "nacl.pt",
                            "--out", out, "--quick"], capsys)
    assert code == 2
    assert "H, O" in err and len(err.strip().splitlines()[-1:]) == 1
    assert not out.exists()
