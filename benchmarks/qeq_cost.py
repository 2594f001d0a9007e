"""Cost of the charge-equilibration student against the plain latent-charge head, side by side.

For water boxes of 192 and 12288 atoms (lesdistill.systems.water_box) it builds two untrained
students that differ only in ``charge_model`` ("latent" vs "qeq"; same preset, float32, seed) and
times one energy+forces call through StudentCalculator (neighbour list included, as in MD) for
each, calls interleaved, median over repeats, process CPU time (robust on a shared machine with
--threads 1). The Qeq solver is the student's default "auto": dense at 192 atoms, conjugate
gradients on PME products at 12288, each call starting from the charges of the previous call
(the student's warm start; every timed call moves the atoms by ~1e-3 Å, like an MD step). Also
printed: the number of CG products of one such warm-started call.

    python benchmarks/qeq_cost.py [--preset tiny] [--sizes 192 12288] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lesdistill.calculator import StudentCalculator
from lesdistill.les import qeq as qeq_module
from lesdistill.model import StudentConfig, StudentModel
from lesdistill.systems import water_box


def _student(preset: str, charge_model: str) -> StudentModel:
    config = StudentConfig.from_preset(
        preset, elements=["H", "O"], charge_model=charge_model, seed=0
    )
    return StudentModel(config).eval()


def _timer(model: StudentModel, atoms, rng: np.random.Generator):
    atoms = atoms.copy()
    atoms.calc = StudentCalculator(model, compile=False)
    reference = atoms.positions.copy()

    def call() -> float:
        atoms.positions = reference + rng.normal(scale=1e-3, size=reference.shape)
        start = time.process_time()
        atoms.get_forces()
        return time.process_time() - start

    return call


def _count_iterations(model: StudentModel, atoms) -> int:
    """H v products of one warm-started Qeq call (0 for the dense solver)."""
    count = [0]
    original = qeq_module._les_matvec

    def counting(*args, **kwargs):
        matvec = original(*args, **kwargs)

        def wrapped(v):
            count[0] += 1
            return matvec(v)

        return wrapped

    qeq_module._les_matvec = counting
    try:
        a = atoms.copy()
        a.positions += np.random.default_rng(1).normal(scale=1e-3, size=a.positions.shape)
        a.calc = StudentCalculator(model, compile=False)
        a.get_potential_energy()
    finally:
        qeq_module._les_matvec = original
    return count[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 12288])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    plain, qeq = _student(args.preset, "latent"), _student(args.preset, "qeq")
    print(f"preset {args.preset}, float32, {args.threads} thread(s), CPU ms per energy+forces call "
          f"(median of {args.repeats})")
    print("| atoms | plain head | Qeq | Qeq / plain | Qeq solver | CG products |")
    print("|---|---|---|---|---|---|")
    for n_atoms in args.sizes:
        atoms = water_box(n_atoms // 3, seed=0)
        timers = {"plain": _timer(plain, atoms, rng), "qeq": _timer(qeq, atoms, rng)}
        for call in timers.values():  # warm-up (k-vectors, PME mesh, neighbour list)
            call()
        samples: dict[str, list[float]] = {k: [] for k in timers}
        for _ in range(args.repeats):
            for name, call in timers.items():
                samples[name].append(call())
        ms = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
        solver = "dense" if n_atoms <= qeq_module.DENSE_MAX_ATOMS else "cg"
        iterations = _count_iterations(qeq, atoms) if solver == "cg" else 0
        print(
            f"| {len(atoms)} | {ms['plain']:.1f} | {ms['qeq']:.1f} | {ms['qeq'] / ms['plain']:.2f} "
            f"| {solver} | {iterations or '-'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
