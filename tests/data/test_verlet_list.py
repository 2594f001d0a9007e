"""Verlet-skin neighbour list: exactly the pairs of a fresh list, rebuilt only when needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesdistill.data.neighbors import VerletNeighborList, neighbor_list, within_cutoff


def _pairs(i, j, shifts) -> set[tuple[int, ...]]:
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, shifts)}


@pytest.mark.parametrize("pbc", [True, False, [True, True, False]])
def test_skin_list_gives_the_fresh_pairs(pbc):
    rng = np.random.default_rng(0)
    cell = np.diag([7.0, 7.5, 8.0])
    positions = rng.uniform(0, 7, size=(40, 3))
    cutoff, skin = 3.0, 0.8
    verlet = VerletNeighborList(cutoff, skin)
    rebuilds = 0
    for step in range(40):
        positions = positions + rng.normal(scale=0.05, size=positions.shape)
        (i, j, shifts), rebuilt = verlet.candidates(positions, cell, pbc)
        rebuilds += rebuilt
        keep = within_cutoff(
            torch.tensor(np.stack([i, j])),
            torch.tensor(shifts, dtype=torch.float64),
            torch.tensor(positions),
            torch.tensor(cell),
            cutoff,
        ).numpy()
        fresh = _pairs(*neighbor_list(positions, cell, pbc, cutoff))
        assert _pairs(i[keep], j[keep], shifts[keep]) == fresh, step
    assert 1 < rebuilds < 40 and verlet.n_builds == rebuilds


def test_rebuild_triggers():
    rng = np.random.default_rng(1)
    cell = np.eye(3) * 6.0
    positions = rng.uniform(0, 6, size=(10, 3))
    verlet = VerletNeighborList(2.5, skin=1.0)
    assert verlet.candidates(positions, cell, True)[1]
    moved = positions.copy()
    moved[3, 0] += 0.49
    assert not verlet.candidates(moved, cell, True)[1]
    moved[3, 0] += 0.02  # 0.51 Å > skin / 2 from the reference
    assert verlet.candidates(moved, cell, True)[1]
    assert verlet.candidates(moved, cell * 1.01, True)[1]  # new cell
    assert verlet.candidates(moved, cell * 1.01, [True, True, False])[1]  # new pbc
    moved[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        verlet.candidates(moved, cell * 1.01, [True, True, False])
    with pytest.raises(ValueError, match="skin"):
        VerletNeighborList(2.5, skin=-1.0)
