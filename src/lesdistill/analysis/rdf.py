"""Radial distribution functions g_ab(r) of periodic MD trajectories (e.g. O-O, O-H of water).

    g_ab(r) = V / (N_a N_b) * < n_ab(r, r+dr) > / (4/3 pi ((r+dr)^3 - r^3))

with n_ab the number of ordered (a, b) pairs at distance in the shell (all periodic images but
no atom with itself, from a vesin neighbour list, so any cell shape and any r_max work), V the
cell volume (Å^3), and < > the average over frames. Distances in Å. The density N_b / V counts
periodic images, so crystal coordination numbers are exact; an ideal gas of one species gives
g = (N - 1) / N (the same finite-size factor for any two trajectories of one system).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lesdistill.errors import UserInputError

__all__ = ["RDF", "compare_rdf_sources", "compare_rdfs", "matching_frames", "radial_distribution",
           "rdf_from_atoms", "rdf_pairs"]


@dataclass(frozen=True)
class RDF:
    """g(r) on bin centres ``r_A`` (Å) for the pair ``(a, b)`` of element symbols."""

    pair: tuple[str, str]
    r_A: np.ndarray  # (n_bins,) bin centres, Å
    g: np.ndarray  # (n_bins,)
    n_frames: int

    def first_peak(self) -> tuple[float, float]:
        """Position (Å) and height of the highest maximum of g(r)."""
        i = int(np.argmax(self.g))
        return float(self.r_A[i]), float(self.g[i])

    def to_dict(self) -> dict:
        pos, height = self.first_peak()
        return {"pair": "-".join(self.pair), "r_A": self.r_A.tolist(), "g": self.g.tolist(),
                "n_frames": self.n_frames, "peak_r_A": pos, "peak_g": height}


def _symbols_to_numbers(pair: tuple[str, str]) -> tuple[int, int]:
    from ase.data import atomic_numbers

    out = []
    for sym in pair:
        if sym not in atomic_numbers:
            raise UserInputError(
                f"unknown element {sym!r} in RDF pair {pair}; use symbols like 'O', 'H'"
            )
        out.append(atomic_numbers[sym])
    return out[0], out[1]


def radial_distribution(positions: np.ndarray, cells: np.ndarray, numbers: np.ndarray,
                        pair: tuple[str, str], *, r_max_A: float = 6.0,
                        n_bins: int = 120) -> RDF:
    """g_ab(r) averaged over frames.

    positions: (F, N, 3) Å; cells: (3, 3) or (F, 3, 3) Å (rows are lattice vectors, periodic in
    all three directions); numbers: (N,) atomic numbers; pair: element symbols, e.g. ("O", "H").
    """
    from vesin import NeighborList

    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 2:
        pos = pos[None]
    if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[0] == 0:
        raise UserInputError(f"positions must have shape (frames, atoms, 3), got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise UserInputError("positions contain NaN or inf; the trajectory is broken")
    cell = np.asarray(cells, dtype=np.float64)
    cell = np.broadcast_to(cell, (pos.shape[0], 3, 3)) if cell.shape == (3, 3) else cell
    if cell.shape != (pos.shape[0], 3, 3):
        raise UserInputError(
            f"cells must have shape (3, 3) or ({pos.shape[0]}, 3, 3), got {cell.shape}"
        )
    nums = np.asarray(numbers)
    if nums.shape != (pos.shape[1],):
        raise UserInputError(f"numbers must have shape ({pos.shape[1]},), got {nums.shape}")
    if r_max_A <= 0 or n_bins < 1:
        raise UserInputError(f"need r_max_A > 0 and n_bins >= 1, got {r_max_A}, {n_bins}")
    za, zb = _symbols_to_numbers(pair)
    is_a, is_b = nums == za, nums == zb
    n_a, n_b = int(is_a.sum()), int(is_b.sum())
    if n_a == 0 or n_b == 0:
        raise UserInputError(f"the structure has no {'-'.join(pair)} pairs (elements missing)")
    edges = np.linspace(0.0, r_max_A, n_bins + 1)
    weighted = np.zeros(n_bins)  # sum over frames of counts * V / (N_a N_b)
    nl = NeighborList(cutoff=r_max_A, full_list=True)
    for frame, box in zip(pos, cell, strict=True):
        volume = abs(float(np.linalg.det(box)))
        if volume < 1e-9:
            raise UserInputError("the cell has zero volume; an RDF needs a periodic cell")
        i, j, d = nl.compute(points=frame, box=box, periodic=True, quantities="ijd")
        keep = is_a[i] & is_b[j]
        weighted += np.histogram(d[keep], bins=edges)[0] * (volume / (n_a * n_b))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = weighted / (pos.shape[0] * shell)
    return RDF(pair=(pair[0], pair[1]), r_A=0.5 * (edges[1:] + edges[:-1]), g=g,
               n_frames=pos.shape[0])


def rdf_from_atoms(frames: Sequence, pair: tuple[str, str], **kwargs) -> RDF:
    """g_ab(r) of a list of periodic ``ase.Atoms`` with the same atoms in the same order."""
    if len(frames) == 0:
        raise UserInputError("no frames given for the RDF")
    first = frames[0]
    if not all(first.pbc):
        raise UserInputError("an RDF needs a cell periodic in x, y and z (pbc=True)")
    numbers = first.numbers
    for k, atoms in enumerate(frames):
        if len(atoms) != len(numbers) or not np.array_equal(atoms.numbers, numbers):
            raise UserInputError(
                f"frame {k} has different atoms than frame 0; cannot average an RDF"
            )
    pos = np.stack([a.positions for a in frames])
    cells = np.stack([np.asarray(a.cell) for a in frames])
    return radial_distribution(pos, cells, numbers, pair, **kwargs)


def compare_rdfs(reference: RDF, other: RDF) -> dict[str, float]:
    """Numbers comparing two RDFs on the same grid: peak shifts and the mean |g1 - g2|."""
    if reference.r_A.shape != other.r_A.shape or not np.allclose(reference.r_A, other.r_A):
        raise UserInputError(
            "the two RDFs are on different r grids; use the same r_max_A and n_bins"
        )
    (r1, h1), (r2, h2) = reference.first_peak(), other.first_peak()
    return {"peak_shift_A": r2 - r1, "peak_height_ratio": h2 / h1 if h1 else float("nan"),
            "mean_abs_diff": float(np.mean(np.abs(reference.g - other.g)))}


def rdf_pairs(symbols: set[str]) -> list[tuple[str, str]]:
    """The element pairs worth comparing: O-O and O-H for aqueous systems (plus Cl-O and Ti-O
    when present), else the first element with itself."""
    pairs = [p for p in (("O", "O"), ("O", "H"), ("Cl", "O"), ("Ti", "O"))
             if p[0] in symbols and p[1] in symbols]
    if not pairs:
        first = sorted(symbols)[0]
        pairs = [(first, first)]
    return pairs


def matching_frames(n_frames: int, n_wanted: int, *, frame_dt_fs: float, target_dt_fs: float,
                    start: int = 0) -> np.ndarray:
    """Indices of at most ``n_wanted`` frames of a trajectory of ``n_frames`` frames
    ``frame_dt_fs`` apart, from frame ``start`` on, spaced as close to ``target_dt_fs`` as the
    trajectory allows (every round(target / frame) frames, at least every frame): a student run
    aligned with a teacher segment of ``n_wanted`` frames, same count and time span."""
    step = max(1, int(round(target_dt_fs / frame_dt_fs)))
    return np.arange(start, n_frames, step)[:n_wanted]


def compare_rdf_sources(sources: Mapping[str, tuple[np.ndarray, np.ndarray]],
                        numbers: np.ndarray, *, reference: str = "teacher",
                        r_max_A: float = 6.0, n_bins: int = 120) -> dict[str, Any]:
    """RDFs of several runs of one system, each against ``reference``, for :func:`rdf_pairs`.

    sources: name -> (positions (F, N, 3) Å, cells (F, 3, 3) Å); numbers: (N,) atomic numbers.
    Returns {"r_A", "pairs": {"O-O": {source: g}}, "compare": {"O-O, source": {teacher and
    student first peak position (Å) and height, :func:`compare_rdfs`}}} (JSON-ready)."""
    from ase.data import chemical_symbols

    symbols = {chemical_symbols[int(z)] for z in np.asarray(numbers)}
    result: dict[str, Any] = {"pairs": {}, "compare": {}}
    for pair in rdf_pairs(symbols):
        name = "-".join(pair)
        curves = {src: radial_distribution(pos, cell, numbers, pair, r_max_A=r_max_A,
                                           n_bins=n_bins)
                  for src, (pos, cell) in sources.items()}
        ref = curves[reference]
        result["r_A"] = ref.r_A.tolist()
        result["pairs"][name] = {src: g.g.tolist() for src, g in curves.items()}
        for src, g in curves.items():
            if src != reference:
                result["compare"][f"{name}, {src}"] = {
                    "teacher_peak_A": ref.first_peak()[0], "student_peak_A": g.first_peak()[0],
                    "teacher_peak_g": ref.first_peak()[1], "student_peak_g": g.first_peak()[1],
                    **compare_rdfs(ref, g)}
    return result
