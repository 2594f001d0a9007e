"""MD engines side by side in one run: steps/s of one student in ASE, torch-sim and LAMMPS.

* torch-sim: 1, 8 and 32 replicas of a 192-atom water box advanced together by torch-sim's
  velocity Verlet (lesdistill.engines.torchsim), against ASE's VelocityVerlet on one box:
  batched steps/s, replica-steps/s (replicas x steps/s) and its ratio to ASE's steps/s (by
  wall time, and by CPU time where both run in this process).
* LAMMPS (fix external, lesdistill.engines.lammps) on 1 MPI rank in this process and on 2
  ranks (mpiexec, a subprocess; the student replicated on both ranks, or divided with ghost
  atoms: lesdistill.engines.lammps_domain), against ASE's VelocityVerlet, at 192 and 3000 atoms.

Untrained weights of a size preset (timing does not depend on the weights), float32 by
default; --steps timed steps after --warmup steps. Wall time per step is reported for every
engine; the process CPU time too where the engine runs in this process (on a busy shared
machine the CPU time of a single-threaded run is the steadier number; the 2-rank LAMMPS run
has only wall time). Load average is printed before and after.

    python benchmarks/engines.py [--preset small] [--dtype float32] [--steps 5] [--warmup 2]
                                 [--threads 1] [--replicas 1,8,32] [--lammps-sizes 192,3000]
                                 [--lammps-modes replicated,domain]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from lesdistill.calculator import StudentCalculator
from lesdistill.model import StudentConfig, StudentModel, save_student
from lesdistill.systems import water_box

TIMESTEP_FS = 0.5

TWO_RANKS = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from ase.io import read
    from lesdistill.calculator import StudentCalculator
    from lesdistill.engines.lammps import StudentFix, _create_system, new_lammps
    from lesdistill.model import load_student
    student, atoms = load_student(sys.argv[1]), read(sys.argv[2])
    warmup, steps = int(sys.argv[3]), int(sys.argv[4])
    lmp = new_lammps()
    _create_system(lmp, atoms, list(student.elements), %r)
    if sys.argv[5] == "domain":
        from lesdistill.engines.lammps_domain import DomainStudentFix
        DomainStudentFix(lmp, StudentCalculator(student), list(student.elements))
    else:
        StudentFix(lmp, StudentCalculator(student), list(student.elements))
    lmp.command("fix integrate all nve")
    lmp.command(f"run {warmup}")
    start = time.perf_counter()
    lmp.command(f"run {steps} pre no post no")
    wall = (time.perf_counter() - start) / steps
    if int(lmp.extract_setting("world_rank")) == 0:
        print(json.dumps({"wall_s": wall}))
    lmp.close()
""" % (TIMESTEP_FS,))  # noqa: UP031 (the script holds braces)


def _student(preset: str, dtype: str) -> StudentModel:
    torch.manual_seed(0)
    return StudentModel(StudentConfig.from_preset(preset, elements=["H", "O"], dtype=dtype)).eval()


def _box(n_molecules: int, seed: int = 0):
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    atoms = water_box(n_molecules, seed=seed)
    thermalize_momenta(atoms, 300.0, rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms


def _timed(run, warmup: int, steps: int) -> tuple[float, float]:
    """(wall s, CPU s) per step of ``run(n)`` advancing n steps."""
    run(warmup)
    wall, cpu = time.perf_counter(), time.process_time()
    run(steps)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def ase_step(student: StudentModel, atoms, warmup: int, steps: int) -> tuple[float, float]:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = StudentCalculator(student, compile=False)
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    return _timed(dyn.run, warmup, steps)


def torchsim_step(student: StudentModel, n_replicas: int, warmup: int,
                  steps: int) -> tuple[float, float]:
    from ase import units
    from torch_sim.integrators import nve

    from lesdistill.engines.torchsim import StudentTorchSimModel, state_from_atoms

    model = StudentTorchSimModel(student)
    starts = [_box(64, seed=k) for k in range(n_replicas)]
    dt = torch.tensor(TIMESTEP_FS * units.fs, dtype=student.dtype)
    init, update = nve(model, dt=dt, kT=torch.tensor(units.kB * 300.0, dtype=student.dtype))
    state = init(state_from_atoms(starts, model))
    state.momenta = torch.tensor(np.concatenate([a.get_momenta() for a in starts]),
                                 dtype=student.dtype)
    holder = [state]

    def run(n: int) -> None:
        for _ in range(n):
            holder[0] = update(holder[0], dt=dt)

    return _timed(run, warmup, steps)


def lammps_step(student: StudentModel, atoms, warmup: int, steps: int) -> tuple[float, float]:
    from lesdistill.engines.lammps import StudentFix, _create_system, new_lammps

    lmp = new_lammps()
    _create_system(lmp, atoms, list(student.elements), TIMESTEP_FS)
    StudentFix(lmp, StudentCalculator(student, compile=False), list(student.elements))
    lmp.command("fix integrate all nve")
    first = [True]

    def run(n: int) -> None:
        lmp.command(f"run {n}" + ("" if first[0] else " pre no post no"))
        first[0] = False

    try:
        return _timed(run, warmup, steps)
    finally:
        lmp.close()


def lammps_two_ranks(model_path: Path, atoms, warmup: int, steps: int, folder: Path,
                     mode: str) -> float | None:
    from ase.io import write

    if shutil.which("mpiexec") is None:
        return None
    structure = folder / f"start-{len(atoms)}.extxyz"
    write(structure, atoms)
    run = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-c", TWO_RANKS, str(model_path),
                          str(structure), str(warmup), str(steps), mode], capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        print(run.stderr[-2000:], file=sys.stderr)
        return None
    return float(json.loads(run.stdout.strip().splitlines()[-1])["wall_s"])


