"""Student MD speed of two versions of lesdistill, side by side in one run, with a result check.

Two worker processes import lesdistill from two source trees (the working tree and a git
revision checked out into a temporary directory with ``git archive``); their timed blocks are
interleaved round by round, each timed by the worker's own process CPU time (robust on a busy
shared machine with one thread) and wall time. Same seeded student weights (float32) and the
same water box (lesdistill.systems.water_box) in both. Tasks, each per call or per MD step:

- ``ef``: one velocity-Verlet MD step through StudentCalculator (what ASE MD asks: forces);
- ``current``: one dipole current (StudentCalculator.get_dipole_current) at a new geometry;
- ``spectra``: spectra MD with lesdistill.md.run_md (NVE, forces every step, frame with the
  dipole current every ``--stride`` steps), per step.

The check runs the same 20 velocity-Verlet steps of 0.5 fs in both versions and prints the
largest force and dipole-current differences (float32 round-off expected).

    python benchmarks/compare_versions.py --baseline REV [--preset small] [--molecules 64]
        [--rounds 5] [--steps 10] [--stride 5] [--tasks ef,current,spectra] [--new-kwargs JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time, tempfile
import numpy as np, torch
torch.set_num_threads(1)
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from lesdistill.calculator import StudentCalculator
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems import water_box

args = json.loads(sys.argv[1])
config = StudentConfig.from_preset(args["preset"], elements=["H", "O"], dtype="float32", seed=0)
model = StudentModel(config).eval()
kwargs = args.get("kwargs", {})

def fresh_atoms(seed=0):
    atoms = water_box(n_molecules=args["molecules"], seed=0)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(seed))
    Stationary(atoms)
    return atoms

atoms = fresh_atoms()
atoms.calc = StudentCalculator(model, **kwargs)
dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
cur_atoms = fresh_atoms(1)
cur_atoms.calc = StudentCalculator(model, **kwargs)
ref = cur_atoms.positions.copy()
rng = np.random.default_rng(2)
spectra_atoms = fresh_atoms(3)
spectra_atoms.calc = StudentCalculator(model, **kwargs)

def run(task, n):
    if task == "ef":
        for _ in range(n):
            dyn.run(1)
    elif task == "current":
        for _ in range(n):
            cur_atoms.positions = ref + rng.normal(scale=1e-3, size=ref.shape)
            cur_atoms.calc.get_dipole_current(cur_atoms)
    elif task == "spectra":
        from lesdistill.md.driver import run_md
        with tempfile.TemporaryDirectory() as out:
            run_md(spectra_atoms, out + "/md", temperature_K=300.0, timestep_fs=0.5, n_equil=0,
                   n_steps=n, stride=args["stride"], progress=False, guard_min_distance_A=None)
    else:
        raise ValueError(task)

def check():
    a = fresh_atoms(7)
    calc = StudentCalculator(model, **kwargs)
    a.calc = calc
    d = VelocityVerlet(a, timestep=0.5 * units.fs)
    forces, currents = [], []
    for step in range(20):
        if hasattr(calc, "retain_response_graph"):
            calc.retain_response_graph = True
        d.run(1)
        forces.append(a.get_forces().tolist())
        currents.append(calc.get_dipole_current(a).tolist())
    return {"forces": forces, "currents": currents}

for _ in ("ef", "current"):
    run(_, 1)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["task"] == "check":
        print(json.dumps(check()), flush=True)
        continue
    c0, w0 = time.process_time(), time.perf_counter()
    run(cmd["task"], cmd["n"])
    c1, w1 = time.process_time(), time.perf_counter()
    per_call = {"cpu_ms": (c1 - c0) / cmd["n"] * 1e3, "wall_ms": (w1 - w0) / cmd["n"] * 1e3}
    print(json.dumps(per_call), flush=True)
"""


def _checkout(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


class Worker:
    def __init__(self, src: Path, args: dict, script: str = WORKER) -> None:
        env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(args)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask(None)

    def ask(self, cmd: dict | None) -> dict:
        if cmd is not None:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("benchmark worker died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision of the old code")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--molecules", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="calls or MD steps per timed block")
    parser.add_argument("--stride", type=int, default=5, help="MD steps per stored frame (spectra)")
    parser.add_argument("--tasks", default="ef,current,spectra")
    parser.add_argument(
        "--new-kwargs", default="{}", help="StudentCalculator kwargs of the new code (JSON)"
    )
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    common = {"preset": args.preset, "molecules": args.molecules, "stride": args.stride}
    with tempfile.TemporaryDirectory() as tmp:
        old_src = _checkout(args.baseline, Path(tmp))
        old = Worker(old_src, common)
        new = Worker(ROOT / "src", {**common, "kwargs": json.loads(args.new_kwargs)})
        times: dict[tuple[str, str], list[dict]] = {
            (w, t): [] for w in ("old", "new") for t in tasks
        }
        for _ in range(args.rounds):
            for task in tasks:
                for name, worker in (("old", old), ("new", new)):
                    times[(name, task)].append(worker.ask({"task": task, "n": args.steps}))
        check_old, check_new = old.ask({"task": "check"}), new.ask({"task": "check"})
        old.close()
        new.close()
    import numpy as np

    print(f"{args.preset}, {3 * args.molecules} atoms, 1 thread, median of {args.rounds} rounds x "
          f"{args.steps}; baseline {args.baseline}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'task':>9} {'old ms':>9} {'new ms':>9} {'old/new':>8} {'(wall)':>8}")
    for task in tasks:
        row = {}
        for name in ("old", "new"):
            row[name] = {
                c: statistics.median(s[c] for s in times[(name, task)])
                for c in ("cpu_ms", "wall_ms")
            }
        ratio = row["old"]["cpu_ms"] / row["new"]["cpu_ms"]
        wall = row["old"]["wall_ms"] / row["new"]["wall_ms"]
        print(
            f"{task:>9} {row['old']['cpu_ms']:9.2f} "
            f"{row['new']['cpu_ms']:9.2f} {ratio:8.2f} "
            f"{wall:8.2f}"
        )
    f_old, f_new = np.array(check_old["forces"]), np.array(check_new["forces"])
    c_old, c_new = np.array(check_old["currents"]), np.array(check_new["currents"])
    print(
        f"check over 20 MD steps: max |dF| {np.abs(f_old - f_new).max():.2e} eV/Å "
        f"(max |F| {np.abs(f_old).max():.2f}), max |d dM/dt| "
        f"{np.abs(c_old - c_new).max():.2e} e Å/fs "
        f"(max |dM/dt| {np.abs(c_old).max():.2e})"
    )


if __name__ == "__main__":
    main()
