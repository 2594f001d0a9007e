"""Explosion guards for MD (teacher sampling and spectra MD): NaN, runaway temperature, overlapping
atoms."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from lesdistill.errors import UnstableDynamicsError


class SamplingAborted(UnstableDynamicsError):
    """Teacher MD became unphysical; frames labelled before the problem are kept."""


def check_md_state(atoms: Atoms, target_K: float, step: int, *, max_factor: float = 3.0,
                   min_distance_A: float = 0.5, check_overlap: bool = False) -> None:
    """Raise :class:`SamplingAborted` naming the problem if the MD state is unphysical.

    Checks: finite positions and momenta; instantaneous temperature below
    ``max(max_factor * target_K, target_K + 1000 K)``; (if ``check_overlap``) no pair of atoms
    closer than ``min_distance_A`` (Å, minimum image).
    """
    if not (np.all(np.isfinite(atoms.positions)) and np.all(np.isfinite(atoms.get_momenta()))):
        raise SamplingAborted(f"MD produced NaN/inf positions or velocities at step {step}")
    temperature = float(atoms.get_temperature())
    limit = max(max_factor * target_K, target_K + 1000.0)
    if not np.isfinite(temperature) or temperature > limit:
        raise SamplingAborted(
            f"MD temperature {temperature:.0f} K at step {step} is far above the target "
            f"{target_K:.0f} K (limit {limit:.0f} K)"
        )
    if check_overlap:
        d_min = min_pair_distance(atoms, min_distance_A)
        if d_min < min_distance_A:
            raise SamplingAborted(
                f"atoms overlap at step {step}: closest pair {d_min:.3f} A < {min_distance_A} A"
            )


def min_pair_distance(atoms: Atoms, cutoff: float) -> float:
    """Smallest interatomic distance (Å, minimum image) if below ``cutoff``, else ``cutoff``."""
    from vesin import NeighborList

    if len(atoms) < 2:
        return cutoff
    periodic = bool(atoms.pbc.all())
    box = atoms.cell.array if periodic else np.zeros((3, 3))
    (d,) = NeighborList(cutoff=cutoff, full_list=False).compute(
        np.asarray(atoms.positions, dtype=float), np.asarray(box, dtype=float), periodic,
        quantities="d")
    return float(d.min()) if len(d) else cutoff
