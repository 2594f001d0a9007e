"""Born effective charges (BEC): per-atom tensors of structures or trajectory frames, a summary
per element, and the acoustic sum rule (ASR).

Z*_i,ab = dP_a / dr_ib in e (``born_effective_charges`` of an ASE calculator, shape (N, 3, 3)).
For a cell of total charge Q, translating every atom moves the polarization by Q times the
displacement, so sum_i Z*_i = Q I (the ASR; Q = 0 for neutral cells). A learned model breaks it
slightly; the standard correction subtracts the violation equally from every atom:
Z*_i <- Z*_i - (sum_j Z*_j - Q I) / N.
Files: extxyz with a per-atom array ``bec`` (N, 9), row-major Z[i].reshape(9)
(:data:`lesdistill.keys.BEC_ARRAY`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesdistill import keys
from lesdistill.errors import UserInputError
from lesdistill.progress import progress_bar


def compute_bec(atoms: Any, calc: Any = None) -> np.ndarray:
    """(N, 3, 3) BEC of one structure, e (from ``calc`` or the attached calculator)."""
    calc = calc if calc is not None else atoms.calc
    if calc is None:
        raise UserInputError("no calculator to compute Born effective charges; pass --model")
    if keys.BEC not in getattr(calc, "implemented_properties", ()):
        raise UserInputError(f"calculator {type(calc).__name__} does not provide {keys.BEC}")
    atoms.calc = calc
    bec = np.asarray(calc.get_property(keys.BEC, atoms), dtype=float)
    if bec.shape != (len(atoms), 3, 3) or not np.all(np.isfinite(bec)):
        raise UserInputError(f"calculator returned invalid BEC of shape {bec.shape}")
    return bec


def bec_of_frames(frames: Sequence[Any], calc: Any, *, progress: bool = False) -> np.ndarray:
    """(B, N, 3, 3) BEC of each structure in ``frames`` (e)."""
    return np.stack([compute_bec(atoms, calc)
                     for atoms in progress_bar(frames, enabled=progress, desc="BEC", unit="frame")])


def bec_of_trajectory(traj: Any, calc: Any, *, every: int = 1,
                      progress: bool = False) -> tuple[list[Any], np.ndarray]:
    """Frames 0, every, 2*every, ... of a :class:`~lesdistill.md.Trajectory` and their BEC."""
    if every < 1:
        raise UserInputError(f"every must be >= 1, got {every}")
    frames = [traj.to_atoms(i) for i in range(0, traj.n_frames, every)]
    return frames, bec_of_frames(frames, calc, progress=progress)


def subtract_mean_bec(bec: np.ndarray, total_charge: float = 0.0) -> np.ndarray:
    """ASR correction: Z_i - (sum_j Z_j - Q I) / N for every frame; bec (N,3,3) or (B,N,3,3)."""
    bec = np.asarray(bec, dtype=float)
    violation = bec.sum(axis=-3, keepdims=True) - total_charge * np.eye(3)
    return bec - violation / bec.shape[-3]


@dataclass(frozen=True)
class ElementBEC:
    symbol: str
    count: int  # atoms of this element per frame
    mean_diagonal: np.ndarray  # (3,) <Z_xx>, <Z_yy>, <Z_zz>, e
    mean_trace3: float  # <tr Z / 3>, e
    std_trace3: float  # spread of tr Z / 3 over atoms and frames, e
    mean_tensor: np.ndarray  # (3, 3) e


@dataclass(frozen=True)
class BECSummary:
    elements: list[ElementBEC]
    asr_sum: np.ndarray  # (3, 3) frame mean of sum_i Z_i - Q I, e
    asr_violation: float  # frame mean of ||sum_i Z_i - Q I||_F, e
    n_frames: int
    n_atoms: int
    corrected: bool

    def text(self) -> str:
        lines = [f"BEC summary ({self.n_frames} frame(s), {self.n_atoms} atoms; e)"
                 + (" after ASR correction" if self.corrected else ""),
                 f"{'element':8s} {'n':>5s} {'<Zxx>':>8s} {'<Zyy>':>8s} {'<Zzz>':>8s} "
                 f"{'<trZ/3>':>8s} {'std':>7s}"]
        for e in self.elements:
            d = e.mean_diagonal
            lines.append(f"{e.symbol:8s} {e.count:5d} {d[0]:8.3f} {d[1]:8.3f} {d[2]:8.3f} "
                         f"{e.mean_trace3:8.3f} {e.std_trace3:7.3f}")
        lines.append(f"acoustic sum rule: ||sum_i Z_i - Q I||_F = {self.asr_violation:.4f} e "
                     f"({self.asr_violation / self.n_atoms:.2e} e per atom)"
                     + ("" if self.corrected else "; correct with --correct-asr"))
        return "\n".join(lines)


def bec_summary(numbers: np.ndarray, bec: np.ndarray, *, total_charge: float = 0.0,
                corrected: bool = False) -> BECSummary:
    """Per-element statistics and ASR violation of BEC (N,3,3) or (B,N,3,3) for ``numbers``."""
    from ase.data import chemical_symbols

    bec = np.asarray(bec, dtype=float)
    bec = bec[None] if bec.ndim == 3 else bec
    numbers = np.asarray(numbers, dtype=int)
    if bec.shape[1:] != (len(numbers), 3, 3):
        raise UserInputError(f"BEC shape {bec.shape} does not match {len(numbers)} atoms")
    trace3 = np.trace(bec, axis1=-2, axis2=-1) / 3.0
    elements = []
    for z in sorted(set(numbers.tolist())):
        sel = bec[:, numbers == z]
        elements.append(ElementBEC(
            symbol=chemical_symbols[z], count=int((numbers == z).sum()),
            mean_diagonal=np.diagonal(sel, axis1=-2, axis2=-1).reshape(-1, 3).mean(axis=0),
            mean_trace3=float(trace3[:, numbers == z].mean()),
            std_trace3=float(trace3[:, numbers == z].std()),
            mean_tensor=sel.reshape(-1, 3, 3).mean(axis=0)))
    violation = bec.sum(axis=1) - total_charge * np.eye(3)
    return BECSummary(elements=elements, asr_sum=violation.mean(axis=0),
                      asr_violation=float(np.linalg.norm(violation, axis=(1, 2)).mean()),
                      n_frames=bec.shape[0], n_atoms=len(numbers), corrected=corrected)


def write_bec_extxyz(path: str | Path, frames: Sequence[Any], bec: np.ndarray) -> Path:
    """Write frames with a per-atom ``bec`` (N, 9) array to extxyz, atomically."""
    from lesdistill.data.frames import write_frames

    bec = np.asarray(bec, dtype=float)
    out = []
    for atoms, z in zip(frames, bec, strict=True):
        copy = atoms.copy()
        copy.calc = None
        copy.arrays[keys.BEC_ARRAY] = z.reshape(len(copy), 9)
        out.append(copy)
    return write_frames(path, out)


def read_bec_extxyz(path: str | Path) -> tuple[list[Any], np.ndarray | None]:
    """Frames of an extxyz/structure file and their stored BEC (None if not stored)."""
    from lesdistill.data.frames import read_frames

    frames = read_frames(path, what="structure file")
    if all(keys.BEC_ARRAY in atoms.arrays for atoms in frames):
        return frames, np.stack([atoms.arrays[keys.BEC_ARRAY].reshape(-1, 3, 3)
                                 for atoms in frames])
    return frames, None


def diagonals_by_element(bec: np.ndarray, numbers: np.ndarray) -> dict[str, np.ndarray]:
    """All diagonal components Z_xx, Z_yy, Z_zz (e) per element symbol, pooled over frames
    (for histograms); bec (B, N, 3, 3) or (N, 3, 3), numbers (N,)."""
    from ase.data import chemical_symbols

    z = np.asarray(bec, float).reshape(-1, len(numbers), 3, 3)
    out = {}
    for num in sorted(set(np.asarray(numbers).tolist())):
        mask = np.asarray(numbers) == num
        out[chemical_symbols[num]] = np.diagonal(z[:, mask], axis1=-2, axis2=-1).ravel()
    return out