def _row(name: str, wall: float, cpu: float | None, per_step: int,
         reference: tuple[float, float] | None) -> str:
    """One table row; ``reference`` = ASE's (wall, CPU) s per step, None for the ASE row."""
    rate = per_step / wall
    cpu_text = f"{cpu * 1e3:9.1f}" if cpu is not None else f"{'-':>9}"
    if reference is None:
        ratios = f"{'1.00x':>9} {'1.00x':>9}"
    else:
        by_cpu = f"{per_step * reference[1] / cpu:8.2f}x" if cpu else f"{'-':>9}"
        ratios = f"{per_step * reference[0] / wall:8.2f}x {by_cpu}"
    return f"{name:<30} {wall * 1e3:10.1f} {cpu_text} {1.0 / wall:9.2f} {rate:15.2f} {ratios}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--replicas", default="1,8,32")
    parser.add_argument("--lammps-sizes", default="192,3000")
    parser.add_argument(
        "--lammps-modes",
        default="replicated,domain",
        help="2-rank runs: replicated (StudentFix) and/or domain (DomainStudentFix)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for the mpiexec ranks
    student = _student(args.preset, args.dtype)
    print(f"student preset {args.preset} ({args.dtype}), torch {torch.__version__}, "
          f"{args.threads} thread(s), {args.steps} timed steps after {args.warmup}; "
          f"load average {os.getloadavg()[0]:.1f}")
    header = (f"{'engine':<30} {'wall ms':>10} {'CPU ms':>9} {'steps/s':>9} "
              f"{'replica-steps/s':>15} {'vs ASE':>9} {'(CPU)':>9}")
    print("\n# torch-sim: replicas of 192 atoms (64 H2O), batched velocity Verlet")
    print(header)
    box = _box(64)
    wall, cpu = ase_step(student, box, args.warmup, args.steps)
    reference = (wall, cpu)
    print(_row("ASE, 1 box", wall, cpu, 1, None))
    for n in [int(x) for x in args.replicas.split(",") if x]:
        wall, cpu = torchsim_step(student, n, args.warmup, args.steps)
        print(_row(f"torch-sim, {n} replicas", wall, cpu, n, reference))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path = save_student(student, folder / "student.pt")
        for n_atoms in [int(x) for x in args.lammps_sizes.split(",") if x]:
            atoms = _box(n_atoms // 3)
            print(f"\n# LAMMPS (fix external) vs ASE, {len(atoms)} atoms")
            print(header)
            wall, cpu = ase_step(student, atoms, args.warmup, args.steps)
            reference = (wall, cpu)
            print(_row("ASE", wall, cpu, 1, None))
            wall, cpu = lammps_step(student, atoms, args.warmup, args.steps)
            print(_row("LAMMPS, 1 rank", wall, cpu, 1, reference))
            for mode in [m for m in args.lammps_modes.split(",") if m]:
                two = lammps_two_ranks(model_path, atoms, args.warmup, args.steps, folder, mode)
                name = f"LAMMPS, 2 ranks, {mode}"
                if two is None:
                    print(f"{name}: not run (no mpiexec or it failed)")
                else:
                    print(_row(name, two, None, 1, reference))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
