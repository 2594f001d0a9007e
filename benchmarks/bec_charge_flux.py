"""Which part of a student's BEC carries its error: the static latent charges or the charge flux?

A LES student's Born effective charge is Z*_i,ab = q_i delta_ab + sum_j r_j,a dq_j/dr_i,b (times
sqrt(eps_inf)): the static charges plus the charge flux. This scores, against per-atom reference
tensors (e.g. the ``reference_fd.extxyz`` that ``lesdistill bec-benchmark --fd-teacher`` writes,
or the DFT frames), with the benchmark's own code (:mod:`lesdistill.analysis.bec_benchmark`):

* the full autograd BEC of the student;
* its static part q_i I alone (the calculator's charges, sqrt(eps_inf) q);
* the per-element isotropic constant fitted to the reference (the yardstick).

Example::

    python benchmarks/bec_charge_flux.py --student train/best.pt \
        --reference bench/reference_fd.extxyz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", type=Path, required=True)
    ap.add_argument("--reference", type=Path, required=True, help="extxyz with per-atom BECs")
    ap.add_argument("--array", default="BEC", help="reference array name (9 columns, row-major)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from ase.io import read

    from lesdistill import StudentCalculator
    from lesdistill.analysis.bec_benchmark import benchmark, format_benchmark
    from lesdistill.analysis.bec_files import student_becs

    torch.set_num_threads(1)
    frames = read(args.reference, index=":")
    ref = np.concatenate([f.arrays[args.array].reshape(-1, 3, 3) for f in frames])
    symbols = [s for f in frames for s in f.get_chemical_symbols()]
    calc = StudentCalculator(str(args.student), device="cpu")
    full = student_becs(calc, frames)
    static = []
    for frame in frames:
        work = frame.copy()
        work.calc = calc
        static.append(work.get_charges()[:, None, None] * np.eye(3))
    result = benchmark({"student (full BEC)": full,
                        "student static q_i I only": np.concatenate(static)}, ref, symbols)
    print(format_benchmark(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
