"""Is a student's MD physical enough to compare its IR spectrum and RDFs?

A weak student can heat up or collapse (atoms fusing) during MD; its spectrum is then
meaningless. Two checks on the stored trajectory:

* temperature: the mean production temperature (K) must be within
  ``max(temperature_tol_K, temperature_tol_frac * target)`` of the target;
* structure: for every element pair, the closest approach (Å, minimum image) in the last frames
  must not be shorter than ``distance_frac`` times the closest approach of that pair in the shared
  (teacher) frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lesdistill.md import load_trajectory


def closest_approach(positions: np.ndarray, cells: np.ndarray, numbers: np.ndarray,
                     pbc: Sequence[bool]) -> dict[str, float]:
    """Smallest distance (Å) per element pair "A-B" (A <= B alphabetically) over frames.

    positions: (F, N, 3) Å; cells: (F, 3, 3) Å; numbers: (N,); pbc: (3,) (minimum image)."""
    from ase import Atoms
    from ase.data import chemical_symbols

    symbols = np.array([chemical_symbols[z] for z in numbers])
    out: dict[str, float] = {}
    n = len(numbers)
    iu = np.triu_indices(n, 1)
    a_sym, b_sym = symbols[iu[0]], symbols[iu[1]]
    names = np.where(a_sym <= b_sym, np.char.add(np.char.add(a_sym, "-"), b_sym),
                     np.char.add(np.char.add(b_sym, "-"), a_sym))
    for pos, cell in zip(positions, cells, strict=True):
        atoms = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=pbc)
        d = atoms.get_all_distances(mic=bool(np.any(pbc)))[iu]
        for name in np.unique(names):
            value = float(d[names == name].min())
            out[str(name)] = min(out.get(str(name), np.inf), value)
    return out


def md_check(mean_temperature_K: float, target_K: float, student_min: dict[str, float],
             shared_min: dict[str, float], *, temperature_tol_K: float = 100.0,
             temperature_tol_frac: float = 0.35, distance_frac: float = 0.75) -> dict[str, Any]:
    """``{"stable": bool, "issues": [...]}`` from the checks of the module docstring."""
    issues = []
    tol = max(temperature_tol_K, temperature_tol_frac * target_K)
    if not np.isfinite(mean_temperature_K) or abs(mean_temperature_K - target_K) > tol:
        issues.append(f"mean temperature {mean_temperature_K:.0f} K, target {target_K:.0f} K")
    for pair, d_shared in sorted(shared_min.items()):
        d = student_min.get(pair)
        if d is not None and d < distance_frac * d_shared:
            issues.append(f"{pair} closest approach {d:.2f} Å (shared frames: {d_shared:.2f} Å)")
    return {"stable": not issues, "issues": issues, "mean_temperature_K": mean_temperature_K,
            "target_K": target_K, "closest_approach_A": student_min,
            "shared_closest_approach_A": shared_min}


def check_student_md(traj_dir: Any, shared_frames: Sequence[Any], target_K: float, *,
                     n_last: int = 20, n_shared: int = 20) -> dict[str, Any]:
    """:func:`md_check` of a student trajectory (lesdistill.md) against the shared frames, using
    the last ``n_last`` stored frames and up to ``n_shared`` shared frames (evenly spaced)."""
    from pathlib import Path

    traj = load_trajectory(Path(traj_dir))
    summary = Path(traj_dir) / "summary.json"
    mean_t = float("nan")
    if summary.is_file():
        import json

        mean_t = float(json.loads(summary.read_text(encoding="utf-8")).get("mean_temperature_K",
                                                                          float("nan")))
    last = slice(max(0, traj.n_frames - n_last), traj.n_frames)
    cells = np.broadcast_to(np.asarray(traj.cell), (traj.n_frames, 3, 3))
    student = closest_approach(traj.positions[last], cells[last], traj.numbers, traj.pbc)
    pick = np.unique(np.linspace(0, len(shared_frames) - 1, min(n_shared, len(shared_frames)))
                     .round().astype(int))
    frames = [shared_frames[i] for i in pick]
    shared = closest_approach(np.stack([f.positions for f in frames]),
                              np.stack([np.asarray(f.cell) for f in frames]),
                              frames[0].numbers, frames[0].pbc)
    return md_check(mean_t, target_K, student, shared)
