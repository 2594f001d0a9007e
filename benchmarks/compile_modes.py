"""torch.compile modes for a student's backbone, side by side in one process.

One student (untrained, seeded float32 weights) per mode, each behind its own StudentCalculator
with the backbone compiled (``lesdistill.model.compiled.CompiledForward``, whose default is
``torch.compile(dynamic=True)``), energy+forces calls on a water box interleaved round by round
and timed by process CPU time (one thread); the first call (compilation) is reported apart.
The force difference of each mode against the default is printed.

    python benchmarks/compile_modes.py [--preset small] [--molecules 64]
        [--modes max-autotune-no-cudagraphs] [--calls 30]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import lesdistill.model.compiled as compiled
from lesdistill.calculator import StudentCalculator
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems import water_box


def _student(preset: str, molecules: int, mode: str):
    model = StudentModel(StudentConfig.from_preset(preset, elements=["H", "O"], dtype="float32",
                                                   seed=0)).eval()
    real = torch.compile
    if mode != "default":
        compiled.torch.compile = (  # type: ignore[assignment]
            lambda fn, dynamic=True: real(fn, dynamic=dynamic, mode=mode))
    try:
        atoms = water_box(n_molecules=molecules, seed=0)
        atoms.calc = StudentCalculator(model, compile=True)
        start = time.perf_counter()
        atoms.get_forces()
        first = time.perf_counter() - start
    finally:
        compiled.torch.compile = real  # type: ignore[assignment]
    return atoms, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--molecules", type=int, default=64)
    parser.add_argument("--modes", default="max-autotune-no-cudagraphs",
                        help="comma-separated torch.compile modes besides the default")
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    modes = ["default"] + [m for m in args.modes.split(",") if m]
    runs = {m: _student(args.preset, args.molecules, m) for m in modes}
    reference = runs["default"][0].positions.copy()
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for k in range(args.calls + 3):
        shifted = reference + rng.normal(scale=1e-3, size=reference.shape)
        for m in modes:
            atoms = runs[m][0]
            atoms.positions = shifted
            start = time.process_time()
            atoms.get_forces()
            if k >= 3:
                times[m].append(time.process_time() - start)
    forces = {}
    for m in modes:
        runs[m][0].positions = reference
        forces[m] = runs[m][0].get_forces()
    base = float(np.median(times["default"]))
    print(f"{args.preset}, {3 * args.molecules} atoms, 1 thread, CPU time, median of "
          f"{args.calls} interleaved calls; load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':<30}{'first call s':>13}{'ms E+F':>9}{'default/mode':>14}{'max |dF| eV/Å':>15}")
    for m in modes:
        med = float(np.median(times[m]))
        diff = float(np.abs(forces[m] - forces["default"]).max())
        print(f"{m:<30}{runs[m][1]:>13.1f}{1e3 * med:>9.2f}{base / med:>14.3f}{diff:>15.2e}")


if __name__ == "__main__":
    main()
