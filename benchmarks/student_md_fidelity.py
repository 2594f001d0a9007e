"""Is a water student faithful where it runs? Teacher vs student on the teacher's frames and on
frames of the student's own MD.

For each frame set (``--teacher-frames``: the teacher's labelled MD frames; ``--student-frames``:
configurations of the student's MD, e.g. ``refine/student_md.extxyz`` or frames written from a
``lesdistill md`` trajectory) it prints, for every student given:

* the force MAE against the teacher (meV/Å, the teacher is called on every frame);
* the O-H stretch curvature ratio student / teacher: k = -dF_H.u/dx for an H displaced along its
  O-H bond u by +-0.01 Å (central differences; ``--n-h`` H atoms per frame, seeded), whose square
  root is the ratio of the local stretch frequencies;
* the mean O-H bond length and the mean distance from each H to its second-nearest O (the
  hydrogen-bond partner), Å, minimum image.

Example (the numbers in ``benchmarks/README.md``)::

    python benchmarks/student_md_fidelity.py --teacher chgnet \\
        --teacher-frames demo/sample/test.extxyz --student-frames student_md.extxyz \\
        --student demo/train/best.pt --n-frames 3 --n-h 6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _bonds(atoms) -> tuple[float, float]:
    """Mean O-H bond length and mean H...O(second nearest) distance (Å)."""
    import numpy as np
    from ase.geometry import get_distances

    z = atoms.numbers
    _, d = get_distances(atoms.positions[z == 1], atoms.positions[z == 8], cell=atoms.cell,
                         pbc=atoms.pbc)
    s = np.sort(d, axis=1)
    return float(s[:, 0].mean()), float(s[:, 1].mean())


def _curvatures(atoms, calc, hydrogens, delta: float = 0.01) -> list[float]:
    """k = -(F(+d) - F(-d)).u / 2d (eV/Å^2) along the O-H bond of each H in ``hydrogens``."""
    import numpy as np

    oxygens = np.flatnonzero(atoms.numbers == 8)
    out = []
    for h in hydrogens:
        v = atoms.get_distances(h, oxygens, mic=True, vector=True)
        u = -v[np.argmin(np.linalg.norm(v, axis=1))]
        u /= np.linalg.norm(u)
        f = []
        for sign in (1.0, -1.0):
            moved = atoms.copy()
            moved.positions[h] += sign * delta * u
            moved.calc = calc
            f.append(float(moved.get_forces()[h] @ u))
        out.append(-(f[0] - f[1]) / (2 * delta))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", default="chgnet")
    ap.add_argument("--teacher-frames", type=Path, required=True)
    ap.add_argument("--student-frames", type=Path, required=True)
    ap.add_argument("--student", type=Path, action="append", required=True,
                    help="student checkpoint (repeatable)")
    ap.add_argument("--n-frames", type=int, default=3, help="frames per set (evenly spaced)")
    ap.add_argument("--n-h", type=int, default=6, help="H atoms per frame for the curvature")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from ase.io import read

    from lesdistill import StudentCalculator
    from lesdistill.teachers import get_teacher

    torch.set_num_threads(1)
    teacher = get_teacher(args.teacher).calculator
    students = {str(p): StudentCalculator(str(p), device="cpu") for p in args.student}
    rng = np.random.default_rng(args.seed)
    print(f"{'frames':9s} {'model':40s} {'F MAE meV/A':>11s} {'k ratio':>13s} "
          f"{'O-H A':>7s} {'H..O A':>7s}")
    for label, path in (("teacher", args.teacher_frames), ("student", args.student_frames)):
        frames = read(path, index=":")
        picks = np.unique(np.linspace(0, len(frames) - 1, args.n_frames).round().astype(int))
        rows: dict[str, dict[str, list[float]]] = {}
        geometry = np.array([_bonds(frames[i]) for i in picks])
        for i in picks:
            atoms = frames[i].copy()
            hydrogens = rng.choice(np.flatnonzero(atoms.numbers == 1), args.n_h, replace=False)
            atoms.calc = teacher
            f_teacher = atoms.get_forces().copy()
            k_teacher = np.array(_curvatures(atoms, teacher, hydrogens))
            for name, calc in students.items():
                work = frames[i].copy()
                work.calc = calc
                r = rows.setdefault(name, {"mae": [], "ratio": []})
                r["mae"].append(1000 * float(np.abs(work.get_forces() - f_teacher).mean()))
                k = np.array(_curvatures(work, calc, hydrogens))
                r["ratio"].extend((k / k_teacher).tolist())
        for name, r in rows.items():
            ratio = np.array(r["ratio"])
            print(f"{label:9s} {name[-40:]:40s} {np.mean(r['mae']):11.1f} "
                  f"{ratio.mean():6.3f}+-{ratio.std():.3f} {geometry[:, 0].mean():7.4f} "
                  f"{geometry[:, 1].mean():7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
