"""Replica MD (torch-sim batch) equals ASE spectra MD per replica; `ir` averages replicas."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lesdistill.engines.replicas import expand_replica_dirs, replica_dir
from lesdistill.md import load_trajectory, run_md
from tests.md.fixed_charge_toy import tethered_system


def _student():
    import torch

    from lesdistill.model import StudentConfig, StudentModel

    torch.manual_seed(0)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64")
    return StudentModel(config)


def test_each_replica_equals_an_ase_run_from_its_start(tmp_path):
    pytest.importorskip("torch_sim")
    from lesdistill.calculator import StudentCalculator
    from lesdistill.engines.replicas import run_replicas
    from lesdistill.engines.torchsim import StudentTorchSimModel
    from lesdistill.systems.water import water_box

    student = _student()
    start = water_box(4, seed=0)
    kwargs = dict(temperature_K=300.0, timestep_fs=0.5, n_equil=0, n_steps=8, stride=2,
                  production="nve")
    oxygens = [i for i, z in enumerate(start.numbers) if z == 8]
    paths = run_replicas(start, StudentTorchSimModel(student), tmp_path / "rep", n_replicas=2,
                         seed=3, bec_every=2, chunk_frames=2, progress=False,
                         groups={"O": oxygens}, atom_currents=True, **kwargs)
    assert paths == [replica_dir(tmp_path / "rep", k) for k in range(2)]
    trajs = [load_trajectory(p) for p in paths]
    assert not np.allclose(trajs[0].velocities[0], trajs[1].velocities[0])  # independent starts
    for k, traj in enumerate(trajs):
        assert traj.meta["engine"] == "torch-sim" and traj.meta["replica"] == k
        atoms = traj.to_atoms(0)
        atoms.calc = StudentCalculator(student)
        ase_traj = load_trajectory(run_md(atoms, tmp_path / f"ase{k}", bec_every=2, seed=0,
                                          chunk_frames=3, progress=False, groups={"O": oxygens},
                                          atom_currents=True, **kwargs))
        np.testing.assert_array_equal(traj.step, ase_traj.step)
        for name in ("positions", "velocities", "dipole_current", "energy", "kinetic", "bec"):
            ours, theirs = getattr(traj, name), getattr(ase_traj, name)
            scale = np.abs(theirs).max()
            assert np.abs(ours - theirs).max() <= 1e-9 * scale, name
        np.testing.assert_array_equal(traj.bec_frame, ase_traj.bec_frame)
        for ours, theirs in ((traj.group_currents["O"], ase_traj.group_currents["O"]),
                             (traj.atom_currents, ase_traj.atom_currents)):
            assert np.abs(ours - theirs).max() <= 1e-9 * np.abs(theirs).max()
        np.testing.assert_allclose(traj.atom_currents.sum(axis=1), traj.dipole_current,
                                   rtol=1e-12, atol=1e-15)


def test_extending_and_resuming_equal_one_run(tmp_path):
    pytest.importorskip("torch_sim")
    from lesdistill.engines.replicas import run_replicas
    from lesdistill.engines.torchsim import StudentTorchSimModel
    from lesdistill.systems.water import water_box

    model = StudentTorchSimModel(_student())
    start = water_box(4, seed=1)
    kwargs = dict(temperature_K=300.0, timestep_fs=0.5, n_equil=4, stride=2, n_replicas=2,
                  seed=1, chunk_frames=2, progress=False)
    run_replicas(start, model, tmp_path / "one", n_steps=8, **kwargs)
    run_replicas(start, model, tmp_path / "two", n_steps=4, **kwargs)
    # a kill after the parts of a chunk were written but before the checkpoint: stale part
    shutil.copy(replica_dir(tmp_path / "two", 0) / "part-00000.npz",
                replica_dir(tmp_path / "two", 0) / "part-00005.npz")
    run_replicas(start, model, tmp_path / "two", n_steps=8, **kwargs)
    assert not (replica_dir(tmp_path / "two", 0) / "part-00005.npz").exists()
    for k in range(2):
        a = load_trajectory(replica_dir(tmp_path / "one", k))
        b = load_trajectory(replica_dir(tmp_path / "two", k))
        assert a.n_frames == b.n_frames == 5
        np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=1e-9)
        np.testing.assert_allclose(b.dipole_current, a.dipole_current, rtol=1e-7, atol=1e-12)


def test_replica_run_refuses_bussi_and_a_foreign_folder(tmp_path):
    pytest.importorskip("torch_sim")
    from lesdistill.engines.replicas import run_replicas
    from lesdistill.engines.torchsim import StudentTorchSimModel
    from lesdistill.errors import UserInputError
    from lesdistill.systems.water import water_box

    model = StudentTorchSimModel(_student())
    with pytest.raises(UserInputError, match="Langevin and NVE"):
        run_replicas(water_box(4), model, tmp_path / "a", thermostat="bussi", n_steps=4)
    with pytest.raises(UserInputError, match="no electric field"):
        run_replicas(water_box(4), model, tmp_path / "a", field_V_per_A=(0.1, 0.0, 0.0),
                     n_steps=4)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("x")
    with pytest.raises(UserInputError, match="not a replica MD run"):
        run_replicas(water_box(4), model, tmp_path / "b", n_steps=4, n_equil=0)
    assert not (tmp_path / "a").exists()


def test_ir_averages_replica_folders_with_errors_across_replicas(tmp_path, capsys):
    """`lesdistill ir RUN` on a replica folder = the mean of the replicas' spectra, error bars =
    their standard error (one block each)."""
    from lesdistill.cli import main
    from lesdistill.spectra.ir import ir_spectrum

    run = tmp_path / "run"
    for k in range(3):
        run_md(tethered_system(16, seed=5), replica_dir(run, k), temperature_K=300.0,
               timestep_fs=1.0, n_equil=100, n_steps=1200, stride=2, seed=k, progress=False)
    assert expand_replica_dirs([run]) == [replica_dir(run, k) for k in range(3)]
    trajs = [load_trajectory(p) for p in expand_replica_dirs([run])]
    single = [ir_spectrum(t, n_blocks=1, temperature_K=300.0) for t in trajs]
    values = np.stack([s.n_alpha_per_cm for s in single])
    with pytest.raises(SystemExit) as info:
        main(["ir", str(run), "--out", str(tmp_path / "ir"), "--blocks", "1",
              "--temperature", "300", "--no-dielectric"])
    out = capsys.readouterr().out
    assert info.value.code in (0, None) and "averaged 3 trajectories" in out
    table = np.loadtxt(tmp_path / "ir.csv", delimiter=",", comments="#", skiprows=3)
    np.testing.assert_allclose(table[:, 1], values.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(table[:, 2], values.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-6,
                               atol=1e-9)


def test_md_replicas_cli_writes_one_trajectory_per_replica(tmp_path, capsys):
    pytest.importorskip("torch_sim")
    from ase.io import write

    from lesdistill.cli import main
    from lesdistill.model import save_student
    from lesdistill.systems.water import water_box

    model = save_student(_student(), tmp_path / "student.pt")
    write(tmp_path / "water.xyz", water_box(4, seed=0))
    base = ["md", str(tmp_path / "water.xyz"), "--model", str(model), "--n-equil", "2",
            "--n-steps", "4", "--stride", "2", "--replicas", "2", "--no-progress"]
    with pytest.raises(SystemExit) as info:
        main(base + ["--out", str(tmp_path / "bad"), "--thermostat", "bussi"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Langevin and NVE" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as info:
        main(base + ["--out", str(tmp_path / "md")])
    out = capsys.readouterr().out
    assert info.value.code in (0, None)
    assert "replica-001: MD: 3 frames" in out
    assert [load_trajectory(p).n_frames for p in expand_replica_dirs([tmp_path / "md"])] == [3, 3]
