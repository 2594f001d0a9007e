"""Student MD throughput on a GPU (or the CPU): steps/s, ns/day, the LES share and peak memory.

For water boxes of about 192, 3k, 25k and 100k atoms (``--sizes``; a 64- or 1000-molecule
lesdistill.systems.water_box, repeated along the cell vectors for the large ones) it runs
velocity-Verlet MD (ASE, 0.5 fs) with StudentCalculator on ``--device`` (float32, untrained
weights of ``--preset``: timing does not depend on the weights) and prints

- MD steps/s and ns/day (wall time of ``--steps`` steps after ``--warmup`` steps, synchronised
  with the device before each clock read);
- the LES share: time of the long-range energy + gradients (lesdistill.les.energy with the
  model's sigma/dl/method, random charges) over the MD step time;
- the dipole current per call relative to a step: at a new geometry (its own forward pass),
  and "kept", from the forward graph of that step's forces (what spectra MD does in the steps
  that store a frame; the extra time over a step);
- peak memory: torch.cuda.max_memory_allocated on CUDA, the process's peak RSS on CPU.

``--compile`` compiles the backbone (StudentCalculator(compile=True)); the one-off compilation
is not timed.

    python benchmarks/gpu_throughput.py [--device cuda] [--sizes 192 3000 25000 100000]
        [--preset small] [--steps 20] [--warmup 3] [--compile]
    python benchmarks/gpu_throughput.py --device cpu --sizes 192 1536   # quick CPU check
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import time

import numpy as np
import torch

from lesdistill.calculator import StudentCalculator
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems import water_box

BASE_ATOMS = 3000  # 1000 molecules: the tile of the large boxes


def water_of_size(n_target: int):
    """A periodic water box with about ``n_target`` atoms (exact for multiples of 3 up to 3000)."""
    if n_target <= BASE_ATOMS:
        return water_box(n_molecules=max(1, round(n_target / 3)), seed=0)
    reps = min((r for r in itertools.product(range(1, 9), repeat=3) if max(r) <= 2 * min(r)),
               key=lambda r: abs(BASE_ATOMS * r[0] * r[1] * r[2] - n_target))
    return water_box(n_molecules=BASE_ATOMS // 3, seed=0).repeat(reps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 3000, 25000, 100000])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from lesdistill.les import energy as les_energy

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = StudentConfig.from_preset(args.preset, elements=["H", "O"], dtype="float32")
    model = StudentModel(config).eval().to(device)
    print(
        f"torch {torch.__version__}, device {device}"
        + (
            f" ({torch.cuda.get_device_name(device)})"
            if device.type == "cuda"
            else f", {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}"
        )
        + f"; preset {args.preset}, float32, LES method {config.les_method}, {args.steps} steps of "
        f"{args.timestep} fs after {args.warmup}"
    )
    header = (f"{'atoms':>7} {'ms/step':>9} {'steps/s':>8} {'ns/day':>7} {'LES %':>6} "
              f"{'dM/dt / step':>12} {'kept':>5} {'peak MB':>8}")
    print(header)
    print("-" * len(header))
    for n_target in args.sizes:
        atoms = water_of_size(n_target)
        MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(0))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        calc = StudentCalculator(model, device=str(device), compile=bool(args.compile))
        atoms.calc = calc
        dyn = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
        dyn.run(args.warmup)
        _sync(device)
        start = time.perf_counter()
        dyn.run(args.steps)
        _sync(device)
        step_s = (time.perf_counter() - start) / args.steps
        # the dipole current at a new geometry (as stored per spectra-MD frame without reuse)
        calls = max(1, min(5, args.steps // 4))
        calc.get_dipole_current(atoms)  # warm-up (first backward passes of this size)
        start = time.perf_counter()
        for _ in range(calls):
            atoms.positions = atoms.positions + 1e-4
            calc.get_dipole_current(atoms)
        _sync(device)
        current_s = (time.perf_counter() - start) / calls
        # a spectra-MD step that stores a frame: forces keeping the graph, dM/dt from it
        start = time.perf_counter()
        for _ in range(calls):
            calc.retain_response_graph = True
            atoms.positions = atoms.positions + 1e-4
            atoms.get_forces()
            calc.get_dipole_current(atoms)
        _sync(device)
        calc.retain_response_graph = False
        kept_s = (time.perf_counter() - start) / calls - step_s
        # the LES part: energy + gradients w.r.t. charges, positions and cell
        kw = {"dtype": model.dtype, "device": device}
        rng = np.random.default_rng(1)
        q = torch.tensor(rng.normal(scale=0.5, size=len(atoms)), **kw, requires_grad=True)
        r = torch.tensor(atoms.positions, **kw, requires_grad=True)
        cell = torch.tensor(atoms.cell.array, **kw)
        for _ in range(2):
            e = les_energy(
                q, r, cell, sigma=config.les_sigma, dl=config.les_dl, method=config.les_method
            )
            torch.autograd.grad(e, [q, r])
        _sync(device)
        start = time.perf_counter()
        for _ in range(calls):
            e = les_energy(
                q, r, cell, sigma=config.les_sigma, dl=config.les_dl, method=config.les_method
            )
            torch.autograd.grad(e, [q, r])
        _sync(device)
        les_s = (time.perf_counter() - start) / calls
        steps_per_s = 1.0 / step_s
        ns_per_day = steps_per_s * args.timestep * 86400 * 1e-6
        print(f"{len(atoms):7d} {step_s * 1e3:9.1f} {steps_per_s:8.2f} {ns_per_day:7.3f} "
              f"{100 * les_s / step_s:6.1f} {current_s / step_s:12.2f} {kept_s / step_s:5.2f} "
              f"{_peak_memory_mb(device):8.0f}")


if __name__ == "__main__":
    main()
