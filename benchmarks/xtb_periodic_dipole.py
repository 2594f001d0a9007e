"""Is a teacher's dipole in a periodic cell a polarization? Finite-difference BECs of one frame
with the cell faces in two places.

tblite's GFN-xTB dipole of a periodic cell is sum_i q_i r_i (Mulliken charges, plus atomic
dipoles) over positions wrapped into the cell. A rigid translation of the frame moves the cell
faces relative to the atoms and leaves every physical Z_i unchanged; if the finite-difference
BECs change, the teacher's periodic dipole is not a polarization and cannot serve as a reference.
Both placements put the faces in empty slabs between atoms (no atom crosses a face during a
displacement; ``lesdistill.compare.reference.away_from_faces``): the widest gap, and a gap a
quarter cell or more from it. The frame: ``--molecules`` H2O (``water`` builder, seed 0),
positions jittered by 0.05 Å (seed 0), periodic.

    OMP_NUM_THREADS=1 python benchmarks/xtb_periodic_dipole.py [--teacher xtb-gfn1] [--molecules 16]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lesdistill.compare.reference import _fd_bec_of, away_from_faces
from lesdistill.systems import build
from lesdistill.teachers import get_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="xtb-gfn1")
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--displacement", type=float, default=0.01, help="Å")
    args = parser.parse_args()
    atoms = build("water", n_molecules=args.molecules, seed=0)
    atoms.positions += np.random.default_rng(0).normal(scale=0.05, size=atoms.positions.shape)
    atoms.wrap()
    calc = get_teacher(args.teacher).calculator
    start = time.perf_counter()
    z = {}
    for name, second in (("widest gap", False), ("second gap", True)):
        work = away_from_faces(atoms, second=second)
        work.calc = calc
        z[name] = _fd_bec_of(work, list(range(len(atoms))), args.displacement, False)
    seconds = time.perf_counter() - start
    a, b = z["widest gap"], z["second gap"]
    diff = np.abs(a - b)
    per_atom = diff.max(axis=(1, 2))
    h = atoms.numbers == 1

    def trace(t: np.ndarray, mask: np.ndarray) -> float:
        return float((np.trace(t, axis1=1, axis2=2) / 3)[mask].mean())

    out = {
        "teacher": args.teacher, "atoms": len(atoms),
        "cell_A": atoms.cell.lengths().round(3).tolist(),
        "per placement": {k: {"trace_H_e": trace(v, h), "trace_O_e": trace(v, ~h),
                              "sum_rule_norm_e": float(np.linalg.norm(v.sum(axis=0)))}
                          for k, v in z.items()},
        "difference": {"mae_e": float(diff.mean()), "rmse_e": float(np.sqrt((diff ** 2).mean())),
                       "max_e": float(diff.max()),
                       "atoms_over_0.05_e": int((per_atom > 0.05).sum()),
                       "atoms_over_0.2_e": int((per_atom > 0.2).sum())},
        "spread of the components (std, e)": float(a.std()),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
