"""AtomicBatch and vesin neighbour lists: agreement with ASE, batching, dtype/device, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from lesdistill import keys
from lesdistill.data.batch import AtomicBatch
from lesdistill.data.neighbors import neighbor_list


def _random_atoms(n: int, cell, pbc, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, dtype=float)
    frac = rng.uniform(0.0, 1.0, (n, 3))
    positions = frac @ cell if np.any(cell) else rng.uniform(0.0, 5.0, (n, 3))
    symbols = rng.choice(["H", "O", "Na"], size=n)
    return Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=pbc)


def _pair_set(i, j, shifts) -> set[tuple[int, int, int, int, int]]:
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, shifts)}


@pytest.mark.parametrize(
    "cell,pbc",
    [
        (
            [[4.0, 0.0, 0.0], [1.0, 4.5, 0.0], [0.5, 0.7, 5.0]],
            True,
        ),  # triclinic, smaller than cutoff
        ([[9.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 12.0]], [True, True, False]),  # slab
        (np.zeros((3, 3)), False),  # open
    ],
)
def test_neighbor_list_matches_ase(cell, pbc):
    atoms = _random_atoms(14, cell, pbc, seed=3)
    cutoff = 4.2
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    ai, aj, ashifts = ase_neighbor_list("ijS", atoms, cutoff)
    assert _pair_set(i, j, shifts) == _pair_set(ai, aj, ashifts)
    assert np.all(np.diff(i) >= 0)  # sorted by centre atom
    vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
    distances = np.linalg.norm(vectors, axis=1)
    assert distances.max() < cutoff and distances.min() > 0.0


def test_neighbor_list_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        neighbor_list(np.array([[0.0, 0.0, np.nan]]), None, False, 3.0)
    with pytest.raises(ValueError, match="lattice vector 2 is zero"):
        neighbor_list(np.zeros((2, 3)), np.diag([3.0, 3.0, 0.0]), True, 3.0)
    with pytest.raises(ValueError, match="cutoff"):
        neighbor_list(np.zeros((2, 3)), None, False, -1.0)


def test_batch_fields_and_collate():
    periodic = _random_atoms(10, np.diag([6.0, 6.5, 7.0]), True, seed=1)
    periodic.info[keys.TOTAL_CHARGE] = -1.0
    open_ = _random_atoms(5, np.zeros((3, 3)), False, seed=2)
    cutoff = 3.5
    batch = AtomicBatch.from_atoms([periodic, open_], cutoff)
    single = [AtomicBatch.from_atoms([a], cutoff) for a in (periodic, open_)]
    assert batch.num_structures == 2 and batch.num_atoms == 15
    assert batch.n_atoms.tolist() == [10, 5]
    assert batch.batch.tolist() == [0] * 10 + [1] * 5
    assert batch.total_charge.tolist() == [-1.0, 0.0]
    assert batch.pbc.tolist() == [[True] * 3, [False] * 3]
    assert batch.cell.shape == (2, 3, 3)
    n0 = single[0].edge_index.shape[1]
    assert torch.equal(batch.edge_index[:, :n0], single[0].edge_index)
    assert torch.equal(batch.edge_index[:, n0:], single[1].edge_index + 10)
    # edge vectors rebuilt from the batch equal the minimum-image pair vectors and are < cutoff
    i, j = batch.edge_index
    vec = (
        batch.positions[j]
        - batch.positions[i]
        + torch.einsum("ek,ekl->el", batch.shifts, batch.cell[batch.batch[i]])
    )
    assert float(vec.norm(dim=1).max()) < cutoff
    collated = AtomicBatch.collate(single)
    for name in ("positions", "edge_index", "shifts", "batch", "numbers"):
        assert torch.equal(getattr(collated, name), getattr(batch, name))


def test_to_casts_floats_only():
    batch = AtomicBatch.from_atoms(_random_atoms(6, np.diag([5.0] * 3), True, seed=4), 3.0)
    assert batch.positions.dtype == torch.float64
    b32 = batch.to("cpu", torch.float32)
    assert b32.positions.dtype == torch.float32 and b32.cell.dtype == torch.float32
    assert b32.shifts.dtype == torch.float32 and b32.total_charge.dtype == torch.float32
    assert b32.numbers.dtype == torch.int64 and b32.edge_index.dtype == torch.int64
    assert b32.pbc.dtype == torch.bool
    assert b32.dtype == torch.float32 and b32.device == torch.device("cpu")


def test_bad_structures():
    with pytest.raises(ValueError, match="empty"):
        AtomicBatch.from_atoms([], 3.0)
    bad = _random_atoms(3, np.diag([5.0] * 3), True, seed=8)
    bad.positions[1, 0] = np.nan
    with pytest.raises(ValueError, match="structure 0: positions contain NaN"):
        AtomicBatch.from_atoms([bad], 3.0)
    with pytest.raises(TypeError, match="expected ase.Atoms"):
        AtomicBatch.from_atoms([np.zeros((3, 3))], 3.0)  # type: ignore[list-item]
